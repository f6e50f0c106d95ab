"""Procedural nuScenes-like street scenes: :func:`make_world` composes a road, static scenery,
actors with trajectories and meshes, and lighting into a ``World``, which serves them posed at any
time as an open3d ray-casting scene with its ``GeometryTable`` for the sensors. The parts are built
in ``road``, ``trajectories``, ``meshes``, ``actors``, ``materials``, ``scenery`` and ``placement``.
Everything is generated from a ``numpy.random.Generator`` and is fully deterministic for a given seed.

Frames and conventions
----------------------
* Global frame: metres, z up, ground at z = 0 (the open ground plane sits 2 cm lower so it never
  competes with the road surface for the same hit).
* Road coordinates ``(s, d)``: ``s`` is arc length along the road centreline, ``d`` the signed
  lateral offset, positive to the left of the road direction.
* Ego frame: x forward, y left, z up, origin at the rear axle on the ground; rotations are yaw only.
* Boxes: ``[x, y, z, l, w, h, yaw]`` in the global frame, ``(x, y, z)`` the geometric box centre,
  ``yaw`` counter-clockwise about +z from +x, wrapped to [-pi, pi).
* Actor meshes live in their box frame (origin at the box centre, x along the length) and never
  leave the box, so every ray hit on an actor lies inside its box.
* Colours are RGB floats in [0, 1]; reflectivity (lidar albedo) is in [0, 1].

Traffic drives on the right. The road cross-section, from right to left, is: parking lane,
optional bike lane, 1-2 forward lanes, 1-2 opposite lanes, optional bike lane, parking lane;
sidewalks (raised 15 cm) and buildings line both sides.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import cv2
import numpy as np
import open3d as o3d

from calib.se3 import yaw_rotation
from perception.sim.actors import Actor
from perception.sim.materials import GroundTexture, Lighting, building_texture, foliage_texture, make_lighting
from perception.sim.placement import ActorPlacer, Occupancy
from perception.sim.road import Road, make_road
from perception.sim.scenery import SceneryBuilder, StaticGeometry
from perception.sim.trajectories import LaneFollowing, SpeedProfile

#: Geometry kinds of the ray-casting scene, indexed by ``GeometryTable.kind``.
KINDS = ("ground", "road", "sidewalk", "building", "pole", "trunk", "vegetation", "sign", "furniture", "actor")
KIND_CODE = {name: code for code, name in enumerate(KINDS)}

EGO_SIZE = (4.08, 1.73, 1.56)
EGO_REAR_OVERHANG = 0.7
EGO_CLEARANCE = 8.0
FOOTPRINT_DT = 0.1


@dataclasses.dataclass
class GeometryTable:
    """Per-geometry attributes, indexed by the geometry ids RaycastingScene returns.

    actor_index: (G,) int32, index into ``World.actors`` or -1 for static scenery.
    rgb: (G, 3) float32 base colour; reflectivity: (G,) float32; kind: (G,) uint8 index into KINDS.
    ground_texture: colour/reflectivity of ground, road and sidewalk hit points.
    """

    actor_index: np.ndarray
    rgb: np.ndarray
    reflectivity: np.ndarray
    kind: np.ndarray
    ground_texture: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]

    def actor_index_of(self, geometry_ids: np.ndarray) -> np.ndarray:
        """(M,) actor index of each geometry id (M,), -1 for static scenery and misses."""
        ids = np.asarray(geometry_ids).astype(np.int64)
        valid = ids < len(self.actor_index)
        return np.where(valid, self.actor_index[np.where(valid, ids, 0)], -1)

    def surface(self, points: np.ndarray, normals: np.ndarray, geometry_ids: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
        """Colour (M, 3) float32 and reflectivity (M,) float32 at hit points (M, 3) with normals
        (M, 3) on geometries ``geometry_ids`` (M,)."""
        rgb = np.take(self.rgb, geometry_ids, axis=0)
        refl = np.take(self.reflectivity, geometry_ids)
        kind = np.take(self.kind, geometry_ids)
        ground = np.flatnonzero(kind <= KIND_CODE["sidewalk"])
        if len(ground):
            rgb[ground], refl[ground] = self.ground_texture(np.take(points, ground, axis=0))
        building = np.flatnonzero(kind == KIND_CODE["building"])
        if len(building):
            rgb[building] = building_texture(np.take(points, building, axis=0), np.take(normals, building, axis=0),
                                             np.take(rgb, building, axis=0))
        leaves = np.flatnonzero(kind == KIND_CODE["vegetation"])
        if len(leaves):
            rgb[leaves] = foliage_texture(np.take(points, leaves, axis=0), np.take(rgb, leaves, axis=0))
        return rgb, refl


@dataclasses.dataclass(frozen=True)
class _PreparedStatic:
    """Static scenery as open3d tensors plus its rows of the geometry table."""

    tensors: tuple[tuple[o3d.core.Tensor, o3d.core.Tensor], ...]
    rgb: np.ndarray
    reflectivity: np.ndarray
    kind: np.ndarray


def _prepare_static(items: list[StaticGeometry]) -> _PreparedStatic:
    return _PreparedStatic(
        tuple((o3d.core.Tensor(g.vertices), o3d.core.Tensor(g.triangles)) for g in items),
        np.array([g.rgb for g in items], np.float32).reshape(-1, 3),
        np.array([g.reflectivity for g in items], np.float32),
        np.array([KIND_CODE[g.kind] for g in items], np.uint8),
    )


@dataclasses.dataclass
class World:
    """A generated scene: road, ego motion, actors, static scenery and lighting."""

    road: Road
    ego: LaneFollowing
    actors: list[Actor]
    lighting: Lighting
    duration_s: float
    ground_texture: GroundTexture
    static: _PreparedStatic

    def ego_pose(self, t: float) -> np.ndarray:
        """(4, 4) float64 global_from_ego at time ``t`` (seconds)."""
        x, y, yaw = self.ego.poses(t)[0]
        pose = np.eye(4)
        pose[:3, :3] = yaw_rotation(yaw)
        pose[:2, 3] = x, y
        return pose

    def ego_velocity(self, t: float) -> np.ndarray:
        """(2,) global ego velocity (vx, vy)."""
        return self.ego.velocities(t)[0]

    def actor_boxes(self, t: float) -> np.ndarray:
        """(N, 7) boxes of all actors at time ``t``, in ``actors`` order."""
        return np.array([a.box_at(t) for a in self.actors]).reshape(-1, 7)

    def raycasting_scene(self, t: float, centre_xy=None, radius: float | None = None
                         ) -> tuple[o3d.t.geometry.RaycastingScene, GeometryTable]:
        """Scene with all static geometry and the actors posed at time ``t``; with ``centre_xy``
        and ``radius`` only actors whose box centre lies within ``radius`` metres are added."""
        scene = o3d.t.geometry.RaycastingScene()
        for vertices, triangles in self.static.tensors:
            scene.add_triangles(vertices, triangles)
        actor_index, rgb, refl = [], [], []
        boxes = self.actor_boxes(t)
        keep = np.ones(len(boxes), bool)
        if centre_xy is not None and radius is not None:
            keep = np.hypot(boxes[:, 0] - centre_xy[0], boxes[:, 1] - centre_xy[1]) <= radius
        for i in np.flatnonzero(keep):
            x, y, z, _, _, _, yaw = boxes[i]
            rotation = yaw_rotation(yaw).T.astype(np.float32)
            translation = np.array([x, y, z], np.float32)
            for part in self.actors[i].parts:
                scene.add_triangles(o3d.core.Tensor(part.vertices @ rotation + translation),
                                    o3d.core.Tensor(part.triangles))
                actor_index.append(i)
                rgb.append(part.rgb)
                refl.append(part.reflectivity)
        n_actor = len(actor_index)
        table = GeometryTable(
            actor_index=np.concatenate([np.full(len(self.static.kind), -1, np.int32), np.array(actor_index, np.int32)]),
            rgb=np.concatenate([self.static.rgb, np.array(rgb, np.float32).reshape(-1, 3)]),
            reflectivity=np.concatenate([self.static.reflectivity, np.array(refl, np.float32)]),
            kind=np.concatenate([self.static.kind, np.full(n_actor, KIND_CODE["actor"], np.uint8)]),
            ground_texture=self.ground_texture,
        )
        return scene, table

    def extent_xy(self) -> np.ndarray:
        """(2,) largest global x and y of the road and its sidewalks; the world's content lies in
        the positive quadrant below this corner."""
        return self.road.outline(self.road.half_width + self.road.sidewalk_width).max(axis=0)

    def drivable_mask(self, resolution_m: float, origin_xy, shape) -> np.ndarray:
        """(H, W) uint8 raster of the carriageway including parking lanes (1 drivable, 0 not).
        Pixel (row i, col j) covers x in origin_x + [j, j + 1) * res, y in origin_y + [i, i + 1) * res."""
        mask = np.zeros(shape, np.uint8)
        polygon = (self.road.outline(self.road.half_width) - np.asarray(origin_xy, np.float64)) / resolution_m - 0.5
        subpixel_bits = 4
        cv2.fillPoly(mask, [np.round(polygon * (1 << subpixel_bits)).astype(np.int32)], 1, cv2.LINE_8, subpixel_bits)
        return mask

    def describe(self) -> str:
        """One-line summary, e.g. for a scene description."""
        lanes = len(self.road.lanes())
        shape = "straight" if self.road.is_straight else f"curve radius {abs(1 / self.road.curvature):.0f} m"
        sky = "clear" if self.lighting.shadows else "overcast"
        return f"{lanes}-lane road, {shape}, {len(self.actors)} actors, {sky}"


def make_world(rng: np.random.Generator, duration_s: float = 20.0) -> World:
    """Generate a street scene for ``duration_s`` seconds of ego driving (deterministic in ``rng``)."""
    ego_profile = SpeedProfile(float(rng.uniform(4.0, 12.0)), float(rng.uniform(-0.3, 0.3)), 4.0, 12.0)
    travel = float(ego_profile.distance(duration_s))
    road = make_road(rng, travel)
    ego_lane = road.lanes(1)[int(rng.integers(len(road.lanes(1))))]
    ego = LaneFollowing(road, 0.0, ego_lane.centre, 1, ego_profile)
    lighting = make_lighting(rng)
    times = np.arange(-1.0, duration_s + 1.0 + 1e-9, FOOTPRINT_DT)
    occupancy = Occupancy(times)
    ego_clearance = ego.poses(times)
    forward = EGO_SIZE[0] - EGO_REAR_OVERHANG
    centre_shift = 0.5 * (forward - EGO_REAR_OVERHANG)
    ego_clearance[:, 0] += centre_shift * np.cos(ego_clearance[:, 2])
    ego_clearance[:, 1] += centre_shift * np.sin(ego_clearance[:, 2])
    occupancy.add(np.column_stack([ego_clearance, np.full(len(times), EGO_SIZE[0] + 2 * EGO_CLEARANCE),
                                   np.full(len(times), EGO_SIZE[1] + 0.4)]))
    scenery = SceneryBuilder(rng, road, occupancy).build()
    n_crosswalks = int(rng.integers(1, 3))
    crosswalks = tuple(float(s) for s in np.sort(rng.uniform(-20.0, travel + 60.0, n_crosswalks)))
    placer = ActorPlacer(rng, road, ego, occupancy, duration_s, crosswalks)
    busyness = float(rng.uniform(0.7, 1.3))
    placer.required_actors()
    if rng.random() < 0.4:
        placer.construction_zone(placer.ahead(), int(rng.choice([-1, 1])))
    placer.parking_rows(busyness)
    placer.cyclists(busyness)
    placer.lane_traffic(busyness)
    for _ in range(int(rng.integers(0, 3))):
        placer.parked_bicycles(int(rng.choice([-1, 1])), rng.uniform(placer.s_lo, placer.s_hi))
    placer.crossing_pedestrians()
    placer.sidewalk_pedestrians(busyness)
    texture = GroundTexture(road, crosswalks, float(rng.uniform(0.24, 0.33)), int(rng.integers(1 << 30)))
    return World(road, ego, placer.actors, lighting, duration_s, texture, _prepare_static(scenery))
