"""``replay --source kitti``: a raw drive built from the real KITTI object frames, and the object layout itself."""
import numpy as np
from mcap.reader import make_reader
from mcap_protobuf.decoder import DecoderFactory

from calib import project_boxes
from calib.kitti import EGO_FROM_VELO, read_kitti_calib, rect_from_velo
from calib.se3 import invert
from perception.data.kitti import KITTI_CLASSES, read_kitti_labels
from perception.data.kitti_raw import EARTH_RADIUS_M
from perception.replay.kitti_source import CAMERA, KittiSource
from perception.replay.topics import TopicMap
from tests.test_replay import add_replay_arguments, parse, results_of, run_replay, synced_jobs, weights  # noqa: F401

DRIVE_FRAMES = ("000001", "000002", "000003")  # one calibration: they come from the same recording day
FRAME_GAP_S = 3  # the frames are unrelated scenes: far enough apart in time that none accumulates another
STEP_M = 5.0     # the vehicle drives this far east between frames


def kitti_time(seconds: float) -> str:
    whole = int(seconds)
    return f"2011-09-26 13:{whole // 60:02d}:{whole % 60:02d}.{round((seconds - whole) * 1e9):09d}"


def matrix_line(key: str, values) -> str:
    return f"{key}: " + " ".join(f"{v:.12e}" for v in np.asarray(values).reshape(-1))


def build_raw_drive(kitti_root, out):
    """A raw drive folder (date folder with the calibration, drive with velodyne_points, image_02, oxts) holding
    the object frames DRIVE_FRAMES, driving east at STEP_M per frame."""
    training = kitti_root / "training"
    calib = read_kitti_calib(training / "calib" / f"{DRIVE_FRAMES[0]}.txt")
    imu_to_velo = [line for line in (training / "calib" / f"{DRIVE_FRAMES[0]}.txt").read_text().splitlines()
                   if line.startswith("Tr_imu_to_velo")][0].split(":")[1].split()
    imu_to_velo = np.asarray(imu_to_velo, float).reshape(3, 4)
    date = out / "2011_09_26"
    drive = date / "2011_09_26_drive_0001_sync"
    width, height = 1242, 375
    (date / "calib_cam_to_cam.txt").parent.mkdir(parents=True)
    (date / "calib_cam_to_cam.txt").write_text("\n".join(
        [matrix_line(f"P_rect_0{i}", calib[f"P{i}"]) for i in range(4)]
        + [matrix_line("R_rect_00", calib["R0_rect"]), matrix_line("S_rect_02", [width, height])]) + "\n")
    (date / "calib_velo_to_cam.txt").write_text(matrix_line("R", calib["Tr_velo_to_cam"][:, :3]) + "\n"
                                                + matrix_line("T", calib["Tr_velo_to_cam"][:, 3]) + "\n")
    (date / "calib_imu_to_velo.txt").write_text(matrix_line("R", imu_to_velo[:, :3]) + "\n"
                                                + matrix_line("T", imu_to_velo[:, 3]) + "\n")
    lat = 49.0
    step_lon = np.degrees(STEP_M / (np.cos(np.radians(lat)) * EARTH_RADIUS_M))
    for folder in ("velodyne_points/data", "image_02/data", "oxts/data"):
        (drive / folder).mkdir(parents=True)
    times = [kitti_time(FRAME_GAP_S * i) for i in range(len(DRIVE_FRAMES))]
    for sensor in ("velodyne_points", "image_02", "oxts"):
        (drive / sensor / "timestamps.txt").write_text("\n".join(times) + "\n")
    for i, frame in enumerate(DRIVE_FRAMES):
        (drive / "velodyne_points" / "data" / f"{i:010d}.bin").symlink_to(training / "velodyne" / f"{frame}.bin")
        (drive / "image_02" / "data" / f"{i:010d}.png").symlink_to(training / "image_2" / f"{frame}.png")
        oxts = [lat, 8.4 + i * step_lon, 110.0, 0.0, 0.0, 0.0] + [0.0] * 24
        (drive / "oxts" / "data" / f"{i:010d}.txt").write_text(" ".join(map(str, oxts)) + "\n")
    return drive


def label_rectangles(path) -> list[tuple[str, np.ndarray]]:
    """(type, x1 y1 x2 y2) of the untruncated, fully visible objects of a label file with a detection class."""
    rows = [line.split() for line in path.read_text().splitlines()]
    return [(r[0], np.asarray(r[4:8], float)) for r in rows
            if r[0] in KITTI_CLASSES and float(r[1]) == 0 and int(r[2]) == 0]


def assert_boxes_land_on_labels(frame, boxes, label_path):
    """Every fully visible labelled box, projected through the frame's camera, covers its 2D label rectangle."""
    pixels, _, visible = project_boxes(frame.rig.cameras[CAMERA], boxes.boxes)
    projected = [np.concatenate([p.min(axis=0), p.max(axis=0)]) for p in pixels]
    rectangles = label_rectangles(label_path)
    assert rectangles and visible.all()
    for _, rectangle in rectangles:
        error = min(np.abs(box - rectangle).max() for box in projected)
        assert error < 12, f"{label_path.name}: no projected box within 12 px of {rectangle} (best {error:.1f})"


def test_raw_drive_replays_and_boxes_land_on_labels(kitti_root, weights, tmp_path):
    drive = build_raw_drive(kitti_root, tmp_path)
    jobs = synced_jobs(KittiSource(drive, TopicMap()), keyframes_only=False)
    assert len(jobs) == len(DRIVE_FRAMES)
    for i, (job, frame_id) in enumerate(zip(jobs, DRIVE_FRAMES)):
        frame = job.frame
        assert frame.images[CAMERA].shape == (375, 1242, 3) and (frame.points[:, 4] == 0).all()
        if i == 0:  # the world is the first pose's ego frame
            np.testing.assert_allclose(frame.global_from_ego, np.eye(4), atol=1e-9)
        calib = read_kitti_calib(kitti_root / "training" / "calib" / f"{frame_id}.txt")
        labels = kitti_root / "training" / "label_2" / f"{frame_id}.txt"
        ego_from_rect = EGO_FROM_VELO @ invert(rect_from_velo(calib))
        assert_boxes_land_on_labels(frame, read_kitti_labels(labels, ego_from_rect), labels)
    moved = [jobs[i].frame.global_from_ego[:3, 3] for i in range(len(jobs))]
    np.testing.assert_allclose(np.linalg.norm(np.diff(moved, axis=0), axis=1), STEP_M, atol=0.01)

    summary = run_replay(parse(add_replay_arguments, "--source", "kitti", "--input", drive, "--checkpoint", weights,
                               "--out", tmp_path / "replay", "--device", "cpu"))
    assert summary["frames"]["detected"] == len(DRIVE_FRAMES) and summary["scene"] == drive.name
    assert sorted(results_of(tmp_path / "replay")) == [f"{drive.name}-{i:010d}" for i in range(len(DRIVE_FRAMES))]


def test_object_layout_replays_with_its_labels_as_ground_truth(kitti_root, weights, tmp_path):
    jobs = synced_jobs(KittiSource(kitti_root, TopicMap()), keyframes_only=False)
    assert [job.sample_token for job in jobs] == [f"kitti-training-00000{i}" for i in range(4)]
    for job in jobs:
        labels = kitti_root / "training" / "label_2" / f"{job.sample_token[-6:]}.txt"
        assert job.frame.points[:, 4].max() == 0  # no frame accumulates another's sweep
        assert_boxes_land_on_labels(job.frame, job.frame.boxes, labels)
    summary = run_replay(parse(add_replay_arguments, "--source", "kitti", "--input", kitti_root, "--checkpoint",
                               weights, "--out", tmp_path / "replay", "--device", "cpu"))
    assert summary["frames"]["detected"] == 4 and summary["faults"]["unreadable"] == 0
    with open(tmp_path / "replay" / "detections.mcap", "rb") as file:
        truth = [proto for _, _, _, proto in make_reader(file, decoder_factories=[DecoderFactory()])
                 .iter_decoded_messages(topics=["/ground_truth"])]
    assert [len(update.entities) for update in truth] == [len(job.frame.boxes) for job in jobs]
