"""The replay's transform tree: slerp, ego poses between and just past the recorded ones, static sensor mounts."""
import math

import numpy as np
import pytest

from calib.se3 import make_transform, yaw_of, yaw_rotation
from perception.replay.events import Transform
from perception.replay.transforms import MAX_EXTRAPOLATION_NS, TransformBuffer, slerp_wxyz

MS = 1_000_000


def yaw_quaternion(yaw: float) -> np.ndarray:
    """(w, x, y, z) of a rotation by ``yaw`` about +z."""
    return np.array([math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2)])


def pose(time_ns: int, yaw: float, translation) -> Transform:
    return Transform(time_ns, "map", "base_link", np.asarray(translation, float), yaw_quaternion(yaw))


def test_slerp_turns_at_a_constant_rate_along_the_shorter_arc():
    q0, q1 = yaw_quaternion(0.0), yaw_quaternion(math.pi / 2)
    # A quarter of the way from 0 to 90°: 22.5°. Normalised linear interpolation would give 2·atan(0.1768/0.9268)
    # = 21.6°.
    np.testing.assert_allclose(slerp_wxyz(q0, q1, 0.25), yaw_quaternion(math.pi / 8), atol=1e-12)
    np.testing.assert_allclose(slerp_wxyz(q0, q1, 0.0), q0, atol=1e-12)
    np.testing.assert_allclose(slerp_wxyz(q0, q1, 1.0), q1, atol=1e-12)
    # −q1 is the same rotation: still 22.5°, not the long way round (which passes through −157.5°).
    np.testing.assert_allclose(slerp_wxyz(q0, -q1, 0.25), yaw_quaternion(math.pi / 8), atol=1e-12)
    # Unnormalised input is normalised.
    np.testing.assert_allclose(slerp_wxyz(2 * q0, 3 * q1, 0.5), yaw_quaternion(math.pi / 4), atol=1e-12)
    # Nearly equal rotations (0.01 rad apart): the linear branch, still at the right angle.
    np.testing.assert_allclose(slerp_wxyz(q0, yaw_quaternion(0.01), 0.5), yaw_quaternion(0.005), atol=1e-9)


def buffer_with_two_poses() -> TransformBuffer:
    """Poses at 1.0 s (yaw 0, at the origin) and 1.1 s (yaw 90°, at x = 10 m), added out of order."""
    transforms = TransformBuffer("map", "base_link")
    transforms.add(pose(1100 * MS, math.pi / 2, [10.0, 0.0, 2.0]))
    transforms.add(pose(1000 * MS, 0.0, [0.0, 0.0, 0.0]))
    return transforms


def test_pose_between_two_recorded_ones_is_interpolated():
    transforms = buffer_with_two_poses()
    at = transforms.world_from_ego(1025 * MS)  # a quarter of the way: 2.5 m, 22.5°
    np.testing.assert_allclose(at, make_transform(yaw_rotation(math.pi / 8), [2.5, 0.0, 0.5]), atol=1e-12)
    three_quarters = transforms.world_from_ego(1075 * MS)
    assert yaw_of(three_quarters[:3, :3]) == pytest.approx(3 * math.pi / 8)
    np.testing.assert_allclose(three_quarters[:3, 3], [7.5, 0.0, 1.5], atol=1e-12)
    np.testing.assert_allclose(transforms.world_from_ego(1100 * MS),
                               make_transform(yaw_rotation(math.pi / 2), [10.0, 0.0, 2.0]), atol=1e-12)


def test_pose_just_outside_the_recorded_span_is_the_nearest_one_and_further_out_none():
    assert MAX_EXTRAPOLATION_NS == 100 * MS
    transforms = buffer_with_two_poses()
    first, last = np.eye(4), make_transform(yaw_rotation(math.pi / 2), [10.0, 0.0, 2.0])
    np.testing.assert_allclose(transforms.world_from_ego(950 * MS), first, atol=1e-12)
    np.testing.assert_allclose(transforms.world_from_ego(900 * MS), first, atol=1e-12)   # exactly at the limit
    np.testing.assert_allclose(transforms.world_from_ego(1150 * MS), last, atol=1e-12)
    np.testing.assert_allclose(transforms.world_from_ego(1200 * MS), last, atol=1e-12)
    assert transforms.world_from_ego(900 * MS - 1) is None
    assert transforms.world_from_ego(1200 * MS + 1) is None
    assert TransformBuffer("map", "base_link").world_from_ego(0) is None


def test_a_pose_recorded_twice_at_one_time_keeps_the_newer_message():
    transforms = buffer_with_two_poses()
    transforms.add(pose(1000 * MS, 0.0, [1.0, 0.0, 0.0]))
    np.testing.assert_allclose(transforms.world_from_ego(1000 * MS)[:3, 3], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(transforms.world_from_ego(1050 * MS)[:3, 3], [5.5, 0.0, 1.0], atol=1e-12)


def test_static_mounts_chain_up_to_ego():
    transforms = TransformBuffer("map", "base_link")
    transforms.add(Transform(0, "base_link", "roof", np.array([1.0, 0.0, 1.5]), yaw_quaternion(math.pi / 2)))
    transforms.add(Transform(0, "roof", "lidar", np.array([0.5, 0.0, 0.2]), yaw_quaternion(0.0)))
    # lidar origin: 0.5 m along the roof's x, which is ego +y → ego (1, 0.5, 1.7); heading 90°.
    np.testing.assert_allclose(transforms.ego_from("lidar"),
                               make_transform(yaw_rotation(math.pi / 2), [1.0, 0.5, 1.7]), atol=1e-12)
    np.testing.assert_allclose(transforms.ego_from("base_link"), np.eye(4))
    assert transforms.ego_from("camera") is None
    transforms.add(Transform(0, "lidar", "roof", np.zeros(3), yaw_quaternion(0.0)))  # a loop: not connected
    assert transforms.ego_from("lidar") is None
