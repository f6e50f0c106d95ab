"""Loading and projecting real recorded frames (nuScenes scene-0061 keyframe, KITTI); skipped without shared data."""
import json

import numpy as np
import pytest

from calib import points_in_boxes, project_boxes
from perception.cli import main
from perception.data.classes import CLASS_INDEX
from perception.data.kitti import load_kitti_frame
from perception.data.nuscenes import NuScenesDataset
from tests.real_nuscenes import DEMO, VERSION


@pytest.fixture(scope="module")
def real_frame(real_nuscenes_root):
    dataset = NuScenesDataset(real_nuscenes_root, VERSION)
    return dataset.frame(dataset.sample_tokens("scene-0061")[0])


@pytest.fixture(scope="module")
def mmdet3d_info():
    return json.loads((DEMO / "infos" / "n015-2018-07-24-11-22-45+0800.json").read_text())["data_list"][0]


def test_real_frame_contents(real_frame):
    assert real_frame.points.shape == (34688, 5) and real_frame.points.dtype == np.float32
    assert np.all(real_frame.points[:, 4] == 0)
    assert sorted(real_frame.images) == sorted(real_frame.rig.camera_names) and len(real_frame.images) == 6
    assert all(image.shape == (900, 1600, 3) for image in real_frame.images.values())
    assert len(real_frame.boxes) == 68  # 69 annotations, one outside the 10 detection classes
    counts = np.bincount(real_frame.boxes.labels, minlength=10)
    assert counts[CLASS_INDEX["pedestrian"]] == 30 and counts[CLASS_INDEX["barrier"]] == 22
    assert counts[CLASS_INDEX["car"]] == 8


def test_camera_poses_include_ego_motion(real_frame, mmdet3d_info):
    """Our ego(t_lidar)-from-camera matches mmdet3d's ego-motion-compensated lidar2cam for every camera."""
    ego_from_lidar = real_frame.rig.lidar.ego_from_lidar
    for name, image_info in mmdet3d_info["images"].items():
        ours = np.linalg.inv(real_frame.rig.cameras[name].ego_from_camera) @ ego_from_lidar
        np.testing.assert_allclose(ours, np.asarray(image_info["lidar2cam"]), atol=1e-5)


def test_lidar_lands_on_images(real_frame):
    for name, camera in real_frame.rig.cameras.items():
        pixels, depth, visible = camera.project(real_frame.points[:, :3])
        assert visible.sum() > 2500, name
        assert np.all(depth[visible] > 0.1)


def test_gt_boxes_project_onto_their_objects(real_frame, mmdet3d_info):
    """Each box centre projects where mmdet3d's independent projection put it (centre_2d, depth), per camera."""
    centres = real_frame.boxes.boxes[:, :3]
    matched = 0
    for name, instances in mmdet3d_info["cam_instances"].items():
        pixels, depth, _ = real_frame.rig.cameras[name].project(centres)
        for instance in instances:
            error = np.hypot(*(pixels - instance["center_2d"]).T) + 100 * np.abs(depth - instance["depth"])
            assert error.min() < 0.5, (name, instance["center_2d"])
            matched += 1
    assert matched == 84  # every box mmdet3d found in some camera
    _, _, visible = project_boxes(real_frame.rig.cameras["CAM_FRONT"], real_frame.boxes.boxes)
    assert visible.sum() >= 40


def test_points_in_gt_boxes_match_num_lidar_pts(real_frame):
    counts = points_in_boxes(real_frame.points, real_frame.boxes.boxes).sum(axis=1)
    expected = real_frame.boxes.num_lidar_pts
    # The ego frame drops the lidar's 1.4° tilt that the annotated boxes have: allow a point or two at faces.
    assert np.all(np.abs(counts - expected) <= np.maximum(2, 0.05 * expected))
    assert (counts == expected).mean() > 0.85


def test_check_command_renders_png(real_nuscenes_root, tmp_path, capsys):
    out = tmp_path / "check.png"
    assert main(["data", "check", "--dataroot", str(real_nuscenes_root), "--version", VERSION, "--out", str(out)]) == 0
    assert out.stat().st_size > 100_000
    assert "68 GT boxes" in capsys.readouterr().out


@pytest.mark.parametrize("frame_id, reduced_count, boxes", [("000000", 20285, [377]), ("000003", 18911, [674])])
def test_kitti_frame(kitti_root, frame_id, reduced_count, boxes):
    frame = load_kitti_frame(kitti_root, frame_id)
    camera = frame.rig.cameras["image_2"]
    _, _, visible = camera.project(frame.points[:, :3])
    # KITTI's own camera-FOV crop (velodyne_reduced) keeps exactly the points our projection finds in the image.
    assert visible.sum() == reduced_count
    reduced = np.fromfile(kitti_root / "training" / "velodyne_reduced" / f"{frame_id}.bin", "<f4").reshape(-1, 4)
    np.testing.assert_array_equal(np.sort(frame.points[visible, 0]), np.sort(reduced[:, 0]))
    assert frame.boxes.num_lidar_pts.tolist() == boxes
    assert project_boxes(camera, frame.boxes.boxes)[2].all()


def test_kitti_labels_classes(kitti_root):
    frame = load_kitti_frame(kitti_root, "000001")  # Truck, Car, Cyclist + DontCare
    assert frame.boxes.labels.tolist() == [CLASS_INDEX[c] for c in ("truck", "car", "bicycle")]
    assert np.all(frame.boxes.num_lidar_pts > 0)


@pytest.mark.parametrize("frame_id", ["000002", "000003"])  # a car near the KITTI car on a flat road
def test_kitti_ego_frame_is_on_the_ground(kitti_root, frame_id):
    """The ego frame lies on the road under the Velodyne, as nuScenes' does under the rear axle: the road returns
    sit near z = 0 (within 0.3 m; 1.73 m in the Velodyne frame) and the car boxes stand on it."""
    frame = load_kitti_frame(kitti_root, frame_id)
    near = frame.points[np.hypot(frame.points[:, 0], frame.points[:, 1]) < 20]
    assert abs(np.percentile(near[:, 2], 10)) < 0.3  # the road, the lowest returns around the car
    cars = frame.boxes.select(frame.boxes.labels == CLASS_INDEX["car"])
    bottoms = cars.boxes[:, 2] - cars.boxes[:, 5] / 2
    assert len(cars) and np.all(np.abs(bottoms) < 0.4)
    np.testing.assert_allclose(frame.rig.lidar.ego_from_lidar[:3, 3], [0.0, 0.0, 1.73])
