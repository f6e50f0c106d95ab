"""Planar motion of the ego and the actors: speed profiles and trajectories (standing still,
following the road at a lateral offset, walking across it), each giving poses ``[x, y, yaw]`` and
velocities at any times.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Protocol

import numpy as np

from calib.se3 import wrap_angle
from perception.sim.road import Road


@dataclasses.dataclass(frozen=True)
class SpeedProfile:
    """Speed ``v0`` at t = 0 changing at ``accel`` until it reaches ``v_min``/``v_max``.
    Before t = 0 the speed is constant ``v0``."""

    v0: float
    accel: float = 0.0
    v_min: float = 0.0
    v_max: float = math.inf

    def _limit_time(self) -> tuple[float, float]:
        v_lim = self.v_max if self.accel > 0 else self.v_min
        return max((v_lim - self.v0) / self.accel, 0.0), v_lim

    def speed(self, t) -> np.ndarray:
        t = np.asarray(t, np.float64)
        if self.accel == 0.0:
            return np.full(t.shape, self.v0)
        t_lim, v_lim = self._limit_time()
        return np.where(t <= 0, self.v0, np.where(t < t_lim, self.v0 + self.accel * t, v_lim))

    def distance(self, t) -> np.ndarray:
        """Path distance travelled since t = 0 (negative before)."""
        t = np.asarray(t, np.float64)
        if self.accel == 0.0:
            return self.v0 * t
        t_lim, v_lim = self._limit_time()
        tc = np.clip(t, 0.0, t_lim)
        ramp = self.v0 * tc + 0.5 * self.accel * tc**2
        return np.where(t <= 0, self.v0 * t, ramp + v_lim * np.maximum(t - t_lim, 0.0))


class Trajectory(Protocol):
    """Planar motion: ``poses(t)`` -> (T, 3) [x, y, yaw]; ``velocities(t)`` -> (T, 2)."""

    is_static: bool

    def poses(self, t: np.ndarray) -> np.ndarray: ...

    def velocities(self, t: np.ndarray) -> np.ndarray: ...


@dataclasses.dataclass(frozen=True)
class Stationary:
    """A fixed pose."""

    x: float
    y: float
    yaw: float
    is_static = True

    def poses(self, t):
        t = np.atleast_1d(t)
        return np.tile([self.x, self.y, float(wrap_angle(self.yaw))], (len(t), 1))

    def velocities(self, t):
        return np.zeros((len(np.atleast_1d(t)), 2))


@dataclasses.dataclass(frozen=True)
class LaneFollowing:
    """Motion along the road-parallel path at lateral offset ``d``; ``s0`` is the centreline
    arc length at t = 0 and ``profile`` gives the distance travelled along the path."""

    road: Road
    s0: float
    d: float
    direction: int
    profile: SpeedProfile
    is_static = False

    def centre_s(self, t) -> np.ndarray:
        stretch = 1.0 - self.road.curvature * self.d
        return self.s0 + self.direction * self.profile.distance(t) / stretch

    def poses(self, t):
        t = np.atleast_1d(np.asarray(t, np.float64))
        s = self.centre_s(t)
        xy = self.road.point(s, self.d)
        yaw = self.road.heading(s) + (0.0 if self.direction > 0 else math.pi)
        return np.column_stack([xy, wrap_angle(yaw)])

    def velocities(self, t):
        t = np.atleast_1d(np.asarray(t, np.float64))
        yaw = self.poses(t)[:, 2]
        v = self.profile.speed(t)
        return np.column_stack([v * np.cos(yaw), v * np.sin(yaw)])


@dataclasses.dataclass(frozen=True)
class CrossingWalk:
    """Stand at ``start`` until ``t_start``, walk straight to ``end`` at ``speed``, then stand."""

    start: tuple[float, float]
    end: tuple[float, float]
    t_start: float
    speed: float
    is_static = False

    def _geometry(self):
        start, end = np.asarray(self.start), np.asarray(self.end)
        length = float(np.linalg.norm(end - start))
        return start, (end - start) / length, length

    def poses(self, t):
        t = np.atleast_1d(np.asarray(t, np.float64))
        start, u, length = self._geometry()
        travelled = np.clip(self.speed * (t - self.t_start), 0.0, length)
        xy = start + travelled[:, None] * u
        return np.column_stack([xy, np.full(len(t), math.atan2(u[1], u[0]))])

    def velocities(self, t):
        t = np.atleast_1d(np.asarray(t, np.float64))
        start, u, length = self._geometry()
        walking = (t > self.t_start) & (t < self.t_start + length / self.speed)
        return walking[:, None] * (self.speed * u)
