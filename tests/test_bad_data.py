"""Bad sensor data, tables and configs: each ends in one line naming the file (or key), or in a warning and the
work goes on; nothing bad reaches the detector's output."""
import json
import os
import re

import cv2
import numpy as np
import pytest
import torch
import yaml

import perception
from calib import Lidar, Rig
from perception.cli import main
from perception.data.frame import Frame
from perception.data.nuscenes import NuScenesDataset
from perception.data.sensor_files import read_image, read_lidar_bin
from perception.errors import DataError
from perception.inference.detector import MAX_BOX_SIZE_M, plausible_boxes
from perception.ops.grid import BEVGrid
from tests.model_configs import DEMO
from tests.real_nuscenes import VERSION


def keyframe_lidar_file(root):
    return next((root / "samples" / "LIDAR_TOP").iterdir())


# --- lidar values -----------------------------------------------------------------------------------------------
def test_absurd_point_values_are_dropped_with_a_warning(real_copy, caplog):
    path = keyframe_lidar_file(real_copy)
    points = np.fromfile(path, "<f4").reshape(-1, 5).copy()
    points[:3, 3] = 1e30     # intensity
    points[3:5, 0] = 1e20    # x
    points[5, 2] = -500.0    # z
    points[6, 3] = -1.0
    path.write_bytes(points.tobytes())
    loaded = read_lidar_bin(path, 5)
    assert len(loaded) == len(points) - 7
    assert np.abs(loaded[:, :3]).max() < 1000 and loaded[:, 3].max() <= 255 and loaded[:, 3].min() >= 0
    assert str(path) in caplog.text and f"dropped 7 of {len(points)} points" in caplog.text


def test_empty_lidar_file_warns_and_leaves_a_camera_only_frame(real_copy, caplog):
    path = keyframe_lidar_file(real_copy)
    path.write_bytes(b"")
    frame = NuScenesDataset(real_copy, VERSION)[0]
    assert len(frame.points) == 0 and frame.images
    assert str(path) in caplog.text and "empty lidar file" in caplog.text


@pytest.mark.parametrize("kind, message", [("folder", "is a folder, not a file"),
                                           ("fifo", "not a regular file")])
def test_lidar_path_that_is_not_a_file(real_copy, kind, message):
    path = keyframe_lidar_file(real_copy)
    path.unlink()
    path.mkdir() if kind == "folder" else os.mkfifo(path)  # reading a FIFO would wait for a writer forever
    with pytest.raises(DataError, match=message) as error:
        NuScenesDataset(real_copy, VERSION)[0]
    assert str(path) in str(error.value)


# --- what the detector lets out ---------------------------------------------------------------------------------
def test_detector_lets_out_no_absurd_box(caplog):
    """A frame built in memory (no loader to sanitise it) with absurd points gives only possible boxes, and so do
    weights corrupted to regress absurd lengths: those boxes are dropped with a warning that names the frame."""
    rng = np.random.default_rng(0)
    points = np.column_stack([rng.uniform(-40, 40, (2000, 2)), rng.uniform(-2, 1, 2000), rng.uniform(0, 50, 2000),
                              np.zeros(2000)]).astype(np.float32)
    points[:5, 3] = 1e30
    points[5:10, :3] = 1e20
    frame = Frame("absurd", 0.0, points, {}, Rig({}, Lidar("LIDAR_TOP", np.eye(4))), np.eye(4))
    detector = perception.load_detector("demo")
    bev = detector.config.bev
    for corrupt in (False, True):
        if corrupt:
            with torch.no_grad():
                detector.model.head.regression[-1].bias[3] += 100.0  # log length: every box e^5 = 148 m long
        detections = detector.detect(frame, modalities=("lidar",))
        assert np.isfinite(detections.boxes).all()
        assert (np.abs(detections.boxes[:, :2]) <= max(map(abs, bev.x_range + bev.y_range)) + bev.cell).all()
        assert (detections.boxes[:, 3:6] <= MAX_BOX_SIZE_M).all()
    assert len(detections.boxes) == 0
    assert "frame absurd: dropped" in caplog.text


def test_plausible_boxes():
    grid = BEVGrid((-50.0, 50.0), (-50.0, 50.0), (-5.0, 3.0), 0.5)
    good = [10.0, -5.0, 0.0, 4.0, 2.0, 1.5, 0.3, 1.0, 0.0]
    boxes = np.array([good, [1e23, *good[1:]], [*good[:2], np.nan, *good[3:]], [*good[:3], 400.0, *good[4:]],
                      [50.3, *good[1:]], [*good[:8], np.inf]])
    scores = np.array([0.5, 1.0, 1.0, 1.0, 0.4, 0.9])
    np.testing.assert_array_equal(plausible_boxes(boxes, scores, grid), [True, False, False, False, True, False])


# --- configs ----------------------------------------------------------------------------------------------------
def config_with(tmp_path, section, key, value):
    """configs/demo.yaml with one value replaced, written to tmp_path."""
    data = yaml.safe_load(DEMO.read_text())
    data[section][key] = value
    path = tmp_path / f"{section}-{key}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("section, key, value, message", [
    ("camera", "depth_bins", [1.0, 52.0, 0.0], "camera.depth_bins: step must be > 0"),
    ("camera", "depth_bins", [1.0, 52.0, -1.0], "camera.depth_bins: step must be > 0"),
    ("camera", "depth_bins", [52.0, 1.0, 1.0], "camera.depth_bins: .* start < stop"),
    ("camera", "image_size", [0, 352], "camera.image_size: .* must both be > 0"),
    ("camera", "image_size", [128, -352], "camera.image_size: .* must both be > 0"),
    ("lidar", "num_sweeps", -1, "lidar.num_sweeps: must be >= 0"),
    ("bev", "cell", 0.0, "bev.cell must be positive"),
    ("bev", "x_range", [10.0, 10.0], r"bev.x_range must be \(min, max\) with max > min"),
    ("train", "batch_size", 0, "train.batch_size: must be >= 1"),
])
def test_bad_config_value_is_one_line_naming_the_key(tmp_path, capsys, section, key, value, message):
    path = config_with(tmp_path, section, key, value)
    assert main(["train", str(path), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert re.search(message, err), err
    assert not (tmp_path / "run").exists()


def test_empty_training_split_names_dataroot_and_split(real_copy, tmp_path, capsys):
    path = config_with(tmp_path, "train", "dataroot", str(real_copy))
    data = yaml.safe_load(path.read_text())
    data["train"].update(version=VERSION, train_split="mini_val")  # the real keyframe is in mini_train
    path.write_text(yaml.safe_dump(data))
    assert main(["train", str(path), "--out", str(tmp_path / "run"), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert f"{real_copy}: training split 'mini_val' (train.train_split) has no keyframes" in err


# --- tables -----------------------------------------------------------------------------------------------------
def edit_table(root, name, edit):
    """Apply ``edit`` to the records of a table of the copy (it may return a replacement)."""
    path = root / VERSION / f"{name}.json"
    records = json.loads(path.read_text())
    replaced = edit(records)
    path.write_text(json.dumps(records if replaced is None else replaced))
    return path


def one_line_error(capsys, argv):
    """The message of a command that fails the way a user error must: exit code 2, one line, no traceback."""
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


def check_fails(capsys, root, *extra):
    """``perception data check`` on the copy, failing with one line."""
    return one_line_error(capsys, ["data", "check", "--dataroot", str(root), "--version", VERSION,
                                   "--out", str(root / "x.png"), *extra])


def first_lidar(records):
    return next(r for r in records if r["filename"].startswith("samples/LIDAR_TOP"))


@pytest.mark.parametrize("table, edit, message", [
    ("scene", lambda r: r[0].update(first_sample_token="0badc0de"), "sample.json: no sample record with token"),
    ("sample", lambda r: r[0].update(next="0badc0de"), "sample.json: no sample record with token"),
    ("sample_data", lambda r: first_lidar(r).update(prev="0badc0de"), "sample_data.json: no sample_data record"),
    ("sample_data", lambda r: first_lidar(r).update(ego_pose_token="0badc0de"), "ego_pose.json: no ego_pose record"),
    ("sample_annotation", lambda r: r[0].update(instance_token="0badc0de"), "instance.json: no instance record"),
])
def test_dangling_token_names_table_and_token(real_copy, capsys, table, edit, message):
    edit_table(real_copy, table, edit)
    err = check_fails(capsys, real_copy, "--sweeps", "1")
    assert str(real_copy / VERSION) in err and message in err and "'0badc0de'" in err


@pytest.mark.parametrize("content, message", [
    ('{"token": "x"}', "a table must be a JSON list of records, got a JSON dict"),
    ('[["not", "a", "record"]]', "record 0 is not an object with a string 'token'"),
    ('[{"token": "x", "scene_token": ', "not a valid JSON table (truncated?)"),
])
def test_badly_shaped_sample_table(real_copy, capsys, content, message):
    path = real_copy / VERSION / "sample.json"
    path.write_text(content)
    err = check_fails(capsys, real_copy)
    assert f"{path}: {message}" in err


def test_record_without_a_field_names_table_and_token(real_copy, capsys):
    lidar = {}

    def drop_lidar_filename(records):
        lidar.update(first_lidar(records))
        first_lidar(records).pop("filename")

    path = edit_table(real_copy, "sample_data", drop_lidar_filename)
    assert f"{path}: record '{lidar['token']}' lacks the field(s) filename" in check_fails(capsys, real_copy)


def test_truncated_table_is_named(real_copy, capsys):
    path = real_copy / VERSION / "sample_data.json"
    path.write_bytes(path.read_bytes()[:-100])
    assert f"{path}: not a valid JSON table (truncated?)" in check_fails(capsys, real_copy)


def test_empty_scene_table_through_detect(real_copy, capsys, tmp_path):
    path = edit_table(real_copy, "scene", lambda records: [])
    err = one_line_error(capsys, ["detect", "--dataroot", str(real_copy), "--out", str(tmp_path / "out"),
                                  "--device", "cpu"])
    assert f"{path}: the dataset has no scenes" in err


def test_scene_without_samples_in_replay(real_copy, capsys, tmp_path):
    path = edit_table(real_copy, "scene", lambda records: records[0].update(first_sample_token=""))
    err = one_line_error(capsys, ["replay", "--source", "nuscenes", "--dataroot", str(real_copy),
                                  "--out", str(tmp_path / "out"), "--device", "cpu"])
    assert f"{path}: scene 'scene-0061' has no samples" in err


def test_replay_counts_a_message_with_a_dangling_pose_and_goes_on(real_copy, tmp_path):
    """In replay a sample_data whose pose is missing is a counted fault of that message; the frame is detected."""
    edit_table(real_copy, "sample_data",
               lambda records: next(r for r in records if "CAM_BACK/" in r["filename"]).update(ego_pose_token="0bad"))
    out = tmp_path / "replay"
    assert main(["replay", "--source", "nuscenes", "--dataroot", str(real_copy), "--out", str(out),
                 "--device", "cpu"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames"]["detected"] == 1
    [fault] = summary["faults"]["listed"]
    assert fault["topic"] == "/CAM_BACK/image_rect_compressed"
    assert "no ego_pose record with token '0bad'" in fault["reason"]


def test_bad_calibration_names_table_and_token(real_copy, capsys):
    def zero_camera_rotation(records):
        next(r for r in records if r.get("camera_intrinsic")).update(rotation=[0, 0, 0, 0])

    path = edit_table(real_copy, "calibrated_sensor", zero_camera_rotation)
    err = check_fails(capsys, real_copy)
    assert f"file {path}, field 'calibrated_sensor[CAM_" in err and "of token '" in err and "non-zero quaternion" in err


# --- images -----------------------------------------------------------------------------------------------------
def truncate_jpeg(root, channel="CAM_FRONT"):
    """Cut the channel's keyframe JPEG short, as an interrupted copy does; returns its path."""
    path = next((root / "samples" / channel).iterdir())
    path.write_bytes(path.read_bytes()[:-5000])
    return path


def halve_image(root, channel="CAM_BACK"):
    """Rewrite the channel's keyframe image at half its size; returns its path."""
    path = next((root / "samples" / channel).iterdir())
    image = cv2.imread(str(path))
    cv2.imwrite(str(path), cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2)))
    return path


def test_truncated_jpeg_is_detected(real_copy, capsys):
    path = truncate_jpeg(real_copy)
    with pytest.raises(DataError, match="truncated JPEG"):
        read_image(path)
    assert f"{path}: truncated JPEG" in check_fails(capsys, real_copy)


def test_truncated_png_is_detected_before_libpng_complains(kitti_root, tmp_path, capfd):
    path = tmp_path / "000000.png"
    data = (kitti_root / "training" / "image_2" / path.name).read_bytes()
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(DataError, match="truncated PNG"):
        read_image(path)
    assert capfd.readouterr().err == ""  # no anonymous libpng line


def test_image_of_another_size_than_its_calibration(real_copy, capsys):
    path = halve_image(real_copy)
    err = check_fails(capsys, real_copy)
    assert f"{path}: image is 800x450 pixels but its calibration is for 1600x900" in err


def test_replay_skips_and_counts_bad_images(real_copy, tmp_path):
    """In replay the damaged cameras are left out of the frame and counted; the frame is still detected."""
    truncate_jpeg(real_copy)
    halve_image(real_copy)
    out = tmp_path / "replay"
    assert main(["replay", "--source", "nuscenes", "--dataroot", str(real_copy), "--out", str(out),
                 "--device", "cpu"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames"]["detected"] == 1
    assert summary["missing_cameras"] == {"CAM_FRONT": 1, "CAM_BACK": 1}
    reasons = {fault["topic"]: fault["reason"] for fault in summary["faults"]["listed"]}
    assert "truncated JPEG" in reasons["/CAM_FRONT/image_rect_compressed"]
    assert "is 800x450 pixels but its calibration is for 1600x900" in reasons["/CAM_BACK/image_rect_compressed"]


# --- the command line -------------------------------------------------------------------------------------------
def test_detect_and_viz_on_broken_tables_are_one_line(real_copy, tmp_path, capsys):
    path = real_copy / VERSION / "ego_pose.json"
    path.write_bytes(path.read_bytes()[:-10])
    err = one_line_error(capsys, ["detect", "--dataroot", str(real_copy), "--out", str(tmp_path / "d"),
                                  "--device", "cpu"])
    assert f"error: {path}: not a valid JSON table" in err
    path.write_text("[]")  # every ego_pose_token now dangles
    err = one_line_error(capsys, ["viz", "--dataroot", str(real_copy), "--bev", str(tmp_path / "bev.png")])
    assert f"error: {path}: no ego_pose record with token '" in err
    assert not (tmp_path / "bev.png").exists()


def test_other_errors_keep_their_traceback(real_copy, tmp_path, monkeypatch):
    """A bug is not a user error: it is not turned into one line."""
    def broken(*args, **kwargs):
        raise KeyError("a bug")

    monkeypatch.setattr(NuScenesDataset, "frame", broken)
    with pytest.raises(KeyError, match="a bug"):
        main(["viz", "--dataroot", str(real_copy), "--bev", str(tmp_path / "bev.png")])
