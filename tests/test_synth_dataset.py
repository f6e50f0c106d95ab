"""Synthetic drives in nuScenes format: devkit loadability, our loader, num_lidar_pts, determinism, evaluation."""
import contextlib
import io
import json

import cv2
import numpy as np
import pytest
from nuscenes.eval.common.config import config_factory
from nuscenes.eval.detection.evaluate import DetectionEval
from nuscenes.nuscenes import NuScenes

from calib import load_rig, points_in_boxes
from perception.data.classes import DETECTION_CLASSES, detection_class_of
from perception.data.nuscenes import NuScenesDataset
from perception.sim.dataset import DEFAULT_RIG, SynthOptions, camera_offsets_s, generate_dataset
from tests.conftest import small_rig

VERSION = "v1.0-synth"


def quiet(fn, *args, **kwargs):
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args, **kwargs)


def test_devkit_loads_all_tables(synth_root):
    nusc = quiet(NuScenes, version=VERSION, dataroot=str(synth_root), verbose=False)
    assert len(nusc.scene) == 2 and len(nusc.sample) == 6
    lidar = [sd for sd in nusc.sample_data if sd["channel"] == "LIDAR_TOP"]
    assert sum(sd["is_key_frame"] for sd in lidar) == 6 and len(lidar) == 6 * 3
    assert {sd["channel"] for sd in nusc.sample_data} == {"LIDAR_TOP", "CAM_FRONT", "CAM_BACK"}
    assert len(nusc.sample_annotation) > 6 * 15
    splits = json.loads((synth_root / VERSION / "splits.json").read_text())
    assert len(splits["synth_train"]) == 1 and len(splits["synth_val"]) == 1
    assert sorted(splits["synth_train"] + splits["synth_val"]) == sorted(s["name"] for s in nusc.scene)


def test_loader_frames(synth_root):
    dataset = NuScenesDataset(synth_root, VERSION, num_sweeps=2)
    assert dataset.scene_names("synth_val") == json.loads((synth_root / VERSION / "splits.json").read_text())["synth_val"]
    frames = list(dataset.frames())
    assert len(frames) == 6
    classes = set()
    for frame in frames:
        assert frame.points.dtype == np.float32 and frame.points.shape[1] == 5
        assert np.allclose(np.unique(frame.points[:, 4]), [0.0, 0.05, 0.1], atol=1e-6)
        assert {name: image.shape for name, image in frame.images.items()} == {
            "CAM_FRONT": (225, 400, 3), "CAM_BACK": (225, 400, 3)}
        assert len(frame.boxes) >= 10
        classes |= {DETECTION_CLASSES[i] for i in frame.boxes.labels}
    assert classes == set(DETECTION_CLASSES)


def test_num_lidar_pts_equals_points_in_box(synth_root):
    dataset = NuScenesDataset(synth_root, VERSION, num_sweeps=0)
    with_points = 0
    for frame in dataset.frames(load_images=False):
        counts = points_in_boxes(frame.points, frame.boxes.boxes).sum(axis=1)
        np.testing.assert_array_equal(counts, frame.boxes.num_lidar_pts)
        with_points += (counts > 0).sum()
    assert with_points >= 6 * 10


def test_multi_sweep_accumulation_aligns_static_world(synth_root):
    """Ego-motion compensation: ground and buildings from older sweeps land where the keyframe sees them."""
    dataset = NuScenesDataset(synth_root, VERSION, num_sweeps=2)
    frame = next(dataset.frames(load_images=False))
    points = frame.points
    key, old = points[points[:, 4] == 0], points[np.isclose(points[:, 4], 0.1)]
    # Ground height near the ego is the same in both sweeps if motion is compensated (the ego moved ≥ 0.4 m).
    near = lambda p: p[(np.hypot(p[:, 0], p[:, 1]) < 15) & (np.abs(p[:, 2]) < 0.3)]  # noqa: E731
    assert abs(np.median(near(key)[:, 2]) - np.median(near(old)[:, 2])) < 0.03


def test_velocities_and_attributes(synth_root):
    dataset = NuScenesDataset(synth_root, VERSION)
    frame = dataset.frame(dataset.sample_tokens(dataset.scene_names()[0])[1])  # a middle keyframe: prev and next
    speed = np.hypot(frame.boxes.boxes[:, 7], frame.boxes.boxes[:, 8])
    attributes = np.array(frame.boxes.attributes)
    assert np.all(speed[attributes == "vehicle.parked"] < 0.05)
    assert np.all(speed[attributes == "vehicle.moving"] > 0.5)


def test_camera_timestamps_follow_the_spinning_lidar(synth_root):
    dataset = NuScenesDataset(synth_root, VERSION)
    frame = next(dataset.frames(load_images=False))
    offsets = {name: t - frame.timestamp for name, t in frame.camera_timestamps.items()}
    assert offsets["CAM_FRONT"] == pytest.approx(-0.035, abs=0.002)
    assert offsets["CAM_BACK"] == pytest.approx(-0.010, abs=0.002)
    nuscenes = camera_offsets_s(load_rig(DEFAULT_RIG))
    assert all(-0.05 <= v <= 0 for v in nuscenes.values())


def test_generation_is_deterministic(tmp_path):
    rig = small_rig(tmp_path / "rig.yaml")
    runs = []
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        generate_dataset(SynthOptions(out=tmp_path / name, scenes=1, frames=1, seed=seed, sweeps=1, rig_path=rig),
                         progress=False)
        runs.append({p.relative_to(tmp_path / name): p.read_bytes() for p in (tmp_path / name).rglob("*")
                     if p.is_file()})
    assert runs[0] == runs[1]
    assert runs[0].keys() != runs[2].keys() or runs[0] != runs[2]


def test_devkit_evaluator_scores_ground_truth_perfectly(synth_root, tmp_path):
    """GT written as a results file scores mAP 1 through DetectionEval on the custom split."""
    nusc = quiet(NuScenes, version=VERSION, dataroot=str(synth_root), verbose=False)
    results = {}
    for sample in nusc.sample:
        boxes = []
        for token in sample["anns"]:
            ann = nusc.get("sample_annotation", token)
            if ann["num_lidar_pts"] == 0:
                continue  # the evaluator drops such GT boxes, so a prediction there would be a false positive
            velocity = nusc.box_velocity(token)[:2]
            attribute = nusc.get("attribute", ann["attribute_tokens"][0])["name"] if ann["attribute_tokens"] else ""
            boxes.append({"sample_token": sample["token"], "translation": ann["translation"], "size": ann["size"],
                          "rotation": ann["rotation"], "velocity": np.nan_to_num(velocity).tolist(),
                          "detection_name": detection_class_of(ann["category_name"]), "detection_score": 1.0,
                          "attribute_name": attribute})
        results[sample["token"]] = boxes
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"meta": {"use_camera": True, "use_lidar": True, "use_radar": False,
                                         "use_map": False, "use_external": False}, "results": results}))
    evaluator = quiet(DetectionEval, nusc, config_factory("detection_cvpr_2019"), str(path), "synth_all",
                      str(tmp_path / "eval"), verbose=False)
    metrics, _ = quiet(evaluator.evaluate)
    summary = metrics.serialize()
    present = [c for c in DETECTION_CLASSES if evaluator.gt_boxes and
               any(b.detection_name == c for b in evaluator.gt_boxes.all)]
    assert len(present) >= 5
    for name in present:
        assert summary["mean_dist_aps"][name] == pytest.approx(1.0), name
    assert summary["label_tp_errors"]["car"]["trans_err"] < 1e-6


def test_default_rig_full_resolution(tmp_path):
    generate_dataset(SynthOptions(out=tmp_path, scenes=1, frames=1, seed=0, sweeps=0), progress=False)
    dataset = NuScenesDataset(tmp_path, VERSION)
    frame = next(dataset.frames())
    assert len(frame.images) == 6 and all(i.shape == (900, 1600, 3) for i in frame.images.values())
    assert 20_000 <= len(frame.points) <= 35_000
    # Sensible content: the sky is bright at the top, the road darker at the bottom of the front image.
    front = frame.images["CAM_FRONT"].astype(float)
    assert front[:100].mean() > front[-100:].mean()


def test_cameras_rendered_at_a_fraction_match_the_full_render(tmp_path):
    """``camera_scale`` renders the same view with intrinsics scaled alike: the half-size image is the full one
    resized (up to the render noise and edge aliasing), and the written intrinsics are half the rig's."""
    rig = small_rig(tmp_path / "rig.yaml")
    frames = {}
    for scale in (1.0, 0.5):
        out = tmp_path / f"scale-{scale}"
        generate_dataset(SynthOptions(out=out, scenes=1, frames=1, seed=5, sweeps=0, rig_path=rig,
                                      camera_scale=scale), progress=False)
        frames[scale] = next(NuScenesDataset(out, VERSION).frames())
    full, half = frames[1.0].images["CAM_FRONT"], frames[0.5].images["CAM_FRONT"]
    assert full.shape == (225, 400, 3) and half.shape == (112, 200, 3)
    np.testing.assert_allclose(frames[0.5].rig.cameras["CAM_FRONT"].intrinsics[:2],
                               frames[1.0].rig.cameras["CAM_FRONT"].intrinsics[:2] * 0.5)
    resized = cv2.resize(full, (200, 112), interpolation=cv2.INTER_AREA).astype(float)
    assert np.abs(resized - half).mean() < 8.0
    assert np.abs(resized - np.roll(half, 3, axis=1)).mean() > np.abs(resized - half).mean() + 2.0
