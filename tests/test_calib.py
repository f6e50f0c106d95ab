"""SE(3) helpers, camera projection, box geometry and rig files."""
import cv2
import numpy as np
import pytest
import yaml

from calib import Camera, CalibrationError, Lidar, Rig, box_corners, load_rig, points_in_boxes, project_boxes, save_rig
from calib.boxes import transform_boxes
from calib.se3 import (invert, make_transform, quaternion_to_rotation, rotation_to_quaternion, transform_points,
                       wrap_angle, yaw_rotation)

# OpenCV camera looking along ego +x from 1.5 m above the rear axle: camera z → ego x, x → −y, y → −z.
FORWARD = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
K = np.array([[1000.0, 0.0, 800.0], [0.0, 1000.0, 450.0], [0.0, 0.0, 1.0]])


def front_camera(**kwargs) -> Camera:
    return Camera("CAM_FRONT", K, 1600, 900, make_transform(FORWARD, [1.0, 0.0, 1.5]), **kwargs)


def random_pose(rng) -> np.ndarray:
    q = rng.normal(size=4)
    return make_transform(quaternion_to_rotation(q), rng.normal(size=3) * 10)


def test_transform_round_trips():
    rng = np.random.default_rng(0)
    for _ in range(20):
        a_from_b = random_pose(rng)
        np.testing.assert_allclose(invert(a_from_b) @ a_from_b, np.eye(4), atol=1e-12)
        points = rng.normal(size=(50, 3))
        np.testing.assert_allclose(transform_points(invert(a_from_b), transform_points(a_from_b, points)), points,
                                   atol=1e-12)
        q = rotation_to_quaternion(a_from_b[:3, :3])
        assert q[0] >= 0
        np.testing.assert_allclose(quaternion_to_rotation(q), a_from_b[:3, :3], atol=1e-12)


def test_quaternion_matches_hand_computed_yaw():
    half = np.pi / 8  # 45° about z
    np.testing.assert_allclose(quaternion_to_rotation([np.cos(half), 0, 0, np.sin(half)]), yaw_rotation(np.pi / 4),
                               atol=1e-12)
    assert wrap_angle(np.pi) == pytest.approx(-np.pi)
    assert wrap_angle(3 * np.pi / 2) == pytest.approx(-np.pi / 2)


def test_projection_hand_computed_pixels():
    camera = front_camera()
    points = np.array([[11.0, 0.0, 1.5],    # on the optical axis, 10 m ahead → principal point
                       [11.0, -1.0, 0.5],   # 1 m right and 1 m down at 10 m → +100 px in u and v
                       [6.0, 2.0, 1.5],     # 2 m left at 5 m → u = 800 − 400
                       [-5.0, 0.0, 1.5],    # behind the camera
                       [2.0, 0.0, 11.5]])   # in front, far outside the image
    pixels, depth, visible = camera.project(points)
    np.testing.assert_allclose(pixels[:3], [[800, 450], [900, 550], [400, 450]], atol=1e-9)
    np.testing.assert_allclose(depth, [10, 10, 5, -6, 1], atol=1e-9)
    assert visible.tolist() == [True, True, True, False, False]


def test_distortion_matches_opencv():
    distortion = np.array([-0.3, 0.1, 0.001, -0.002, 0.01])
    camera = front_camera(distortion=distortion)
    rng = np.random.default_rng(1)
    points = np.column_stack([rng.uniform(5, 30, 100), rng.uniform(-5, 5, 100), rng.uniform(-1, 3, 100)])
    pixels, _, _ = camera.project(points)
    camera_from_ego = invert(camera.ego_from_camera)
    rvec, _ = cv2.Rodrigues(camera_from_ego[:3, :3])
    expected, _ = cv2.projectPoints(points, rvec, camera_from_ego[:3, 3], K, distortion)
    np.testing.assert_allclose(pixels, expected[:, 0], atol=1e-6)


def test_box_corners_and_membership():
    box = np.array([[10.0, 5.0, 1.0, 4.0, 2.0, 1.5, np.pi / 2]])  # heading +y: length along y
    corners = box_corners(box)[0]
    np.testing.assert_allclose(corners[0], [9.0, 7.0, 0.25], atol=1e-12)   # front-left-bottom
    np.testing.assert_allclose(corners[6], [11.0, 3.0, 1.75], atol=1e-12)  # rear-right-top
    points = np.array([[10.0, 6.9, 1.0], [10.0, 7.1, 1.0], [10.9, 5.0, 1.7], [11.1, 5.0, 1.0]])
    assert points_in_boxes(points, box)[0].tolist() == [True, False, True, False]


def test_transform_boxes_moves_centre_yaw_and_velocity():
    boxes = np.array([[1.0, 0.0, 0.5, 4, 2, 1.5, 0.0, 2.0, 0.0]])
    a_from_b = make_transform(yaw_rotation(np.pi / 2), [10.0, 0.0, 0.0])
    moved = transform_boxes(a_from_b, boxes)[0]
    np.testing.assert_allclose(moved, [10, 1, 0.5, 4, 2, 1.5, np.pi / 2, 0, 2], atol=1e-12)


def test_project_boxes_visibility():
    camera = front_camera()
    boxes = np.array([[15.0, 0.0, 1.0, 4, 2, 1.5, 0.0],     # ahead: visible
                      [-10.0, 0.0, 1.0, 4, 2, 1.5, 0.0],    # behind: not
                      [1.2, 0.0, 1.5, 4, 2, 1.5, 0.0]])     # straddles the camera: not
    pixels, depth, visible = project_boxes(camera, boxes)
    assert pixels.shape == (3, 8, 2) and depth.shape == (3, 8)
    assert visible.tolist() == [True, False, False]


def nuscenes_like_rig() -> Rig:
    return Rig({"CAM_FRONT": front_camera(distortion=np.array([0.01, 0.0, 0.0, 0.0]))},
               Lidar("LIDAR_TOP", make_transform(yaw_rotation(-np.pi / 2), [0.9, 0.0, 1.8])))


def test_rig_yaml_round_trip(tmp_path):
    rig = nuscenes_like_rig()
    save_rig(rig, tmp_path / "rig.yaml")
    loaded = load_rig(tmp_path / "rig.yaml")
    assert loaded.camera_names == ["CAM_FRONT"]
    np.testing.assert_allclose(loaded.cameras["CAM_FRONT"].ego_from_camera, rig.cameras["CAM_FRONT"].ego_from_camera)
    np.testing.assert_allclose(loaded.cameras["CAM_FRONT"].distortion, [0.01, 0, 0, 0])
    np.testing.assert_allclose(loaded.lidar.ego_from_lidar, rig.lidar.ego_from_lidar)


def test_rig_quaternion_form(tmp_path):
    save_rig(nuscenes_like_rig(), tmp_path / "rig.yaml")
    data = yaml.safe_load((tmp_path / "rig.yaml").read_text())
    del data["lidar"]["ego_from_lidar"]["rotation"]
    data["lidar"]["ego_from_lidar"]["quaternion_wxyz"] = [float(np.cos(-np.pi / 4)), 0, 0, float(np.sin(-np.pi / 4))]
    (tmp_path / "q.yaml").write_text(yaml.safe_dump(data))
    np.testing.assert_allclose(load_rig(tmp_path / "q.yaml").lidar.ego_from_lidar[:3, :3], yaw_rotation(-np.pi / 2),
                               atol=1e-12)


@pytest.mark.parametrize("edit, field, message", [
    (lambda d: d["cameras"]["CAM_FRONT"]["ego_from_camera"].update(rotation=[[1, 0, 0], [0, 1, 0], [0, 0.5, 1]]),
     "cameras.CAM_FRONT.ego_from_camera", "not orthonormal"),
    (lambda d: d["cameras"]["CAM_FRONT"]["intrinsics"][0].__setitem__(0, -5.0),
     "cameras.CAM_FRONT.intrinsics", "focal lengths must be positive"),
    (lambda d: d["cameras"]["CAM_FRONT"].pop("width"), "cameras.CAM_FRONT.width", "missing"),
    (lambda d: d["cameras"]["CAM_FRONT"].update(height="tall"), "cameras.CAM_FRONT.height", "positive integer"),
    (lambda d: d["lidar"]["ego_from_lidar"].update(translation=[1, 2]), "lidar.ego_from_lidar.translation", "shape"),
    (lambda d: d.pop("lidar"), "lidar", "missing"),
])
def test_rig_validation_names_file_and_field(tmp_path, edit, field, message):
    save_rig(nuscenes_like_rig(), tmp_path / "rig.yaml")
    data = yaml.safe_load((tmp_path / "rig.yaml").read_text())
    edit(data)
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(CalibrationError) as error:
        load_rig(tmp_path / "bad.yaml")
    assert error.value.field == field
    assert str(tmp_path / "bad.yaml") in str(error.value) and field in str(error.value)
    assert message in str(error.value)


def test_rig_unreadable_files(tmp_path):
    with pytest.raises(CalibrationError, match="does not exist"):
        load_rig(tmp_path / "missing.yaml")
    (tmp_path / "broken.yaml").write_text("cameras: [unclosed")
    with pytest.raises(CalibrationError, match="not valid YAML"):
        load_rig(tmp_path / "broken.yaml")


def test_save_rig_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "rig.yaml"
    save_rig(nuscenes_like_rig(), path)
    before = path.read_text()
    monkeypatch.setattr(yaml, "safe_dump", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("disk full")))
    with pytest.raises(RuntimeError):
        save_rig(nuscenes_like_rig(), path)
    assert path.read_text() == before and list(tmp_path.iterdir()) == [path]
