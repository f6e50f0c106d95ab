"""Bad input gives one clear error naming the file or field, never a raw traceback."""

import numpy as np
import pytest
import yaml

from perception.cli import main
from perception.data.nuscenes import NuScenesDataset
from perception.data.sensor_files import read_image, read_lidar_bin
from perception.errors import DataError
from tests.real_nuscenes import VERSION


def run_check(capsys, root, *extra):
    code = main(["data", "check", "--dataroot", str(root), "--version", VERSION, "--out", str(root / "x.png"), *extra])
    return code, capsys.readouterr().err


def test_truncated_lidar_file(real_copy, capsys):
    path = next((real_copy / "samples" / "LIDAR_TOP").iterdir())
    path.write_bytes(path.read_bytes()[:-7])
    code, err = run_check(capsys, real_copy)
    assert code == 2 and str(path) in err and "truncated or corrupt lidar file" in err
    assert "Traceback" not in err


def test_missing_image_file(real_copy, capsys):
    path = next((real_copy / "samples" / "CAM_FRONT").iterdir())
    path.unlink()
    code, err = run_check(capsys, real_copy)
    assert code == 2 and str(path) in err and "image file does not exist" in err


def test_corrupt_image_file(tmp_path):
    path = tmp_path / "broken.jpg"
    path.write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(DataError, match="corrupt"):
        read_image(path)


def test_nonexistent_scene_name(real_copy, capsys):
    code, err = run_check(capsys, real_copy, "--scene", "scene-0016")
    assert code == 2 and "no scene named 'scene-0016'" in err and "scene-0061" in err


def test_missing_version_and_tables(tmp_path, real_copy):
    with pytest.raises(DataError, match="no nuScenes version folder 'v1.0-trainval'.*v1.0-real"):
        NuScenesDataset(real_copy, "v1.0-trainval")
    (real_copy / VERSION / "instance.json").unlink()
    with pytest.raises(DataError, match="missing nuScenes tables: instance"):
        NuScenesDataset(real_copy, VERSION)


def test_nan_points_are_dropped_with_warning(tmp_path, caplog):
    points = np.arange(20, dtype=np.float32).reshape(4, 5)
    points[1, 2] = np.nan
    path = tmp_path / "cloud.pcd.bin"
    path.write_bytes(points.tobytes())
    loaded = read_lidar_bin(path, 5)
    assert len(loaded) == 3 and np.isfinite(loaded).all()
    assert str(path) in caplog.text and "dropped 1 of 4 points" in caplog.text


def test_broken_rig_rotation_in_synth(tmp_path, capsys):
    from perception.sim.dataset import DEFAULT_RIG

    rig = yaml.safe_load(DEFAULT_RIG.read_text())
    rig["cameras"]["CAM_BACK"]["ego_from_camera"]["rotation"][0] = [2.0, 0.0, 0.0]
    (tmp_path / "rig.yaml").write_text(yaml.safe_dump(rig))
    code = main(["data", "synth", "--out", str(tmp_path / "out"), "--rig", str(tmp_path / "rig.yaml")])
    err = capsys.readouterr().err
    assert code == 2 and str(tmp_path / "rig.yaml") in err and "cameras.CAM_BACK.ego_from_camera" in err
    assert "not orthonormal" in err and not (tmp_path / "out").exists()
