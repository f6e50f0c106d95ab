"""The sensor synchroniser on hand-made event streams: when a sweep is released, which image it gets."""
import cv2
import numpy as np

from perception.replay.events import CameraImage, CameraInfo, LidarSweep, Transform
from perception.replay.sync import REORDER_SLACK_NS, Synchronizer
from perception.replay.transforms import TransformBuffer

MS = 1_000_000
TOLERANCE_NS = 50 * MS
PNG = cv2.imencode(".png", np.zeros((2, 3, 3), np.uint8))[1].tobytes()


def synchronizer(num_sweeps: int = 2) -> Synchronizer:
    return Synchronizer(TransformBuffer("map", "base_link"), num_sweeps, TOLERANCE_NS, keyframes_only=False)


def sweep(time_ns: int, token: str = "") -> LidarSweep:
    return LidarSweep(time_ns, "lidar", np.zeros((0, 4), np.float32), token)


def image(time_ns: int, camera: str = "CAM_FRONT", data: bytes = PNG) -> CameraImage:
    return CameraImage(time_ns, camera, camera.lower(), data, "png")


def info(camera: str = "CAM_FRONT") -> CameraInfo:
    return CameraInfo(0, camera, camera.lower(), np.eye(3), 3, 2)


def tick(time_ns: int) -> Transform:
    """An ego pose: a message that only moves the recording's clock on."""
    return Transform(time_ns, "map", "base_link", np.zeros(3), np.array([1.0, 0.0, 0.0, 0.0]))


def test_a_sweep_waits_tolerance_plus_reorder_slack_for_late_images():
    """An image 20 ms after the sweep that is logged after a message 100 ms after it still pairs with the sweep:
    the sweep is held until the clock is 50 ms + 100 ms past it, and released at exactly that time."""
    assert REORDER_SLACK_NS == 100 * MS
    sync = synchronizer()
    assert sync.push(info()) == []
    assert sync.push(sweep(1000 * MS)) == []
    assert sync.push(tick(1100 * MS)) == []           # past the tolerance, not past the slack
    assert sync.push(image(1020 * MS)) == []          # logged late, taken 20 ms after the sweep
    assert sync.push(tick(1149 * MS)) == []
    [synced] = sync.push(tick(1150 * MS))
    assert synced.sweep.time_ns == 1000 * MS and synced.missing == []
    assert synced.images["CAM_FRONT"][0].time_ns == 1020 * MS
    assert sync.finish() == []


def test_of_two_equally_near_images_the_newer_one_is_chosen():
    sync = synchronizer()
    sync.push(info())
    sync.push(info("CAM_BACK"))
    for event in (image(980 * MS), image(990 * MS, "CAM_BACK"), sweep(1000 * MS), image(1020 * MS),
                  image(1010 * MS, "CAM_BACK"), image(1005 * MS, "CAM_BACK")):
        assert sync.push(event) == []
    [synced] = sync.finish()
    assert synced.images["CAM_FRONT"][0].time_ns == 1020 * MS   # −20 and +20 ms: the newer
    assert synced.images["CAM_BACK"][0].time_ns == 1005 * MS    # −10, +10 and +5 ms: the nearest


def test_images_exactly_at_the_tolerance_count_and_one_nanosecond_more_do_not():
    sync = synchronizer()
    for camera in ("CAM_FRONT", "CAM_BACK", "CAM_LEFT"):
        sync.push(info(camera))
    for event in (image(950 * MS), image(950 * MS - 1, "CAM_BACK"), sweep(1000 * MS),
                  image(1050 * MS + 1, "CAM_BACK"), image(1050 * MS, "CAM_LEFT")):
        sync.push(event)
    [synced] = sync.finish()
    assert synced.images["CAM_FRONT"][0].time_ns == 950 * MS
    assert synced.images["CAM_LEFT"][0].time_ns == 1050 * MS
    assert synced.missing == ["CAM_BACK"]


def test_a_corrupt_nearest_image_falls_back_to_the_next_nearest_and_is_reported_once():
    sync = synchronizer()
    sync.push(info())
    for event in (image(990 * MS, data=b"not a png"), sweep(1000 * MS), sweep(1005 * MS), image(1030 * MS)):
        sync.push(event)
    first, second = sync.finish()
    assert first.images["CAM_FRONT"][0].time_ns == second.images["CAM_FRONT"][0].time_ns == 1030 * MS
    assert [fault.kind for fault in first.faults] == ["corrupt"]
    assert second.faults == []  # forgotten after the first report, though it is the second sweep's nearest too


def test_past_sweeps_are_the_nearest_earlier_ones_newest_first():
    sync = synchronizer(num_sweeps=2)
    released = []
    for time_ms in (0, 50, 100, 150, 200, 250, 400):
        released += sync.push(sweep(time_ms * MS))
    released += sync.finish()
    assert [s.sweep.time_ns // MS for s in released] == [0, 50, 100, 150, 200, 250, 400]
    assert [[p.time_ns // MS for p in s.past] for s in released] == [
        [], [0], [50, 0], [100, 50], [150, 100], [200, 150], [250, 200]]
