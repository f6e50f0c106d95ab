"""The transform tree of a recording: the ego pose over time (world → ego) and static sensor mounts under ego.

The ego pose may come as world → ego or through an intermediate frame, as ROS publishes it (map → odom → base_link:
odom → base_link over time, map → odom held at its latest value); a recording with no link from that frame to
the world frame (odom only) uses it as the world.
"""
from __future__ import annotations

import bisect

import numpy as np

from calib.se3 import make_transform, quaternion_to_rotation
from perception.replay.events import NS, Transform

MAX_EXTRAPOLATION_NS = NS // 10  # an ego pose this far past the first or last recorded one is still used


def slerp_wxyz(q0: np.ndarray, q1: np.ndarray, fraction: float) -> np.ndarray:
    """Spherical interpolation between unit quaternions (4,) in (w, x, y, z) order, along the shorter arc."""
    q0, q1 = q0 / np.linalg.norm(q0), q1 / np.linalg.norm(q1)
    dot = float(np.dot(q0, q1))
    if dot < 0:
        q1, dot = -q1, -dot
    if dot > 0.9995:  # nearly equal: linear interpolation is exact enough and avoids dividing by sin(≈0)
        q = q0 + fraction * (q1 - q0)
        return q / np.linalg.norm(q)
    angle = np.arccos(dot)
    return (np.sin((1 - fraction) * angle) * q0 + np.sin(fraction * angle) * q1) / np.sin(angle)


class TransformBuffer:
    """Ego poses ``world_from_ego`` by time and the latest static ``parent_from_child`` of every other frame."""

    def __init__(self, world_frame: str, ego_frame: str):
        self.world_frame, self.ego_frame = world_frame, ego_frame
        self._times: list[int] = []
        self._poses: list[Transform] = []
        self._static: dict[str, Transform] = {}  # child frame → transform from its parent

    def add(self, transform: Transform) -> None:
        if transform.child == self.ego_frame:
            index = bisect.bisect_left(self._times, transform.time_ns)
            if index < len(self._times) and self._times[index] == transform.time_ns:
                self._poses[index] = transform
            else:
                self._times.insert(index, transform.time_ns)
                self._poses.insert(index, transform)
        else:
            self._static[transform.child] = transform

    def world_from_ego(self, time_ns: int) -> np.ndarray | None:
        """(4, 4) ego pose at ``time_ns``: the recorded one at that time exactly, else interpolated between its
        neighbours (translation linearly, rotation by slerp); None when no pose lies within reach."""
        parent_from_ego = self._parent_from_ego(time_ns)
        if parent_from_ego is None:
            return None
        parent = self._poses[0].parent
        return parent_from_ego if parent == self.world_frame else self._world_from(parent) @ parent_from_ego

    def _parent_from_ego(self, time_ns: int) -> np.ndarray | None:
        """(4, 4) ego pose in its recorded parent frame at ``time_ns`` (see ``world_from_ego``)."""
        times = self._times
        index = bisect.bisect_left(times, time_ns)
        if index < len(times) and times[index] == time_ns:
            return self._poses[index].parent_from_child
        if not times or time_ns < times[0] - MAX_EXTRAPOLATION_NS or time_ns > times[-1] + MAX_EXTRAPOLATION_NS:
            return None
        if index == 0 or index == len(times):
            return self._poses[min(index, len(times) - 1)].parent_from_child
        before, after = self._poses[index - 1], self._poses[index]
        fraction = (time_ns - before.time_ns) / (after.time_ns - before.time_ns)
        translation = (1 - fraction) * before.translation + fraction * after.translation
        rotation = quaternion_to_rotation(slerp_wxyz(before.rotation_wxyz, after.rotation_wxyz, fraction))
        return make_transform(rotation, translation)

    def _world_from(self, frame: str) -> np.ndarray:
        """(4, 4) ``world_from_frame`` through the latest transforms; identity when ``frame`` has no link to the
        world frame (it is then taken as the world)."""
        pose, seen = np.eye(4), set()
        while frame != self.world_frame:
            if frame in seen or frame not in self._static:
                return np.eye(4)
            seen.add(frame)
            link = self._static[frame]
            pose, frame = link.parent_from_child @ pose, link.parent
        return pose

    def ego_from(self, frame: str) -> np.ndarray | None:
        """(4, 4) ``ego_from_frame`` through the static transforms, or None when ``frame`` is not connected to ego."""
        pose, seen = np.eye(4), set()
        while frame != self.ego_frame:
            if frame in seen or frame not in self._static:
                return None
            seen.add(frame)
            link = self._static[frame]
            pose, frame = link.parent_from_child @ pose, link.parent
        return pose
