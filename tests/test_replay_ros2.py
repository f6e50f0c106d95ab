"""Replay of ROS 2 bags (CDR, written by mcap_ros2): the same frames and detections as the nuScenes tables."""
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from mcap.reader import make_reader
from mcap_protobuf.decoder import DecoderFactory as ProtobufDecoders
from mcap_ros2.decoder import DecoderFactory as Ros2Decoders
from mcap_ros2.writer import Writer

from perception.data.nuscenes import NuScenesDataset
from perception.errors import DataError
from perception.replay import ros2_decode
from perception.replay.events import CameraInfo, LidarSweep, Transform
from perception.replay.frames import pinhole_view
from perception.replay.jobs import decode_jobs
from perception.replay.mcap_source import McapSource
from perception.replay.nuscenes_source import NuScenesSource
from perception.replay.ros2_msgdefs import SCHEMAS
from perception.replay.sync import Synchronizer
from perception.replay.topics import KEYFRAMES_METADATA, TopicMap, load_topic_map
from perception.replay.transforms import TransformBuffer
from tests.ros2_bags import BagLayout, camera_info, cloud_xyzirt, header, tf, write_bag
from tests.real_nuscenes import VERSION as REAL_VERSION
from tests.test_replay import (NUM_SWEEPS, SYNTH_VERSION, add_replay_arguments, add_to_mcap_arguments,
                               assert_same_frame, assert_same_results, parse, replay_mcap, results_of, run_replay, run_to_mcap,
                               synced_jobs, weights)  # noqa: F401 (fixture)

LAYOUTS = {"xyzirt": BagLayout("xyzirt", "/LIDAR_TOP", "/{}/image_rect_compressed", raw_cameras=("CAM_BACK",)),
           "xyz64": BagLayout("xyz64", "/velodyne_points", "/{}/image_raw/compressed", via_odom=True)}


@pytest.fixture(scope="module")
def scene(synth_root):
    dataset = NuScenesDataset(synth_root, SYNTH_VERSION, num_sweeps=NUM_SWEEPS)
    name = dataset.scene_names()[0]
    source = NuScenesSource(dataset, name, TopicMap())
    return dataset, name, source.metadata()[KEYFRAMES_METADATA]


@pytest.fixture(scope="module", params=sorted(LAYOUTS))
def bag(request, scene, tmp_path_factory):
    dataset, name, keyframes = scene
    path = tmp_path_factory.mktemp("bags") / f"{request.param}.mcap"
    return request.param, write_bag(NuScenesSource(dataset, name, TopicMap()), LAYOUTS[request.param], path,
                                    keyframes)


def test_ros2_bag_gives_the_tables_frames(scene, bag):
    """Every synced sweep of the bag is the tables' sweep: the same times, cameras and images, and points in the
    vehicle frame within 1 mm (intensity is absent from the float64 layout)."""
    dataset, name, _ = scene
    layout, path = bag
    from_tables = synced_jobs(NuScenesSource(dataset, name, TopicMap()), keyframes_only=False)
    from_bag = synced_jobs(McapSource(path, TopicMap()), keyframes_only=False)
    assert len(from_bag) == len(from_tables) == 9
    for job, expected in zip(from_bag, from_tables):
        frame, want = job.frame, expected.frame
        assert (job.time_ns, job.sample_token) == (expected.time_ns, expected.sample_token)
        assert job.missing == expected.missing
        np.testing.assert_allclose(frame.points[:, :3], want.points[:, :3], atol=1e-3)
        np.testing.assert_array_equal(frame.points[:, 4], want.points[:, 4])
        if layout == "xyzirt":
            np.testing.assert_array_equal(frame.points[:, 3], want.points[:, 3])
        np.testing.assert_allclose(frame.global_from_ego, want.global_from_ego, atol=1e-9)
        assert sorted(frame.images) == sorted(want.images)
        assert not job.sample_token or sorted(frame.images) == ["CAM_BACK", "CAM_FRONT"]
        for camera in want.images:
            np.testing.assert_array_equal(frame.images[camera], want.images[camera])
            np.testing.assert_allclose(frame.rig.cameras[camera].ego_from_camera,
                                       want.rig.cameras[camera].ego_from_camera, atol=1e-9)


def test_ros2_bag_replays_to_the_tables_detections(synth_root, bag, weights, tmp_path):
    """The point_step-22 bag replays to the tables' results; the float64 bag, which has no intensity, detects as the
    tables' frames with intensity 0."""
    layout, path = bag
    if layout == "xyzirt":
        direct = run_replay(parse(add_replay_arguments, "--source", "nuscenes", "--dataroot", synth_root,
                                  "--version", SYNTH_VERSION, "--checkpoint", weights, "--out", tmp_path / "direct",
                                  "--device", "cpu"))
        summary = replay_mcap(path, weights, tmp_path / "bag")
        assert summary["frames"] == direct["frames"] and summary["faults"]["corrupt"] == 0
        assert_same_results(results_of(tmp_path / "bag"), results_of(tmp_path / "direct"))
        return
    from perception.inference import load_detector

    detector = load_detector(weights, "cpu")
    dataset = NuScenesDataset(synth_root, SYNTH_VERSION, num_sweeps=NUM_SWEEPS)
    for job in synced_jobs(McapSource(path, TopicMap()), keyframes_only=True):
        expected = dataset.frame(job.sample_token)
        expected.points[:, 3] = 0
        got, want = (confident(detector.detect(frame)) for frame in (job.frame, expected))
        np.testing.assert_array_equal(got.labels, want.labels)
        np.testing.assert_allclose(got.boxes, want.boxes, atol=1e-3)


def confident(detections):
    """The detections of score >= 0.3 (what a user sees), best first: float64 and float32 points agree to 1e-7 m,
    which can swap two near-tied boxes at the 300-box cap but not the confident ones."""
    return detections.select(detections.scores >= 0.3)


def write_faulty_bag(path) -> None:
    """Two sweeps on /points in frame 'velodyne', which /tf_static does not connect to base_link; the first lacks z.
    A camera whose CameraInfo has fx = 0 and whose Image is mono16."""
    with open(path, "wb") as file:
        writer = Writer(file)
        schemas = {name: writer.register_msgdef(name, text) for name, text in SCHEMAS.items()}
        writer.write_message("/tf_static", schemas["tf2_msgs/msg/TFMessage"],
                             tf([(0, "base_link", "camera", np.zeros(3), np.array([1.0, 0, 0, 0]))]), 0)
        points = np.zeros((10, 4), np.float32)
        for second in (1, 2, 3):
            time_ns = second * 10**9
            writer.write_message("/tf", schemas["tf2_msgs/msg/TFMessage"],
                                 tf([(time_ns, "map", "base_link", np.zeros(3), np.array([1.0, 0, 0, 0]))]), time_ns)
            cloud = cloud_xyzirt(LidarSweep(time_ns, "velodyne", points))
            if second == 1:
                cloud["fields"] = [f for f in cloud["fields"] if f["name"] != "z"]
            writer.write_message("/points", schemas["sensor_msgs/msg/PointCloud2"], cloud, time_ns)
            info = camera_info(CameraInfo(time_ns, "cam", "camera", np.diag([0.0, 100.0, 1.0]), 8, 4))
            writer.write_message("/cam/camera_info", schemas["sensor_msgs/msg/CameraInfo"], info, time_ns)
            image = {"header": header(time_ns, "camera"), "height": 4, "width": 8, "encoding": "mono16",
                     "is_bigendian": 0, "step": 16, "data": bytes(64)}
            writer.write_message("/cam/image_raw", schemas["sensor_msgs/msg/Image"], image, time_ns)
        writer.finish()


def test_faulty_ros2_messages_are_counted_and_skipped(tmp_path):
    path = tmp_path / "faulty.mcap"
    write_faulty_bag(path)
    synchronizer = Synchronizer(TransformBuffer("map", "base_link"), NUM_SWEEPS, 50_000_000, False)
    jobs = list(decode_jobs(McapSource(path, TopicMap()), synchronizer))
    faults = [fault for job in jobs for fault in job.faults]
    assert sum(len(job.recorded) for job in jobs) == 13  # every message read is passed on
    reasons = {(f.topic, f.log_time_ns): f.reason for f in faults}
    assert "lacks the field(s) z" in reasons[("/points", 10**9)]
    assert all("focal length" in reasons[("/cam/camera_info", s * 10**9)] for s in (1, 2, 3))
    assert all("image encoding 'mono16'" in reasons[("/cam/image_raw", s * 10**9)] for s in (1, 2, 3))
    assert len(faults) == 7
    skipped = [job.skipped for job in jobs if job.skipped]
    assert skipped == ["lidar frame 'velodyne' is not connected to 'base_link'"] * 2


def test_rosbag1_and_ambiguous_bags_are_clear_errors(tmp_path):
    rosbag1 = tmp_path / "drive.bag"
    rosbag1.write_bytes(b"#ROSBAG V2.0\n" + bytes(100))
    with pytest.raises(DataError, match="ROS 1 bag .rosbag1. is out of scope"):
        McapSource(rosbag1, TopicMap())
    with pytest.raises(DataError, match="several point cloud topics .*/front/points, /rear/points"):
        McapSource(write_two_cloud_bag(tmp_path / "two.mcap"), TopicMap())


def write_two_cloud_bag(path):
    """A ROS 2 bag with an empty point cloud on each of /front/points and /rear/points."""
    with open(path, "wb") as file:
        writer = Writer(file)
        schema = writer.register_msgdef("sensor_msgs/msg/PointCloud2", SCHEMAS["sensor_msgs/msg/PointCloud2"])
        for topic in ("/front/points", "/rear/points"):
            writer.write_message(topic, schema, cloud_xyzirt_empty(), 1)
        writer.finish()
    return path


def cloud_xyzirt_empty() -> dict:
    return cloud_xyzirt(LidarSweep(1, "velodyne", np.zeros((0, 4), np.float32)))


def test_to_mcap_ros2_round_trip_and_marker_output(synth_root, weights, tmp_path):
    """``data to-mcap --format ros2`` writes a ROS 2 bag that replays to the tables' results; the output recording
    carries the boxes as a Foxglove SceneUpdate and as a ROS 2 MarkerArray."""
    recording = run_to_mcap(parse(add_to_mcap_arguments, "--dataroot", synth_root, "--version", SYNTH_VERSION,
                                  "--out", tmp_path / "scene.mcap", "--format", "ros2"))
    with open(recording, "rb") as file:
        reader = make_reader(file)
        summary = reader.get_summary()
        schemas = {summary.schemas[c.schema_id].name for c in summary.channels.values()}
        assert {c.message_encoding for c in summary.channels.values()} == {"cdr"}
        assert schemas == {"sensor_msgs/msg/PointCloud2", "sensor_msgs/msg/CompressedImage",
                           "sensor_msgs/msg/CameraInfo", "tf2_msgs/msg/TFMessage",
                           "visualization_msgs/msg/MarkerArray"}  # ground truth
    assert (tmp_path / "scene.layout.json").is_file()
    direct = run_replay(parse(add_replay_arguments, "--source", "nuscenes", "--dataroot", synth_root, "--version",
                              SYNTH_VERSION, "--checkpoint", weights, "--out", tmp_path / "direct", "--device", "cpu"))
    replayed = replay_mcap(recording, weights, tmp_path / "bag")
    assert replayed["frames"] == direct["frames"]
    assert_same_results(results_of(tmp_path / "bag"), results_of(tmp_path / "direct"))
    with open(tmp_path / "bag" / "detections.mcap", "rb") as file:
        decoded = list(make_reader(file, decoder_factories=[Ros2Decoders(), ProtobufDecoders()])
                       .iter_decoded_messages(topics=["/detections", "/detections/markers"]))
    markers = [m for _, c, _, m in decoded if c.topic == "/detections/markers"]
    updates = [m for _, c, _, m in decoded if c.topic == "/detections"]
    assert len(markers) == len(updates) == 3
    for array, update in zip(markers, updates):
        assert len(array.markers) == 1 + 2 * len(update.entities)
        assert array.markers[0].action == 3 and array.markers[1].header.frame_id == "base_link"


def test_bag_without_camera_info_replays_lidar_only(scene, weights, tmp_path, caplog):
    """A camera without CameraInfo is skipped with a warning naming its topic; with no other camera the bag
    replays lidar-only."""
    dataset, name, keyframes = scene
    layout = BagLayout("xyzirt", "/LIDAR_TOP", "/{}/image_rect_compressed", raw_cameras=("CAM_BACK",),
                       left_out=("CAM_FRONT",), without_info=("CAM_BACK",))
    path = write_bag(NuScenesSource(dataset, name, TopicMap()), layout, tmp_path / "lidar_only.mcap", keyframes)
    summary = replay_mcap(path, weights, tmp_path / "replay")
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == ["camera topic /CAM_BACK/image_raw has no CameraInfo topic in its namespace: skipped"]
    assert summary["frames"] == {"detected": 3, "dropped": 0, "skipped": 0, "camera_only": 0}
    assert summary["missing_cameras"] == {} and summary["faults"]["corrupt"] == 0


def test_equidistant_camera_info_is_resampled_to_its_pinhole_camera():
    """A fisheye CameraInfo keeps K and its k1..k4; the image is resampled so that a point lands where the pinhole
    camera of the same K projects it."""
    k = np.array([[200.0, 0, 160], [0, 200.0, 120], [0, 0, 1]])
    d = np.array([0.1, -0.05, 0.01, 0.0])
    message = SimpleNamespace(k=list(k.reshape(9)), d=list(d), distortion_model="equidistant", width=320, height=240,
                              header=SimpleNamespace(stamp=SimpleNamespace(sec=1, nanosec=0), frame_id="/cam"))
    info = ros2_decode.camera_info(message, 0, "cam", "cam")
    assert info.fisheye and info.frame_id == "cam" and np.array_equal(info.distortion, d)
    point = np.array([[[0.4, -0.3, 1.0]]])
    fisheye_pixel = cv2.fisheye.projectPoints(point, np.zeros(3), np.zeros(3), k, d)[0].reshape(2)
    image = np.zeros((240, 320, 3), np.uint8)
    cv2.circle(image, tuple(int(round(v)) for v in fisheye_pixel), 3, (255, 255, 255), -1)
    rows, columns = np.nonzero(pinhole_view(image, info)[..., 0] > 128)
    pinhole_pixel = (k @ point.reshape(3))[:2]
    np.testing.assert_allclose([columns.mean(), rows.mean()], pinhole_pixel, atol=1.5)


def test_topic_yaml_picks_the_lidar_among_several_clouds(tmp_path):
    path = write_two_cloud_bag(tmp_path / "two.mcap")
    config = tmp_path / "topics.yaml"
    config.write_text("lidar: /rear/points\n")
    source = McapSource(path, load_topic_map(config))
    assert source.roles.role_of("/rear/points", "sensor_msgs/msg/PointCloud2") == ("lidar", "")
    assert source.roles.role_of("/front/points", "sensor_msgs/msg/PointCloud2") is None


def test_ego_pose_through_odom_composes_the_chain():
    """map → odom (latest value) composed with odom → base_link over time; base_link → sensor mounts beneath."""
    buffer = TransformBuffer("map", "base_link")
    quarter_turn = np.array([np.cos(np.pi / 8), 0, 0, np.sin(np.pi / 8)])
    buffer.add(Transform(0, "map", "odom", np.array([10.0, 0, 0]), quarter_turn))
    buffer.add(Transform(0, "base_link", "mount", np.array([0, 0, 1.0]), np.array([1.0, 0, 0, 0])))
    buffer.add(Transform(0, "mount", "lidar", np.array([0.5, 0, 0]), np.array([1.0, 0, 0, 0])))
    for time_ns, x in ((0, 0.0), (10**9, 2.0)):
        buffer.add(Transform(time_ns, "odom", "base_link", np.array([x, 0, 0]), np.array([1.0, 0, 0, 0])))
    pose = buffer.world_from_ego(5 * 10**8)  # halfway: 1 m along odom's x, which is map's x rotated by 45°
    np.testing.assert_allclose(pose[:3, 3], [10 + np.sqrt(0.5), np.sqrt(0.5), 0], atol=1e-12)
    np.testing.assert_allclose(buffer.ego_from("lidar")[:3, 3], [0.5, 0, 1.0])


def test_real_keyframe_as_ros2_bag_gives_the_loaders_frame(real_nuscenes_root, tmp_path):
    recording = run_to_mcap(parse(add_to_mcap_arguments, "--dataroot", real_nuscenes_root, "--version", REAL_VERSION,
                                  "--out", tmp_path / "real.mcap", "--format", "ros2"))
    dataset = NuScenesDataset(real_nuscenes_root, REAL_VERSION, num_sweeps=NUM_SWEEPS)
    [job] = synced_jobs(McapSource(recording, TopicMap()), keyframes_only=True)
    assert_same_frame(job.frame, dataset.frame(job.sample_token))
    assert len(job.frame.images) == 6 and job.frame.images["CAM_FRONT"].shape == (900, 1600, 3)
