"""A fleet of recordings replayed on Ray: one task per recording, one output folder each, a fleet summary and one
merged results file.

``find_recordings`` turns paths into recordings: an MCAP file, a nuScenes-format dataset root (each of its scenes is
a recording) or a folder holding either. ``replay_fleet`` runs one Ray task per recording on a local cluster of
``workers`` CPUs, or on the cluster at ``ray_address``; a task takes one GPU (and detects on it) when the cluster
has GPUs. A recording whose folder already holds a complete replay (``summary.json`` and every output it names) is
not replayed again; a recording that fails is reported with its error and the others finish. Paths and weights
must be readable from every node (a shared file system on a multi-node cluster).

Ray is an optional extra (``pip install -e '.[fleet]'`` or ``tools/setup.sh --fleet``), imported only here.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from calib.atomic import atomic_write_bytes
from perception.data.nuscenes import NuScenesDataset, versions_in
from perception.data.results import read_results, write_results
from perception.errors import DataError, MissingExtra
from perception.replay.pipeline import RESULTS_NAME, SUMMARY_NAME, ReplaySettings, replay
from perception.replay.topics import load_topic_map

FLEET_SUMMARY_NAME = "fleet.json"


@dataclass(frozen=True)
class Recording:
    """One drive to replay: an MCAP file (``scene`` empty) or a scene of a nuScenes-format dataset root."""

    path: Path
    scene: str = ""
    version: str = ""

    @property
    def name(self) -> str:
        """Its output folder's name: the MCAP file's stem, or the scene's name."""
        return self.scene or self.path.stem


@dataclass
class FleetOptions:
    checkpoint: str = "demo"
    topics: Path | None = None          # topic map YAML (default: nuscenes2mcap's names)
    detect_on: str | None = None        # keyframes | all (default: keyframes for nuScenes, all for MCAP)
    settings: ReplaySettings | None = None  # rate, tolerance, video (keyframes_only is set per recording)
    workers: int = 2                    # CPUs of the local cluster (ignored with ray_address)
    ray_address: str | None = None      # an existing cluster, e.g. "ray://head:10001" or "auto"
    eager: bool = False


def find_recordings(paths: list[Path]) -> list[Recording]:
    """The recordings under ``paths``, in order, each once; a path holding none is a ``DataError``."""
    found: list[Recording] = []
    for path in map(Path, paths):
        recordings = recordings_in(path)
        if not recordings:
            raise DataError("no MCAP recording or nuScenes-format dataset here", path)
        found += [r for r in recordings if r not in found]
    names = [r.name for r in found]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise DataError(f"several recordings would share the output folder(s) {', '.join(duplicates)}; "
                        "replay them in separate runs")
    return found


def recordings_in(path: Path) -> list[Recording]:
    """An MCAP file; the scenes of a dataset root; or, for another folder, the recordings of its entries."""
    if path.is_file():
        return [Recording(path)] if path.suffix == ".mcap" else []
    if not path.is_dir():
        raise DataError("does not exist", path)
    if versions_in(path):
        return [Recording(path, scene, version) for version in versions_in(path)
                for scene in NuScenesDataset(path, version).scene_names()]
    return [r for entry in sorted(path.iterdir()) if entry.suffix == ".mcap" or entry.is_dir()
            for r in recordings_in(entry)]


def is_complete(out: Path) -> bool:
    """Whether ``out`` holds a finished replay: its summary and every output file the summary names."""
    summary = out / SUMMARY_NAME
    if not summary.is_file():
        return False
    outputs = json.loads(summary.read_text()).get("outputs", {})
    return all(Path(path).is_file() for path in outputs.values() if path)


def replay_recording(recording: Recording, out: Path, options: FleetOptions, device: str) -> dict:
    """Replay one recording into ``out`` (in a Ray task, or anywhere); its summary."""
    from dataclasses import replace

    from perception.inference import load_detector
    from perception.replay.mcap_source import McapSource
    from perception.replay.nuscenes_source import NuScenesSource

    topics = load_topic_map(options.topics)
    detector = load_detector(options.checkpoint, device, optimize=not options.eager)
    keyframes_only = (options.detect_on or ("keyframes" if recording.scene else "all")) == "keyframes"
    if recording.scene:
        source = NuScenesSource(NuScenesDataset(recording.path, recording.version), recording.scene, topics,
                                keyframes_only, detector.config.lidar.num_sweeps)
    else:
        source = McapSource(recording.path, topics)
    settings = replace(options.settings or ReplaySettings(), keyframes_only=keyframes_only, progress=False)
    return replay(source, topics, detector, out, settings)


def row_of(recording: Recording, out: Path, summary: dict | None, status: str, error: str = "") -> dict:
    """The fleet summary's line for one recording."""
    row = {"recording": str(recording.path), "scene": recording.scene or None, "out": str(out), "status": status}
    if summary is not None:
        row |= {"frames": summary["frames"]["detected"], "fps": summary["throughput_fps"],
                "faults": summary["faults"]["corrupt"] + summary["faults"]["unreadable"]}
    return row | ({"error": error} if error else {})


def import_ray():
    try:
        import ray
    except ImportError:
        raise MissingExtra("replaying a fleet of recordings needs Ray: pip install -e '.[fleet]' "
                           "(or tools/setup.sh --fleet)") from None
    return ray


def start_ray(ray, options: FleetOptions) -> None:
    """Connect to ``options.ray_address``, or start a local cluster of ``options.workers`` CPUs."""
    if ray.is_initialized():
        return
    if options.ray_address:
        ray.init(address=options.ray_address, log_to_driver=False)
    else:
        ray.init(num_cpus=options.workers, include_dashboard=False, log_to_driver=False)


def replay_fleet(paths: list[Path], out: Path, options: FleetOptions) -> dict:
    """Replay every recording under ``paths`` into ``out/<name>/`` on Ray; write ``out/fleet.json`` and the merged
    ``out/results.json``; return the fleet summary."""
    recordings = find_recordings(paths)
    ray = import_ray()
    start_ray(ray, options)
    gpus = ray.cluster_resources().get("GPU", 0) > 0
    task = ray.remote(num_gpus=1 if gpus else 0, num_cpus=0 if gpus else 1, max_retries=0)(replay_recording)
    rows, pending = {}, {}
    for recording in recordings:
        folder = out / recording.name
        if is_complete(folder):
            rows[recording] = row_of(recording, folder, json.loads((folder / SUMMARY_NAME).read_text()), "done before")
        else:
            pending[task.remote(recording, folder, options, "cuda" if gpus else "cpu")] = recording
    while pending:
        [ready], _ = ray.wait(list(pending), num_returns=1)
        recording = pending.pop(ready)
        try:
            rows[recording] = row_of(recording, out / recording.name, ray.get(ready), "replayed")
        except Exception as error:  # a Ray task error: reported, the other recordings go on
            rows[recording] = row_of(recording, out / recording.name, None, "failed", task_error(error))
    return write_fleet_outputs([rows[r] for r in recordings], out)


def task_error(error: Exception) -> str:
    """The last line of a failed task's error: its exception type and message, without Ray's traceback."""
    cause = getattr(error, "cause", None)
    if cause is not None:
        return f"{type(cause).__name__}: {cause}"
    return str(error).strip().splitlines()[-1]


def write_fleet_outputs(rows: list[dict], out: Path) -> dict:
    """The fleet summary (per recording, and totals) in ``out/fleet.json``, and every finished recording's results
    merged into ``out/results.json`` (when any has results)."""
    results, meta = {}, None
    for row in rows:
        path = Path(row["out"]) / RESULTS_NAME
        if row["status"] != "failed" and path.is_file():
            document = read_results(path)
            results |= document["results"]
            meta = meta or document["meta"]
    if results:
        write_results(out / RESULTS_NAME, results, meta["use_camera"], meta["use_lidar"])
    finished = [row for row in rows if row["status"] != "failed"]
    summary = {"recordings": rows, "totals": {
        "recordings": len(rows), "finished": len(finished), "failed": len(rows) - len(finished),
        "frames": sum(row["frames"] for row in finished), "faults": sum(row["faults"] for row in finished),
        "results": str(out / RESULTS_NAME) if results else None}}
    atomic_write_bytes(out / FLEET_SUMMARY_NAME, json.dumps(summary, indent=1).encode())
    return summary
