"""nuScenes results entries: the conversion of one hand-made box, and the per-sample box limit at its edge."""
import math

import numpy as np
import pytest

from calib.se3 import make_transform, yaw_rotation
from perception.boxes import Boxes3D
from perception.data.classes import CLASS_INDEX
from perception.errors import DataError
from perception.data.results import MAX_BOXES_PER_SAMPLE, boxes_to_results, read_results, write_results


def cars(count: int) -> Boxes3D:
    rows = np.zeros((count, 9))
    rows[:, 0] = np.arange(count)  # one box per metre along x
    rows[:, 3:6] = [4.0, 2.0, 1.5]
    return Boxes3D(rows, np.full(count, CLASS_INDEX["car"]), scores=np.linspace(0.9, 0.1, count))


def test_a_box_becomes_the_hand_computed_entry():
    """Ego box at (1, 2, 0.5), yaw 0, moving 1 m/s forward, velocity of the second unknown; the ego pose turns 90°
    left and sits at (10, 0, 0): the centre goes to (10 − 2, 1, 0.5), the yaw to 90° (quaternion (cos 45°, 0, 0,
    sin 45°)), the velocity to (0, 1); sizes are written (w, l, h) and an unknown velocity as 0."""
    boxes = Boxes3D(np.array([[1.0, 2.0, 0.5, 4.0, 2.0, 1.5, 0.0, 1.0, 0.0],
                              [0.0, 0.0, 0.0, 0.6, 0.7, 1.8, 0.0, math.nan, math.nan]]),
                    np.array([CLASS_INDEX["car"], CLASS_INDEX["pedestrian"]]), scores=np.array([0.75, 0.5]))
    car, pedestrian = boxes_to_results(boxes, make_transform(yaw_rotation(math.pi / 2), [10.0, 0.0, 0.0]), "tok")
    np.testing.assert_allclose(car["translation"], [8.0, 1.0, 0.5], atol=1e-12)
    assert car["size"] == [2.0, 4.0, 1.5]
    np.testing.assert_allclose(car["rotation"], [math.cos(math.pi / 4), 0.0, 0.0, math.sin(math.pi / 4)], atol=1e-12)
    np.testing.assert_allclose(car["velocity"], [0.0, 1.0], atol=1e-12)
    assert (car["detection_name"], car["detection_score"], car["attribute_name"]) == ("car", 0.75, "vehicle.parked")
    assert pedestrian["velocity"] == [0.0, 0.0] and pedestrian["attribute_name"] == "pedestrian.standing"
    assert pedestrian["size"] == [0.7, 0.6, 1.8]


def test_exactly_500_boxes_per_sample_are_allowed_and_501_are_not(tmp_path):
    """The devkit (detection_cvpr_2019) allows up to and including 500 boxes per sample."""
    assert MAX_BOXES_PER_SAMPLE == 500
    path = tmp_path / "results.json"
    full = {"a": boxes_to_results(cars(500), np.eye(4), "a")}
    write_results(path, full, use_camera=True, use_lidar=True)
    assert len(read_results(path, ["a"])["results"]["a"]) == 500
    with pytest.raises(DataError, match=r"results\['a'\] has 501 boxes: at most 500 allowed"):
        write_results(tmp_path / "over.json", {"a": boxes_to_results(cars(501), np.eye(4), "a")}, True, True)
    assert not (tmp_path / "over.json").exists()
