"""Appearance of the synthetic world: colour palettes and named materials (rgb, lidar
reflectivity), procedural textures that are deterministic functions of position (asphalt with lane
markings, sidewalk slabs, terrain, building windows, foliage) and the scene's lighting.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from perception.sim.road import CURB_HEIGHT, GROUND_DROP, LANE_WIDTH, PARKING_WIDTH, Road

# Palettes: (rgb, weight)
CAR_PAINTS = [
    ((0.88, 0.88, 0.86), 0.22), ((0.04, 0.04, 0.05), 0.2), ((0.66, 0.67, 0.69), 0.15),
    ((0.36, 0.37, 0.39), 0.15), ((0.07, 0.13, 0.32), 0.07), ((0.58, 0.05, 0.05), 0.08),
    ((0.18, 0.33, 0.6), 0.05), ((0.08, 0.23, 0.13), 0.03), ((0.66, 0.58, 0.44), 0.03),
    ((0.33, 0.2, 0.12), 0.02),
]
TRUCK_PAINTS = [((0.9, 0.9, 0.88), 0.5), ((0.6, 0.08, 0.06), 0.15), ((0.1, 0.2, 0.5), 0.15),
                ((0.1, 0.35, 0.15), 0.1), ((0.2, 0.2, 0.22), 0.1)]
BUS_PAINTS = [((0.9, 0.9, 0.86), 0.4), ((0.85, 0.65, 0.08), 0.2), ((0.12, 0.25, 0.55), 0.2),
              ((0.6, 0.1, 0.1), 0.1), ((0.2, 0.45, 0.25), 0.1)]
CONSTRUCTION_PAINTS = [((0.95, 0.7, 0.05), 0.7), ((0.9, 0.42, 0.05), 0.3)]
CLOTHES = [((0.08, 0.08, 0.1), 0.3), ((0.15, 0.18, 0.3), 0.2), ((0.45, 0.45, 0.47), 0.12),
           ((0.85, 0.85, 0.82), 0.1), ((0.5, 0.12, 0.1), 0.08), ((0.3, 0.25, 0.18), 0.1),
           ((0.2, 0.4, 0.6), 0.05), ((0.7, 0.6, 0.2), 0.05)]
SKIN = [((0.87, 0.7, 0.58), 0.4), ((0.68, 0.5, 0.37), 0.3), ((0.4, 0.27, 0.18), 0.3)]
HAIR = [((0.05, 0.04, 0.03), 0.4), ((0.2, 0.12, 0.07), 0.3), ((0.45, 0.3, 0.15), 0.12), ((0.8, 0.68, 0.4), 0.1),
        ((0.6, 0.6, 0.6), 0.08)]
SHOES = [((0.05, 0.05, 0.05), 0.5), ((0.88, 0.88, 0.86), 0.3), ((0.35, 0.22, 0.12), 0.2)]
BUILDING_COLOURS = [((0.55, 0.3, 0.22), 0.25), ((0.72, 0.66, 0.55), 0.2), ((0.6, 0.6, 0.6), 0.2),
                    ((0.42, 0.43, 0.45), 0.15), ((0.8, 0.78, 0.72), 0.1), ((0.35, 0.42, 0.5), 0.1)]

GLASS = ((0.08, 0.1, 0.12), 0.08)
TYRE = ((0.05, 0.05, 0.05), 0.04)
PLATE = ((0.9, 0.9, 0.84), 0.92)
HEADLIGHT = ((0.92, 0.92, 0.86), 0.7)
TAILLIGHT = ((0.7, 0.04, 0.03), 0.6)
METAL = ((0.3, 0.3, 0.32), 0.35)
CONE_ORANGE = ((0.95, 0.35, 0.05), 0.45)
RETRO_WHITE = ((0.95, 0.95, 0.95), 0.95)


def pick_colour(rng: np.random.Generator, palette, jitter: float = 0.04) -> tuple[float, float, float]:
    """A palette colour with a small per-instance variation."""
    weights = np.array([w for _, w in palette])
    rgb = np.asarray(palette[rng.choice(len(palette), p=weights / weights.sum())][0])
    rgb = np.clip(rgb * (1.0 + jitter * rng.standard_normal()) + 0.5 * jitter * rng.standard_normal(3), 0, 1)
    return tuple(float(c) for c in rgb)


def paint_reflectivity(rgb) -> float:
    """Lidar reflectivity of vehicle paint: light colours return more."""
    return float(0.12 + 0.45 * np.mean(rgb))


def cloth_reflectivity(rgb) -> float:
    return float(0.15 + 0.4 * np.mean(rgb))


# ----------------------------------------------------------------------------------------------
# Procedural textures (deterministic functions of position)
# ----------------------------------------------------------------------------------------------


def hash_noise(ix: np.ndarray, iy: np.ndarray, seed: int) -> np.ndarray:
    """Per-cell pseudo-random values in [0, 1) from integer cell coordinates (any shape)."""
    h = ix.astype(np.int64).astype(np.uint32) * np.uint32(0x9E3779B1)
    h ^= iy.astype(np.int64).astype(np.uint32) * np.uint32(0x85EBCA77)
    h ^= np.uint32(seed & 0xFFFFFFFF)
    h ^= h >> np.uint32(15)
    h *= np.uint32(0x2C1B3C6D)
    h ^= h >> np.uint32(12)
    h *= np.uint32(0x297A2D39)
    h ^= h >> np.uint32(15)
    return (h >> np.uint32(8)).astype(np.float32) * np.float32(1.0 / (1 << 24))


def cell_noise(x: np.ndarray, y: np.ndarray, cell: float, seed: int) -> np.ndarray:
    """Piecewise-constant noise in [0, 1) on square cells of ``cell`` metres."""
    return hash_noise(np.floor(x / cell), np.floor(y / cell), seed)


def value_noise(x: np.ndarray, y: np.ndarray, cell: float, seed: int) -> np.ndarray:
    """Smooth (bilinearly interpolated) noise in [0, 1) with feature size ``cell`` metres."""
    fx, fy = x / cell, y / cell
    ix, iy = np.floor(fx), np.floor(fy)
    tx, ty = (fx - ix).astype(np.float32), (fy - iy).astype(np.float32)
    tx, ty = tx * tx * (3 - 2 * tx), ty * ty * (3 - 2 * ty)
    n00, n10 = hash_noise(ix, iy, seed), hash_noise(ix + 1, iy, seed)
    n01, n11 = hash_noise(ix, iy + 1, seed), hash_noise(ix + 1, iy + 1, seed)
    return (n00 + (n10 - n00) * tx) * (1 - ty) + (n01 + (n11 - n01) * tx) * ty


@dataclasses.dataclass(frozen=True)
class GroundTexture:
    """Asphalt with lane markings and crosswalks, concrete sidewalks, grass/dirt elsewhere."""

    road: Road
    crosswalks: tuple[float, ...]
    asphalt_grey: float
    seed: int

    def __call__(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Colour (M, 3) float32 and lidar reflectivity (M,) float32 of ground-level points (M, 3)."""
        points = np.asarray(points)
        rgb = np.empty((len(points), 3), np.float32)
        refl = np.empty(len(points), np.float32)
        s, d = self.road.to_sd(points[:, :2])
        ad = np.abs(d)
        in_range = (s >= self.road.s_min) & (s <= self.road.s_max)
        on_road = in_range & (ad <= self.road.half_width) & (points[:, 2] > -0.5 * GROUND_DROP)
        on_walk = in_range & ~on_road & (ad <= self.road.half_width + self.road.sidewalk_width) & (points[:, 2] > 0.01)
        elsewhere = ~(on_road | on_walk)
        for mask, texture in ((on_road, self.asphalt), (on_walk, self.sidewalk), (elsewhere, self.terrain)):
            idx = np.flatnonzero(mask)
            if len(idx):
                rgb[idx], refl[idx] = texture(np.take(points, idx, axis=0), s[idx], d[idx])
        return rgb, refl

    def asphalt(self, p, s, d):
        x, y = p[:, 0], p[:, 1]
        grey = (self.asphalt_grey * (0.82 + 0.3 * value_noise(x, y, 3.0, self.seed))
                * (0.9 + 0.2 * cell_noise(x, y, 0.06, self.seed + 1)) * (1.0 - 0.12 * self.wheel_tracks(d)))
        rgb = grey[:, None] * np.float32([1.0, 1.0, 1.03])
        refl = (0.07 + 0.05 * (grey - self.asphalt_grey)).astype(np.float32)
        white, yellow = self.paint_masks(s, d)
        for mask, colour in ((white, (0.85, 0.85, 0.82)), (yellow, (0.85, 0.65, 0.12))):
            idx = np.flatnonzero(mask)
            if len(idx):
                wear = 0.75 + 0.25 * value_noise(x[idx], y[idx], 0.5, self.seed + 2)
                rgb[idx] += (np.float32(colour) - rgb[idx]) * wear[:, None]
                refl[idx] = 0.55 * wear
        return rgb, refl

    def wheel_tracks(self, d):
        """(M,) 0..1 darkening where tyres roll, 0.8 m either side of each travel-lane centre."""
        lanes = self.road.lanes()
        offset = np.abs(np.mod(d - lanes[0].d_min, LANE_WIDTH) - 0.5 * LANE_WIDTH) - 0.8
        inside = (d > lanes[0].d_min) & (d < lanes[-1].d_max)
        return np.where(inside, np.maximum(1.0 - np.square(offset / 0.35), 0.0), 0.0).astype(np.float32)

    def paint_masks(self, s, d):
        """(white, yellow) boolean masks of painted markings at road coordinates."""
        white = np.zeros(len(s), bool)
        yellow = np.zeros(len(s), bool)
        for d_line, style in self.road.boundary_markings():
            offset = np.abs(d - d_line)
            if style == "double_yellow":
                yellow |= (offset > 0.06) & (offset < 0.18)
            elif style == "solid_white":
                white |= offset < 0.075
            else:
                white |= (offset < 0.075) & (np.mod(s, 12.0) < 3.0)
        inner = self.road.half_width - PARKING_WIDTH
        for s_cw in self.crosswalks:
            zebra = (np.abs(s - s_cw) < 1.6) & (np.abs(d) < inner) & (np.mod(d + inner, 1.2) < 0.6)
            white |= zebra
        return white, yellow

    def sidewalk(self, p, s, d):
        x, y = p[:, 0], p[:, 1]
        from_curb = np.abs(d) - self.road.half_width
        grey = 0.6 * (0.9 + 0.12 * value_noise(x, y, 1.5, self.seed + 3)) \
            * (0.94 + 0.08 * cell_noise(x, y, 0.05, self.seed + 4))
        joints = (np.mod(s, 1.5) < 0.025) | (np.mod(from_curb, 1.5) < 0.025)
        grey = np.where(joints, grey * 0.7, grey)
        curb = (from_curb < 0.18) | (p[:, 2] < CURB_HEIGHT - 0.01)
        grey = np.where(curb, 0.5 * (0.9 + 0.1 * cell_noise(x, y, 0.08, self.seed + 5)), grey).astype(np.float32)
        rgb = grey[:, None] * np.float32([1.0, 0.99, 0.96])
        return rgb, np.full(len(p), 0.3, np.float32)

    def terrain(self, p, s, d):
        x, y = p[:, 0], p[:, 1]
        mix = np.clip(1.6 * value_noise(x, y, 5.0, self.seed + 6) - 0.3, 0, 1)[:, None]
        grain = (0.85 + 0.3 * cell_noise(x, y, 0.1, self.seed + 7))[:, None]
        grass, dirt = np.float32([0.26, 0.33, 0.15]), np.float32([0.42, 0.37, 0.3])
        rgb = (grass * (1 - mix) + dirt * mix) * grain
        return rgb.astype(np.float32), np.full(len(p), 0.22, np.float32)


def fraction(x: np.ndarray) -> np.ndarray:
    """Fractional part x - floor(x)."""
    return x - np.floor(x)


def building_texture(points: np.ndarray, normals: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """Windows on vertical building faces: ``rgb`` (M, 3) replaced by glass where a window grid
    (3 m bays, 3.3 m storeys, shop fronts on the ground floor) falls."""
    u = points[:, 1] * normals[:, 0] - points[:, 0] * normals[:, 1]
    z = points[:, 2]
    upper = (np.abs(fraction(u * np.float32(1 / 3.0)) - 0.5) < 0.27) \
        & (np.abs(fraction(z * np.float32(1 / 3.3)) - 0.53) < 0.23) & (z > 3.3)
    shop = (np.abs(fraction(u * np.float32(1 / 6.0)) - 0.5) < 0.42) & (z > 0.5) & (z < 2.8)
    window = np.flatnonzero((np.abs(normals[:, 2]) < 0.5) & (upper | shop))
    rgb[window] = np.float32([0.12, 0.15, 0.19]) + np.float32(0.004) * np.minimum(z[window], 25.0)[:, None]
    return rgb


def foliage_texture(points: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """Leafy brightness variation."""
    n = cell_noise(points[:, 0] + points[:, 2], points[:, 1] - points[:, 2], 0.12, 11)
    return rgb * (0.65 + 0.6 * n)[:, None]


# ----------------------------------------------------------------------------------------------
# Lighting
# ----------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Lighting:
    """Sun, sky and haze: ``sun_direction`` (3,) unit vector toward the sun (global frame)."""

    sun_direction: np.ndarray
    sun_rgb: np.ndarray
    ambient_rgb: np.ndarray
    sky_zenith: np.ndarray
    sky_horizon: np.ndarray
    haze_distance_m: float
    shadows: bool


def make_lighting(rng: np.random.Generator) -> Lighting:
    """Clear (65 %, with shadows) or overcast daylight with a random sun position."""
    elevation = math.radians(rng.uniform(20.0, 65.0))
    azimuth = rng.uniform(-math.pi, math.pi)
    sun = np.array([math.cos(elevation) * math.cos(azimuth), math.cos(elevation) * math.sin(azimuth),
                    math.sin(elevation)], np.float32)
    clear = bool(rng.random() < 0.65)
    if clear:
        colours = {"sun_rgb": (1.0, 0.96, 0.88), "ambient_rgb": (0.42, 0.45, 0.5),
                   "sky_zenith": (0.3, 0.5, 0.82), "sky_horizon": (0.75, 0.82, 0.9)}
        haze_distance = rng.uniform(500.0, 900.0)
    else:
        colours = {"sun_rgb": (0.35, 0.35, 0.35), "ambient_rgb": (0.68, 0.7, 0.72),
                   "sky_zenith": (0.6, 0.63, 0.67), "sky_horizon": (0.8, 0.81, 0.83)}
        haze_distance = rng.uniform(250.0, 500.0)
    return Lighting(sun_direction=sun, **{k: np.asarray(v, np.float32) for k, v in colours.items()},
                    haze_distance_m=float(haze_distance), shadows=clear)
