"""Actor placement without interpenetration: footprints of everything placed so far over a time grid
(``Occupancy``) with a separating-axis overlap test, and ``ActorPlacer``, which populates a road with
parked and moving vehicles, construction zones, cyclists and pedestrians, rejecting any actor that
would overlap another (or the space around the ego) at any sampled time.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from perception.sim.actors import (MEAN_SIZES, Actor, barrier_parts, bus_parts, car_parts, cone_parts,
                                   construction_parts, cycle_parts, pedestrian_parts, sample_size, trailer_parts,
                                   truck_parts)
from perception.sim.meshes import MeshPart
from perception.sim.road import CURB_HEIGHT, PARKING_WIDTH, Band, Road
from perception.sim.trajectories import CrossingWalk, LaneFollowing, SpeedProfile, Stationary, Trajectory


# ----------------------------------------------------------------------------------------------
# Placement bookkeeping: footprints over time and an overlap test
# ----------------------------------------------------------------------------------------------


def rectangle_corners(rects: np.ndarray) -> np.ndarray:
    """(K, 4, 2) corners of footprints (K, 5) [x, y, yaw, l, w]."""
    c, s = np.cos(rects[:, 2]), np.sin(rects[:, 2])
    hl, hw = 0.5 * rects[:, 3], 0.5 * rects[:, 4]
    signs = np.array([[1, 1], [-1, 1], [-1, -1], [1, -1]], np.float64)
    lx = signs[None, :, 0] * hl[:, None]
    ly = signs[None, :, 1] * hw[:, None]
    return np.stack([rects[:, None, 0] + c[:, None] * lx - s[:, None] * ly,
                     rects[:, None, 1] + s[:, None] * lx + c[:, None] * ly], axis=-1)


def rectangles_overlap(a: np.ndarray, b: np.ndarray, margin: float) -> np.ndarray:
    """(K,) whether footprints a[k] and b[k] (K, 5) overlap after growing both by ``margin``
    in length and width (separating-axis test)."""
    grow = np.array([0, 0, 0, margin, margin])
    ca, cb = rectangle_corners(a + grow), rectangle_corners(b + grow)
    yaws = np.stack([a[:, 2], a[:, 2] + 0.5 * math.pi, b[:, 2], b[:, 2] + 0.5 * math.pi], axis=1)
    axes = np.stack([np.cos(yaws), np.sin(yaws)], axis=-1)  # (K, 4, 2)
    pa = np.einsum("kcj,kaj->kca", ca, axes)
    pb = np.einsum("kcj,kaj->kca", cb, axes)
    separated = (pa.max(1) < pb.min(1)) | (pb.max(1) < pa.min(1))
    return ~separated.any(axis=1)


class Occupancy:
    """Footprints of everything placed so far on a shared time grid ``times`` (T,):
    static ones (Ns, 5) and moving ones (Nm, T, 5), rows [x, y, yaw, l, w]."""

    def __init__(self, times: np.ndarray):
        self.times = times
        self._static: list[np.ndarray] = []
        self._moving: list[np.ndarray] = []
        self._stacked: tuple[np.ndarray, np.ndarray] | None = None

    def _arrays(self) -> tuple[np.ndarray, np.ndarray]:
        if self._stacked is None:
            static = np.array(self._static).reshape(-1, 5)
            moving = np.array(self._moving).reshape(-1, len(self.times), 5)
            self._stacked = static, moving
        return self._stacked

    def is_free(self, footprints: np.ndarray, margin: float) -> bool:
        """Whether ``footprints`` ((1, 5) static or (T, 5) moving) overlap nothing placed."""
        static, moving = self._arrays()
        mine = np.broadcast_to(footprints, (len(self.times), 5))
        si, fi = np.nonzero(self._near(static[:, None], footprints[None], margin))
        mi, ti = np.nonzero(self._near(moving, mine[None], margin))
        a = np.concatenate([footprints[fi], mine[ti]])
        b = np.concatenate([static[si], moving[mi, ti]])
        return not rectangles_overlap(a, b, margin).any()

    @staticmethod
    def _near(a: np.ndarray, b: np.ndarray, margin: float) -> np.ndarray:
        """Whether the bounding circles of broadcastable footprint arrays (..., 5) come within
        ``margin`` of each other."""
        reach = 0.5 * (np.hypot(a[..., 3], a[..., 4]) + np.hypot(b[..., 3], b[..., 4])) + margin
        return np.square(a[..., 0] - b[..., 0]) + np.square(a[..., 1] - b[..., 1]) < np.square(reach)

    def add(self, footprints: np.ndarray) -> None:
        if len(footprints) == 1:
            self._static.append(footprints[0])
        else:
            self._moving.append(footprints)
        self._stacked = None


# ----------------------------------------------------------------------------------------------
# Actor placement
# ----------------------------------------------------------------------------------------------


class ActorPlacer:
    """Places actors one at a time, rejecting any that would overlap something already placed
    (or the space around the ego) at any sampled time."""

    def __init__(self, rng: np.random.Generator, road: Road, ego: LaneFollowing, occupancy: Occupancy,
                 duration_s: float, crosswalks: tuple[float, ...]):
        self.rng = rng
        self.road = road
        self.ego = ego
        self.occupancy = occupancy
        self.duration_s = duration_s
        self.crosswalks = crosswalks
        self.actors: list[Actor] = []
        self.ego_s = ego.centre_s(occupancy.times)
        self.s_lo = float(self.ego_s.min()) - 70.0
        self.s_hi = float(self.ego_s.max()) + 90.0

    # --- core --------------------------------------------------------------------------------

    def footprints(self, trajectory: Trajectory, size) -> np.ndarray:
        """(1, 5) footprint of a static actor or (T, 5) over the occupancy time grid."""
        times = self.occupancy.times[:1] if trajectory.is_static else self.occupancy.times
        poses = trajectory.poses(times)
        return np.column_stack([poses, np.broadcast_to(size[:2], (len(poses), 2))])

    def try_add(self, category: str, size, trajectory: Trajectory, base_z: float = 0.0, margin: float = 0.3,
                pose: str = "walking", **flags) -> bool:
        """Add the actor unless it would overlap something (footprints grown by ``margin``);
        ``pose`` ('walking', 'standing', 'seated') shapes pedestrian meshes; ``flags`` go to Actor."""
        prints = self.footprints(trajectory, size)
        if not self.occupancy.is_free(prints, margin):
            return False
        self.occupancy.add(prints)
        parts = self.mesh_for(category, size, pose, flags.get("rider", False))
        self.actors.append(Actor(len(self.actors) + 1, category, np.asarray(size, np.float64), trajectory,
                                 base_z, parts, **flags))
        return True

    def mesh_for(self, category: str, size, pose: str, rider: bool) -> tuple[MeshPart, ...]:
        """A fresh mesh (with per-instance colours) for an actor of ``category``."""
        rng = self.rng
        if category == "vehicle.car":
            return car_parts(rng, size)
        if category == "vehicle.truck":
            return truck_parts(rng, size)
        if category == "vehicle.bus.rigid":
            return bus_parts(rng, size)
        if category == "vehicle.trailer":
            return trailer_parts(rng, size)
        if category == "vehicle.construction":
            return construction_parts(rng, size)
        if category == "human.pedestrian.adult":
            return pedestrian_parts(rng, size, pose)
        if category in ("vehicle.bicycle", "vehicle.motorcycle"):
            return cycle_parts(rng, size, category == "vehicle.motorcycle", rider)
        if category == "movable_object.trafficcone":
            return cone_parts(rng, size)
        return barrier_parts(rng, size)

    def stationary(self, s: float, d: float, yaw_offset: float = 0.0) -> Stationary:
        """A fixed pose at road coordinates, facing along the road (plus ``yaw_offset``)."""
        x, y = self.road.point(s, d)
        return Stationary(float(x), float(y), float(self.road.heading(s)) + yaw_offset)

    def near_crosswalk(self, s: float, clearance: float) -> bool:
        return any(abs(s - c) < clearance for c in self.crosswalks)

    def spawn_range(self, d: float, direction: int, profile: SpeedProfile) -> tuple[float, float]:
        """Range of t = 0 positions from which a mover is near the ego at some time."""
        travelled = direction * profile.distance(self.occupancy.times) / (1.0 - self.road.curvature * d)
        return float(np.min(self.ego_s - travelled)) - 70.0, float(np.max(self.ego_s - travelled)) + 90.0

    def curb_offset(self, side: int, width: float, gap: float = 0.25) -> float:
        """Lateral offset of an object of ``width`` parked ``gap`` metres from the curb of ``side``."""
        return side * (self.road.half_width - gap - 0.5 * width)

    # --- static groups ----------------------------------------------------------------------

    def construction_zone(self, s0: float, side: int) -> bool:
        """Cones, barriers and a construction vehicle fencing off the parking lane (and a bit of
        the next band) on ``side``; returns whether the vehicle and at least one cone and one
        barrier were placed."""
        rng, road = self.rng, self.road
        length = rng.uniform(18.0, 32.0)
        inward = -side
        curb = side * road.half_width
        fence_d = curb + inward * (PARKING_WIDTH + 0.45)
        size = sample_size(rng, "vehicle.construction")
        size[1] = min(size[1], PARKING_WIDTH + 0.1)
        size[0] = min(size[0], length - 6.0)
        yaw_offset = 0.0 if side < 0 else math.pi
        vehicle_d = curb + inward * (0.3 + 0.5 * size[1])
        if not self.try_add("vehicle.construction", size, self.stationary(s0 + 0.5 * length, vehicle_d, yaw_offset),
                            parked=True):
            return False
        cones = barriers = 0
        along_barriers = rng.random() < 0.5
        for s in np.arange(s0, s0 + length + 0.1, 2.7 if along_barriers else 3.0):
            if along_barriers and s0 + 2.0 < s < s0 + length - 2.0:
                barriers += self.static_object("movable_object.barrier", s, fence_d - inward * 0.3)
            else:
                cones += self.static_object("movable_object.trafficcone", s, fence_d - inward * 0.25)
        for k in range(1, 4):
            frac = k / 4.0
            for s_end, sign in ((s0, -1), (s0 + length, 1)):
                d = curb + inward * frac * (PARKING_WIDTH + 0.2)
                cones += self.static_object("movable_object.trafficcone", s_end + sign * (1 - frac) * 5.0, d)
        for s_end in (s0 + 1.0, s0 + length - 1.0):
            barriers += self.static_object("movable_object.barrier", s_end, curb + inward * 1.7, 0.5 * math.pi)
        for _ in range(int(rng.integers(0, 3))):
            s = s0 + rng.uniform(2.0, length - 2.0)
            self.try_add("human.pedestrian.adult", sample_size(rng, "human.pedestrian.adult"),
                         self.stationary(s, curb + inward * rng.uniform(0.5, 2.2), rng.uniform(-math.pi, math.pi)),
                         margin=0.1, pose="standing")
        return cones > 0 and barriers > 0

    def static_object(self, category: str, s: float, d: float, yaw_offset: float = 0.0) -> bool:
        """A cone or barrier at road coordinates (s, d)."""
        size = sample_size(self.rng, category)
        return self.try_add(category, size, self.stationary(s, d, yaw_offset), margin=0.05)

    def parked(self, category: str, s: float, side: int, **flags) -> bool:
        """A vehicle parked at the curb of ``side`` facing that side's traffic, never near a
        crosswalk."""
        size = sample_size(self.rng, category)
        yaw_offset = 0.0 if side < 0 else math.pi
        if self.near_crosswalk(s, 6.0 + 0.5 * size[0]):
            return False
        d = self.curb_offset(side, size[1], self.rng.uniform(0.15, 0.4))
        pose = self.stationary(s, d, yaw_offset + self.rng.normal(0.0, 0.015))
        return self.try_add(category, size, pose, parked=True, **flags)

    def parking_rows(self, busyness: float) -> None:
        """Parked vehicles along both curbs, slot by slot."""
        rng = self.rng
        occupancy_rate = np.clip(rng.uniform(0.3, 0.65) * busyness, 0.2, 0.85)
        kinds = ["vehicle.car", "vehicle.truck", "vehicle.trailer", "vehicle.motorcycle", "vehicle.bicycle"]
        probs = [0.87, 0.06, 0.015, 0.04, 0.015]
        for side in (-1, 1):
            s = self.s_lo
            while s < self.s_hi:
                category = kinds[rng.choice(len(kinds), p=probs)]
                slot = MEAN_SIZES[category][0] + rng.uniform(0.8, 2.5)
                if rng.random() < occupancy_rate:
                    self.parked(category, s + 0.5 * slot, side)
                s += slot

    def bus_stop(self, s: float, side: int) -> bool:
        """A bus stopped at the curb of ``side``."""
        size = sample_size(self.rng, "vehicle.bus.rigid")
        yaw_offset = 0.0 if side < 0 else math.pi
        pose = self.stationary(s, self.curb_offset(side, size[1], 0.2), yaw_offset)
        return self.try_add("vehicle.bus.rigid", size, pose)

    # --- movers ------------------------------------------------------------------------------

    def lane_vehicle(self, category: str, lane: Band, s0: float, profile: SpeedProfile, **flags) -> bool:
        """A vehicle driving in ``lane`` from arc length ``s0`` at t = 0 (riders make cycles taller)."""
        size = sample_size(self.rng, category, **({"scale_h": 1.15} if flags.get("rider") else {}))
        d = lane.centre + self.rng.uniform(-0.2, 0.2)
        return self.try_add(category, size, LaneFollowing(self.road, s0, d, lane.direction, profile), **flags)

    def lane_traffic(self, busyness: float) -> None:
        """Streams of vehicles in every travel lane; the ego lane moves with the ego."""
        rng = self.rng
        kinds = ["vehicle.car", "vehicle.truck", "vehicle.bus.rigid", "vehicle.motorcycle"]
        probs = [0.85, 0.07, 0.04, 0.04]
        for lane in self.road.lanes():
            is_ego_lane = abs(lane.centre - self.ego.d) < 0.1
            flow = self.ego.profile if is_ego_lane else SpeedProfile(rng.uniform(6.0, 13.0))
            stopped_lane = not is_ego_lane and rng.random() < 0.1
            lo, hi = self.spawn_range(lane.centre, lane.direction, flow)
            s = lo + rng.uniform(0.0, 20.0)
            while s < hi:
                category = kinds[rng.choice(len(kinds), p=probs)]
                if is_ego_lane:
                    profile = flow
                elif stopped_lane and rng.random() < 0.5:
                    profile = SpeedProfile(0.0)
                else:
                    profile = SpeedProfile(flow.v0 * rng.uniform(0.93, 1.07))
                self.lane_vehicle(category, lane, s, profile, rider=category == "vehicle.motorcycle")
                s += MEAN_SIZES[category][0] + rng.uniform(8.0, 45.0) / busyness

    def cyclists(self, busyness: float) -> None:
        """Riders in bike lanes, or near the right edge of the outer lanes when there are none."""
        rng = self.rng
        for direction in (1, -1):
            bikes = [b for b in self.road.bands if b.kind == "bike" and b.direction == direction]
            outer_lane = self.road.lanes(direction)[0 if direction > 0 else -1]
            band = bikes[0] if bikes else outer_lane
            edge_offset = 0.0 if bikes else -direction * 1.0
            for _ in range(int(rng.poisson(3.0 * busyness))):
                speed = rng.uniform(3.0, 6.5)
                lo, hi = self.spawn_range(band.centre, direction, SpeedProfile(speed))
                size = sample_size(rng, "vehicle.bicycle", scale_h=1.35)
                d = band.centre + edge_offset + rng.uniform(-0.2, 0.2)
                trajectory = LaneFollowing(self.road, rng.uniform(lo, hi), d, direction, SpeedProfile(speed))
                self.try_add("vehicle.bicycle", size, trajectory, rider=True)

    # --- pedestrians -------------------------------------------------------------------------

    def walk_zone(self, side: int) -> tuple[float, float]:
        """Lateral range (low, high) of pedestrian centres on the sidewalk of ``side``, clear of
        the curb-side poles and trees."""
        inner = self.road.half_width + 1.1
        outer = max(inner, self.road.half_width + self.road.sidewalk_width - 0.45)
        return (-outer, -inner) if side < 0 else (inner, outer)

    def sidewalk_pedestrian(self, side: int, s: float | None = None) -> bool:
        """A pedestrian on the sidewalk of ``side`` (at arc length ``s`` or anywhere near the ego's
        path): walking along it (65 %), standing, or seated against the building line."""
        rng = self.rng
        size = sample_size(rng, "human.pedestrian.adult")
        d = rng.uniform(*self.walk_zone(side))
        u = rng.random()
        if u < 0.65:
            speed = rng.uniform(0.9, 1.7)
            direction = 1 if rng.random() < 0.5 else -1
            lo, hi = self.spawn_range(d, direction, SpeedProfile(speed))
            s0 = rng.uniform(lo, hi) if s is None else s
            trajectory = LaneFollowing(self.road, s0, d, direction, SpeedProfile(speed))
            return self.try_add("human.pedestrian.adult", size, trajectory, CURB_HEIGHT, margin=0.15)
        s = rng.uniform(self.s_lo, self.s_hi) if s is None else s
        if u < 0.96:
            trajectory = self.stationary(s, d, rng.uniform(-math.pi, math.pi))
            return self.try_add("human.pedestrian.adult", size, trajectory, CURB_HEIGHT, margin=0.1, pose="standing")
        size = np.array([rng.uniform(0.8, 1.0), size[1], rng.uniform(1.15, 1.35)])
        outer = side * (self.road.half_width + self.road.sidewalk_width - 0.05 - 0.5 * size[0])
        trajectory = self.stationary(s, outer, -side * 0.5 * math.pi)
        return self.try_add("human.pedestrian.adult", size, trajectory, CURB_HEIGHT, margin=0.1, pose="seated",
                            sitting=True)

    def sidewalk_pedestrians(self, busyness: float) -> None:
        """About 7 pedestrians per 100 m of each sidewalk (scaled by ``busyness``)."""
        length = self.s_hi - self.s_lo
        for side in (-1, 1):
            for _ in range(int(self.rng.poisson(length / 100.0 * 7.0 * busyness))):
                self.sidewalk_pedestrian(side)

    def crossing_pedestrians(self) -> None:
        """Pedestrians waiting at crosswalks and walking across while the ego is elsewhere."""
        rng, road = self.rng, self.road
        edge = road.half_width - 0.5
        for s_cw in self.crosswalks:
            for _ in range(int(rng.integers(2, 6))):
                s = s_cw + rng.uniform(-1.2, 1.2)
                side = 1 if rng.random() < 0.5 else -1
                start, end = road.point(s, side * edge), road.point(s, -side * edge)
                t_start, speed = rng.uniform(-8.0, self.duration_s), rng.uniform(1.0, 1.6)
                trajectory = CrossingWalk(tuple(start), tuple(end), t_start, speed)
                size = sample_size(rng, "human.pedestrian.adult")
                self.try_add("human.pedestrian.adult", size, trajectory, margin=0.2)

    def parked_bicycles(self, side: int, s: float) -> int:
        """A bike rack at the building side of the sidewalk."""
        count = 0
        d = side * (self.road.half_width + self.road.sidewalk_width - 0.4)
        for k in range(int(self.rng.integers(1, 5))):
            size = sample_size(self.rng, "vehicle.bicycle")
            pose = self.stationary(s + 0.8 * k, d)
            count += self.try_add("vehicle.bicycle", size, pose, CURB_HEIGHT, margin=0.05)
        return count

    # --- guarantees --------------------------------------------------------------------------

    def ahead(self) -> float:
        """A random arc length along the part of the road the ego sees."""
        return self.rng.uniform(float(self.ego_s.min()) + 10.0, float(self.ego_s.max()) + 50.0)

    def random_side(self) -> int:
        return -1 if self.rng.random() < 0.5 else 1

    def require(self, place: Callable[[], bool], what: str, attempts: int = 200) -> None:
        """Call ``place`` (which draws a fresh random position each time) until it succeeds."""
        for _ in range(attempts):
            if place():
                return
        raise RuntimeError(f"could not place a {what}")

    def construction_side(self) -> int:
        """The right side unless its parking lane borders the ego lane (the zone sticks out)."""
        neighbour = self.road.neighbour_of_parking(-1)
        if neighbour.kind == "lane" and abs(neighbour.centre - self.ego.d) < 0.1:
            return 1
        return self.random_side()

    def any_bus(self) -> bool:
        """A bus stopped at a stop on the left, or an oncoming bus in the outer opposite lane."""
        if self.rng.random() < 0.5:
            return self.bus_stop(self.ahead(), 1)
        profile = SpeedProfile(self.rng.uniform(6.0, 11.0))
        return self.lane_vehicle("vehicle.bus.rigid", self.road.lanes(-1)[-1], self.ahead() + 60.0, profile)

    def any_motorcycle(self) -> bool:
        """An oncoming ridden motorcycle or a parked one."""
        if self.rng.random() < 0.6:
            profile = SpeedProfile(self.rng.uniform(8.0, 14.0))
            lane = self.road.lanes(-1)[0]
            return self.lane_vehicle("vehicle.motorcycle", lane, self.ahead() + 40.0, profile, rider=True)
        return self.parked("vehicle.motorcycle", self.ahead(), self.random_side())

    def required_actors(self) -> None:
        """At least one actor of every category, near the ego's path."""
        side = self.construction_side()
        self.require(lambda: self.construction_zone(self.ahead(), side), "construction zone")
        self.require(self.any_bus, "bus")
        for category in ("vehicle.trailer", "vehicle.truck", "vehicle.car"):
            self.require(lambda c=category: self.parked(c, self.ahead(), self.random_side()), category)
        self.require(self.any_motorcycle, "motorcycle")
        self.require(lambda: self.parked_bicycles(self.random_side(), self.ahead()) > 0, "bicycle")
        self.require(lambda: self.sidewalk_pedestrian(self.random_side(), self.ahead()), "pedestrian")
