"""Road geometry of the synthetic street: the lane cross-section (``Band``), the road (``Road``, a
straight or circular-arc centreline parametrised by road coordinates ``(s, d)``), the random road of a
scene (``make_road``) and the meshes swept along it (road surface, sidewalk profiles, ground plane).
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from calib.se3 import wrap_angle
from perception.sim.meshes import Mesh, box

LANE_WIDTH = 3.5
PARKING_WIDTH = 2.6
BIKE_LANE_WIDTH = 1.6
CURB_HEIGHT = 0.15
GROUND_DROP = 0.02


@dataclasses.dataclass(frozen=True)
class Band:
    """One strip of the road cross-section: ``kind`` in {'parking', 'bike', 'lane'}, lateral
    extent [d_min, d_max] and travel direction (+1 along s, -1 against)."""

    kind: str
    d_min: float
    d_max: float
    direction: int

    @property
    def centre(self) -> float:
        return 0.5 * (self.d_min + self.d_max)


@dataclasses.dataclass(frozen=True)
class Road:
    """A circular-arc (or straight) road parametrised by centreline arc length ``s``."""

    origin_xy: tuple[float, float]
    heading0: float
    curvature: float
    s_min: float
    s_max: float
    bands: tuple[Band, ...]
    sidewalk_width: float

    @property
    def half_width(self) -> float:
        return self.bands[-1].d_max

    @property
    def is_straight(self) -> bool:
        return abs(self.curvature) < 1e-9

    def heading(self, s):
        """Road direction at arc length ``s`` (any shape), radians."""
        return self.heading0 + self.curvature * np.asarray(s, dtype=np.float64)

    def point(self, s, d) -> np.ndarray:
        """Global (..., 2) position of road coordinates ``(s, d)`` (broadcast shapes)."""
        s, d = np.broadcast_arrays(np.asarray(s, np.float64), np.asarray(d, np.float64))
        h0 = self.heading0
        origin = np.asarray(self.origin_xy, np.float64)
        normal0 = np.array([-math.sin(h0), math.cos(h0)])
        if self.is_straight:
            tangent0 = np.array([math.cos(h0), math.sin(h0)])
            return origin + s[..., None] * tangent0 + d[..., None] * normal0
        k = self.curvature
        centre = origin + normal0 / k
        h = self.heading(s)
        normal = np.stack([-np.sin(h), np.cos(h)], axis=-1)
        return centre + normal * (d - 1.0 / k)[..., None]

    def to_sd(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Road coordinates ``(s, d)``, each (M,), of global points ``xy`` (M, >=2)."""
        xy = np.asarray(xy)
        h0 = self.heading0
        ox, oy = self.origin_xy
        nx, ny = -math.sin(h0), math.cos(h0)
        if self.is_straight:
            rx, ry = xy[:, 0] - ox, xy[:, 1] - oy
            return rx * ny - ry * nx, rx * nx + ry * ny
        k = self.curvature
        sign = 1.0 if k > 0 else -1.0
        vx = xy[:, 0] - (ox + nx / k)
        vy = xy[:, 1] - (oy + ny / k)
        heading = np.arctan2(sign * vx, -sign * vy)
        s = wrap_angle(heading - h0) / k
        d = 1.0 / k - sign * np.hypot(vx, vy)
        return s, d

    def neighbour_of_parking(self, side: int) -> Band:
        """The band next to the parking lane on ``side``."""
        return self.bands[1] if side < 0 else self.bands[-2]

    def outline(self, half_width: float, step: float = 2.0) -> np.ndarray:
        """(P, 2) closed polygon of the strip |d| <= ``half_width`` over the road's s range."""
        s = np.linspace(self.s_min, self.s_max, int((self.s_max - self.s_min) / step) + 2)
        return np.concatenate([self.point(s, -half_width), self.point(s[::-1], half_width)])

    def lanes(self, direction: int | None = None) -> list[Band]:
        """Travel lanes, optionally only those driving in ``direction``."""
        return [b for b in self.bands if b.kind == "lane" and direction in (None, b.direction)]

    def boundary_markings(self) -> list[tuple[float, str]]:
        """Painted lines between bands: (d, style) with style in
        {'dashed_white', 'solid_white', 'double_yellow'}."""
        marks = []
        for a, b in zip(self.bands[:-1], self.bands[1:]):
            if a.kind == "lane" and b.kind == "lane":
                style = "dashed_white" if a.direction == b.direction else "double_yellow"
            else:
                style = "solid_white"
            marks.append((a.d_max, style))
        return marks


def make_cross_section(rng: np.random.Generator) -> tuple[Band, ...]:
    """Random road cross-section (right to left), centred on d = 0."""
    n_lanes = int(rng.integers(2, 5))
    n_forward = {2: 1, 3: int(rng.integers(1, 3)), 4: 2}[n_lanes]
    bike = bool(rng.random() < 0.4)
    layout = [("parking", PARKING_WIDTH, 1)]
    layout += [("bike", BIKE_LANE_WIDTH, 1)] if bike else []
    layout += [("lane", LANE_WIDTH, 1)] * n_forward + [("lane", LANE_WIDTH, -1)] * (n_lanes - n_forward)
    layout += [("bike", BIKE_LANE_WIDTH, -1)] if bike else []
    layout += [("parking", PARKING_WIDTH, -1)]
    d = -0.5 * sum(w for _, w, _ in layout)
    bands = []
    for kind, width, direction in layout:
        bands.append(Band(kind, d, d + width, direction))
        d += width
    return tuple(bands)


def make_road(rng: np.random.Generator, travel_m: float) -> Road:
    """Random road covering the ego's travel with 200 m to spare at both ends. It is laid so that
    the lower-left corner of the area it and its buildings occupy lies at a random (x, y) in
    [50, 250] m: all coordinates of interest are positive, like a nuScenes map."""
    s_min, s_max = -200.0, travel_m + 200.0
    length = s_max - s_min
    curvature = 0.0
    if rng.random() < 0.65:
        radius = rng.uniform(max(250.0, length / 1.2), max(1500.0, length / 1.2 + 100.0))
        curvature = float(rng.choice([-1.0, 1.0]) / radius)
    road = Road(origin_xy=(0.0, 0.0), heading0=float(rng.uniform(-math.pi, math.pi)), curvature=curvature,
                s_min=s_min, s_max=s_max, bands=make_cross_section(rng), sidewalk_width=float(rng.uniform(2.5, 4.0)))
    corner = road.outline(road.half_width + road.sidewalk_width + 30.0).min(axis=0)
    origin = rng.uniform(50.0, 250.0, 2) - corner
    return dataclasses.replace(road, origin_xy=(float(origin[0]), float(origin[1])))


def sweep_profile(road: Road, s_values: np.ndarray, profile_dz: np.ndarray) -> Mesh:
    """Closed tube swept along the road: a convex cross-section polygon ``profile_dz`` (P, 2)
    of (d, z) points, extruded over ``s_values`` (S,), with end caps."""
    S, P = len(s_values), len(profile_dz)
    xy = road.point(s_values[:, None], profile_dz[None, :, 0])  # (S, P, 2)
    z = np.broadcast_to(profile_dz[None, :, 1], (S, P))
    v = np.concatenate([xy, z[..., None]], axis=-1).reshape(-1, 3)
    i = np.arange(S - 1)[:, None] * P
    j = np.arange(P)[None, :]
    a, b = i + j, i + (j + 1) % P
    sides = np.concatenate([np.stack([a, b, b + P], -1).reshape(-1, 3), np.stack([a, b + P, a + P], -1).reshape(-1, 3)])
    fan = np.array([[0, k, k + 1] for k in range(1, P - 1)])
    caps = np.concatenate([fan, fan[:, ::-1] + (S - 1) * P])
    return v.astype(np.float32), np.concatenate([sides, caps]).astype(np.uint32)


def road_surface(road: Road, step: float = 2.0) -> Mesh:
    """Flat strip at z = 0 over the whole carriageway."""
    s = np.linspace(road.s_min, road.s_max, int((road.s_max - road.s_min) / step) + 2)
    edges = road.point(s[:, None], np.array([-road.half_width, road.half_width])[None, :])  # (S, 2, 2)
    v = np.concatenate([edges, np.zeros(edges.shape[:2] + (1,))], axis=-1).reshape(-1, 3)
    i = np.arange(len(s) - 1) * 2
    f = np.concatenate([np.stack([i, i + 1, i + 3], -1), np.stack([i, i + 3, i + 2], -1)])
    return v.astype(np.float32), f.astype(np.uint32)


def ground_plane(road: Road, margin: float = 220.0) -> Mesh:
    """Quad slightly below z = 0 covering the road's bounding box plus ``margin``."""
    s = np.linspace(road.s_min, road.s_max, 32)
    pts = road.point(s, 0.0)
    (x0, y0), (x1, y1) = pts.min(0) - margin, pts.max(0) + margin
    return box((x0, y0, -GROUND_DROP - 0.01), (x1, y1, -GROUND_DROP))
