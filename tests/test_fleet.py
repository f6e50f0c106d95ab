"""A fleet of recordings on a local 2-worker Ray cluster: merged results, a failing recording, re-runs."""
import importlib.util
import json
import sys
from pathlib import Path

import pytest

from perception.errors import MissingExtra
from perception.replay.cli import add_replay_arguments, add_to_mcap_arguments, run_replay, run_to_mcap
from perception.replay.fleet import Recording, find_recordings
from tests.test_replay import SYNTH_VERSION, assert_same_results, parse, replay_mcap, results_of

ROOT = Path(__file__).resolve().parents[1]
needs_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                               reason="Ray is the optional 'fleet' extra: pip install -e '.[fleet]'")


@pytest.fixture(scope="module")
def cluster():
    """A local Ray cluster of two CPUs whose workers import this checkout."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}})
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def recordings(synth_root, tmp_path_factory):
    """Both synthetic scenes as MCAP recordings in one folder."""
    folder = tmp_path_factory.mktemp("fleet_recordings")
    for scene in ("synth-0007-0000", "synth-0007-0001"):
        run_to_mcap(parse(add_to_mcap_arguments, "--dataroot", synth_root, "--version", SYNTH_VERSION, "--scene",
                          scene, "--out", folder / f"{scene}.mcap"))
    return folder


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    from tests.test_detect import write_tiny_weights

    return write_tiny_weights(tmp_path_factory.mktemp("fleet_weights"))


def replay_fleet(paths, weights, out) -> dict:
    return run_replay(parse(add_replay_arguments, "--recordings", *paths, "--workers", 2, "--detect-on",
                            "keyframes", "--checkpoint", weights, "--out", out, "--device", "cpu"))


@needs_ray
def test_fleet_results_equal_single_process_replays(cluster, recordings, weights, tmp_path):
    expected = {}
    for recording in sorted(recordings.glob("*.mcap")):
        replay_mcap(recording, weights, tmp_path / "single" / recording.stem)
        expected |= results_of(tmp_path / "single" / recording.stem)
    summary = replay_fleet([recordings], weights, tmp_path / "fleet")
    assert [row["status"] for row in summary["recordings"]] == ["replayed", "replayed"]
    assert summary["totals"]["frames"] == 6 and summary["totals"]["failed"] == 0
    assert_same_results(results_of(tmp_path / "fleet"), expected)
    assert json.loads((tmp_path / "fleet" / "fleet.json").read_text()) == summary

    again = replay_fleet([recordings], weights, tmp_path / "fleet")  # complete outputs are not replayed again
    assert [row["status"] for row in again["recordings"]] == ["done before", "done before"]
    assert_same_results(results_of(tmp_path / "fleet"), expected)


@needs_ray
def test_a_corrupt_recording_fails_alone(cluster, recordings, weights, tmp_path):
    broken = tmp_path / "broken.mcap"
    broken.write_bytes(bytes(range(256)) * 4)  # not an MCAP file: its task fails
    good = recordings / "synth-0007-0001.mcap"
    summary = replay_fleet([broken, good], weights, tmp_path / "fleet")
    failed, replayed = summary["recordings"]
    assert failed["status"] == "failed" and "DataError" in failed["error"] and "frames" not in failed
    assert replayed["status"] == "replayed" and replayed["frames"] == 3
    assert summary["totals"] == {"recordings": 2, "finished": 1, "failed": 1, "frames": 3, "faults": 0,
                                 "results": str(tmp_path / "fleet" / "results.json")}
    assert len(results_of(tmp_path / "fleet")) == 3
    assert not (tmp_path / "fleet" / "broken" / "summary.json").exists()


def test_recordings_are_found_in_files_datasets_and_folders(synth_root, recordings):
    scenes = [Recording(synth_root, scene, SYNTH_VERSION) for scene in ("synth-0007-0000", "synth-0007-0001")]
    assert find_recordings([synth_root]) == scenes
    mcaps = sorted(recordings.glob("*.mcap"))
    assert find_recordings([recordings, mcaps[0]]) == [Recording(path) for path in mcaps]


def test_without_ray_the_fleet_says_how_to_install_it(recordings, weights, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # an import of ray now fails as if it were not installed
    with pytest.raises(MissingExtra, match=r"pip install -e '\.\[fleet\]'"):
        replay_fleet([recordings], weights, tmp_path / "fleet")
