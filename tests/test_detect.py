"""Running a checkpoint: one-frame detection, and evaluation of a split per modality through the devkit."""
import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from perception.cli import main
from perception.errors import DataError
from perception.models.detector import FusionDetector
from perception.inference.weights import load_checkpoint
from perception.train.checkpoint import export_weights, save_checkpoint
from perception.typed_config import to_dict
from tests.model_configs import tiny_config


def write_tiny_weights(tmp_path, config=None):
    config = config or tiny_config()
    save_checkpoint(tmp_path / "run", 3, 0, FusionDetector(config), to_dict(config), list(config.classes))
    return export_weights(tmp_path / "run", tmp_path / "weights" / "tiny")


def test_export_keeps_only_the_model(tmp_path):
    weights = write_tiny_weights(tmp_path)
    meta, tensors = load_checkpoint(weights)
    assert meta["step"] == 3 and meta["exported_from"] == "ckpt-00000003.json"
    assert tensors and all(name.startswith("model.") for name in tensors)


def test_export_with_a_config_stores_its_decoding_settings_and_refuses_another_network(tmp_path):
    config = tiny_config()
    save_checkpoint(tmp_path / "run", 3, 0, FusionDetector(config), to_dict(config), list(config.classes))
    decoding = replace(config, head=replace(config.head, heading_from_velocity=1.0, score_threshold=0.2))
    meta, _ = load_checkpoint(export_weights(tmp_path / "run", tmp_path / "weights" / "tiny", decoding))
    assert meta["config"]["head"]["heading_from_velocity"] == 1.0 and meta["config"]["head"]["score_threshold"] == 0.2
    wider = replace(config, head=replace(config.head, channels=48))
    with pytest.raises(DataError, match="does not fit the config's network"):
        export_weights(tmp_path / "run", tmp_path / "weights" / "wider", wider)
    assert not (tmp_path / "weights" / "wider.json").exists()


def test_detect_one_frame_then_eval_and_viz_its_results(synth_root, tmp_path, capsys):
    """detect writes nuScenes results that eval and viz read as they are, with no --version or --split."""
    out = tmp_path / "detect"
    assert main(["detect", "--dataroot", str(synth_root), "--index", "1", "--min-score", "0.2", "--out", str(out),
                 "--device", "cpu"]) == 0
    document = json.loads((out / "results.json").read_text())
    [(token, entries)] = document["results"].items()
    assert entries and all(entry["sample_token"] == token and entry["detection_score"] >= 0.2 for entry in entries)
    assert (out / "detections.jpg").stat().st_size > 10_000
    assert "keyframe 1" in capsys.readouterr().out
    assert main(["eval", "--results", str(out / "results.json"), "--dataroot", str(synth_root),
                 "--out", str(tmp_path / "eval")]) == 0
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["num_samples"] == 1 and metrics["version"] == "v1.0-synth" and metrics["mAP"] > 0
    assert main(["viz", "--dataroot", str(synth_root), "--index", "1", "--results", str(out / "results.json"),
                 "--bev", str(tmp_path / "bev.png")]) == 0
    assert (tmp_path / "bev.png").stat().st_size > 1000


def test_eval_checkpoint_per_modality(synth_root, tmp_path):
    weights = write_tiny_weights(tmp_path)
    out = tmp_path / "eval"
    assert main(["eval", "--checkpoint", str(weights), "--dataroot", str(synth_root), "--version", "v1.0-synth",
                 "--split", "synth_val", "--out", str(out), "--modalities", "--device", "cpu"]) == 0
    for modality in ("fused", "lidar", "camera"):
        metrics = json.loads((out / modality / "metrics.json").read_text())
        assert metrics["num_samples"] == 3 and "inference (cpu)" in metrics["runtime_s"]
        assert json.loads((out / modality / "results.json").read_text())["meta"]["use_lidar"] == (modality != "camera")
        assert metrics["detector"]["modality"] == modality
        assert (metrics["detector"]["lidar_past_sweeps"] is None) == (modality == "camera")
    table = (out / "modalities.md").read_text()
    assert all(name in table for name in ("fused", "lidar", "camera"))


def test_eval_reads_fewer_past_sweeps_on_request_and_refuses_more_than_the_detector_has(synth_root, tmp_path, capsys):
    weights = write_tiny_weights(tmp_path)  # lidar.num_sweeps 2
    args = ["eval", "--checkpoint", str(weights), "--dataroot", str(synth_root), "--version", "v1.0-synth",
            "--split", "synth_val", "--modality", "lidar", "--device", "cpu"]
    assert main([*args, "--out", str(tmp_path / "all")]) == 0
    assert main([*args, "--out", str(tmp_path / "keyframe"), "--sweeps", "0"]) == 0
    results = [json.loads((tmp_path / run / "results.json").read_text())["results"] for run in ("all", "keyframe")]
    assert results[0].keys() == results[1].keys() and results[0] != results[1]  # fewer points, other boxes
    for run, sweeps in (("all", 2), ("keyframe", 0)):  # each report says what the detector read
        recorded = json.loads((tmp_path / run / "metrics.json").read_text())["detector"]
        assert recorded == {"checkpoint": str(weights), "modality": "lidar", "lidar_past_sweeps": sweeps}
        assert f"up to {sweeps} past sweeps" in (tmp_path / run / "summary.md").read_text()
    assert main([*args, "--out", str(tmp_path / "more"), "--sweeps", "3"]) == 2
    assert "tiny.json: --sweeps 3: this detector reads 0 to 2 past sweeps" in capsys.readouterr().err
    assert not (tmp_path / "more").exists()


def test_eval_of_a_camera_only_checkpoint_scores_its_one_modality_and_refuses_lidar(synth_root, tmp_path, capsys):
    config = tiny_config()
    weights = write_tiny_weights(tmp_path, replace(config, lidar=replace(config.lidar, enabled=False)))
    out = tmp_path / "eval"
    args = ["eval", "--checkpoint", str(weights), "--dataroot", str(synth_root), "--version", "v1.0-synth",
            "--split", "synth_val", "--device", "cpu"]
    assert main([*args, "--out", str(out), "--modalities"]) == 0
    assert json.loads((out / "metrics.json").read_text())["num_samples"] == 3
    assert json.loads((out / "results.json").read_text())["meta"]["use_lidar"] is False
    assert not (out / "modalities.md").exists()
    assert main([*args, "--out", str(tmp_path / "fused")]) == 0  # the default, fused, is its camera run too
    assert json.loads((tmp_path / "fused" / "results.json").read_text())["meta"]["use_lidar"] is False
    assert json.loads((tmp_path / "fused" / "metrics.json").read_text())["detector"]["modality"] == "camera"
    assert "synth_val (camera): mAP" in capsys.readouterr().out
    assert main([*args, "--out", str(tmp_path / "lidar"), "--modality", "lidar"]) == 2
    assert "tiny.json: --modality lidar: this detector has no lidar branch (it has camera)" in capsys.readouterr().err
    assert not (tmp_path / "lidar").exists()


def test_demo_main_job_with_shipped_weights(synth_root, tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--data", str(synth_root), "--out", str(out)]) == 0
    metrics = json.loads((out / "eval" / "metrics.json").read_text())
    assert metrics["num_samples"] == 6
    for scene in ("synth-0007-0000", "synth-0007-0001"):
        assert {p.name for p in (out / scene).iterdir()} == {"detections.mcap", "detections.layout.json",
                                                             "replay.mp4", "results.json", "summary.json"}
    # The figures printed are the evaluation's, over the 6 keyframes of both scenes' results.
    assert f"mAP {metrics['mAP']:.3f}, NDS {metrics['NDS']:.3f} over 6 keyframes" in capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())["results"]
    per_scene = [json.loads((out / s / "results.json").read_text())["results"]
                 for s in ("synth-0007-0000", "synth-0007-0001")]
    assert results == per_scene[0] | per_scene[1] and len(results) == 6


def test_attributes_follow_predicted_motion():
    import numpy as np

    from perception.data.classes import CLASS_INDEX
    from perception.inference.detections import attributes_from_motion

    boxes = np.zeros((6, 9))
    boxes[[0, 2, 4], 7] = 2.0  # moving along x
    labels = np.array([CLASS_INDEX[c] for c in ("car", "car", "bicycle", "barrier", "bus", "bus")])
    assert attributes_from_motion(boxes, labels) == ["vehicle.moving", "vehicle.parked", "cycle.with_rider", "",
                                                     "vehicle.moving", "vehicle.stopped"]  # a still bus is at a stop


def test_main_job_scores_the_figure_the_readme_states(tmp_path, capsys):
    """The README's first command, on its own default drive (generated here as `tools/demo.sh` does), scores what
    the README says the shipped weights score. The tolerance covers float differences between CPUs and thread
    counts, which can only reorder near-tied scores (10 keyframes, a few hundred boxes); a changed preprocessing,
    model or evaluation moves these figures by far more."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    stated = re.search(r"scores the default\s+drive mAP (\d\.\d+), NDS (\d\.\d+)", readme)
    assert stated, "the README states the demo's scores"
    assert main(["demo", "--data", str(tmp_path / "synth-default"), "--out", str(tmp_path / "demo")]) == 0
    metrics = json.loads((tmp_path / "demo" / "eval" / "metrics.json").read_text())
    assert metrics["num_samples"] == 10
    assert metrics["mAP"] == pytest.approx(float(stated[1]), abs=0.01)
    assert metrics["NDS"] == pytest.approx(float(stated[2]), abs=0.01)
