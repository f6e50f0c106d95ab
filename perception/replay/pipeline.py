"""One replay: a source through sync and the detector into the sinks, and its summary.

Writes into ``out``: ``detections.mcap`` (input topics + boxes) and its Foxglove layout, ``results.json`` (when
the source has sample tokens), ``replay.mp4`` and ``replay.rrd`` (optional) and ``summary.json`` (latency
percentiles, dropped/skipped/corrupt frames, damaged recording chunks skipped).

``out`` is checked before any work (a file, a read-only folder or a full disk is one error naming it). A run
writes into a hidden staging folder inside ``out`` and moves its outputs into place as a set only when it
completes, so a failed run leaves the previous run's outputs as they were; the results of the keyframes it had
done are kept in ``out/results.partial.jsonl`` and named in the error.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from calib.atomic import atomic_write_bytes, check_writable_folder, remove_stale_temps, temp_prefix
from perception.errors import USER_ERRORS, DataError
from perception.inference import Detector
from perception.inference.optimize import inference_threads
from perception.replay.foxglove_layout import layout_path
from perception.replay.jobs import decode_jobs
from perception.replay.rerun_sink import RerunSink
from perception.replay.runner import ReplayOptions, run_jobs
from perception.replay.sinks import McapSink, ResultsSink, VideoSink
from perception.replay.sync import DEFAULT_TOLERANCE_MS, Synchronizer
from perception.replay.topics import TopicMap
from perception.replay.transforms import TransformBuffer

MCAP_NAME, RESULTS_NAME, VIDEO_NAME, SUMMARY_NAME = "detections.mcap", "results.json", "replay.mp4", "summary.json"
RRD_NAME, LAYOUT_NAME = "replay.rrd", layout_path(MCAP_NAME).name
PARTIAL_RESULTS_NAME = "results.partial.jsonl"
OUTPUT_NAMES = (MCAP_NAME, LAYOUT_NAME, RESULTS_NAME, VIDEO_NAME, RRD_NAME, PARTIAL_RESULTS_NAME,
                SUMMARY_NAME)  # moved in this order


@dataclass
class ReplaySettings:
    rate: float = 0.0                 # 1.0: recording time, 0: as fast as possible
    tolerance_ms: float = DEFAULT_TOLERANCE_MS  # the farthest a camera image may be from its sweep
    keyframes_only: bool = False      # only sweeps with a sample token get detections
    video: bool = False
    rrd: bool = False                 # also write a Rerun recording of the drive
    progress: bool = True


def replay(source, topics: TopicMap, detector: Detector, out: str | Path, settings: ReplaySettings) -> dict:
    """Replay ``source`` (a ``NuScenesSource`` or ``McapSource``) through the detector into ``out``; return the
    summary."""
    out = check_writable_folder(out)
    remove_stale_temps(out)
    staging = Path(tempfile.mkdtemp(dir=out, prefix=temp_prefix("replay"), suffix=".tmp"))
    results = ResultsSink(staging / RESULTS_NAME, detector.config.camera.enabled, detector.config.lidar.enabled)
    threads = torch.get_num_threads()
    if detector.device.type == "cpu":  # the model on all cores but one; the pipeline's other stages get the last
        torch.set_num_threads(inference_threads())
    try:
        summary = replay_into(staging, out, source, topics, detector, settings, results)
        publish_outputs(staging, out)
        return summary
    except BaseException as error:
        if not results.results or not results.partial_path.exists():  # no keyframe done, or failed after closing
            raise
        os.replace(results.partial_path, out / PARTIAL_RESULTS_NAME)
        note = f"the results of the {len(results.results)} keyframes done are kept in {out / PARTIAL_RESULTS_NAME}"
        if isinstance(error, (OSError, *USER_ERRORS)):
            raise one_line_error(error, note) from error
        error.add_note(note)  # a bug keeps its traceback
        raise
    finally:
        torch.set_num_threads(threads)
        shutil.rmtree(staging, ignore_errors=True)


def replay_into(staging: Path, out: Path, source, topics: TopicMap, detector: Detector, settings: ReplaySettings,
                results: ResultsSink) -> dict:
    """Run the replay writing its outputs into ``staging``; the summary names them at their place in ``out``."""
    config = detector.config
    synchronizer = Synchronizer(TransformBuffer(topics.world_frame, topics.ego_frame), config.lidar.num_sweeps,
                                round(settings.tolerance_ms * 1e6), settings.keyframes_only)
    sinks = [McapSink(staging / MCAP_NAME, topics, source.metadata), results]
    if settings.video:
        sinks.append(VideoSink(staging / VIDEO_NAME))
    if settings.rrd:
        sinks.append(RerunSink(staging / RRD_NAME))
    start = time.perf_counter()
    stats = run_jobs(decode_jobs(source, synchronizer), detector, sinks,
                     ReplayOptions(settings.rate, settings.progress, source.expected_frames))
    summary = {"scene": source.scene_name, "device": str(detector.device), "rate": settings.rate,
               "sweeps": "keyframes" if settings.keyframes_only else "all", "tolerance_ms": settings.tolerance_ms,
               **stats.summary(time.perf_counter() - start),
               "truncated": source.truncation.as_dict() if source.truncation else None,
               "skipped_chunks": [chunk.as_dict() for chunk in source.skipped_chunks],
               "outputs": {"mcap": str(out / MCAP_NAME),
                           "results": str(out / RESULTS_NAME) if results.results else None,
                           "video": str(out / VIDEO_NAME) if settings.video else None,
                           "rrd": str(out / RRD_NAME) if settings.rrd else None}}
    atomic_write_bytes(staging / SUMMARY_NAME, json.dumps(summary, indent=1).encode())
    return summary


def publish_outputs(staging: Path, out: Path) -> None:
    """Move a completed run's outputs from ``staging`` into ``out`` (the summary last) and delete the outputs of an
    earlier run that this one did not write (e.g. its video), so ``out`` holds one run's set."""
    for name in OUTPUT_NAMES:
        if (staging / name).exists():
            os.replace(staging / name, out / name)
        else:
            (out / name).unlink(missing_ok=True)


def one_line_error(error: Exception, note: str) -> DataError:
    """A user's error (or an OSError) with ``note`` added, as the one-line ``DataError`` the CLI prints."""
    if isinstance(error, OSError):
        return DataError(f"{error.strerror or error}; {note}", error.filename)
    if isinstance(error, DataError):
        return DataError(f"{error.reason}; {note}", error.path)
    return DataError(f"{error}; {note}")
