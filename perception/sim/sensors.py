"""Ray-cast sensors for synthetic worlds: a spinning lidar (Velodyne HDL-32E geometry, as on
nuScenes) and a pinhole RGB camera.

Both take a ``RaycastingScene`` and its ``GeometryTable`` from ``World.raycasting_scene(t)``;
the scene is frozen at one time, so a lidar sweep is instantaneous.
"""
from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np
import open3d as o3d

from perception.sim.world import KIND_CODE, GeometryTable, World


@dataclasses.dataclass(frozen=True)
class SpinningLidarModel:
    """Spinning lidar: ``beams`` lasers at evenly spaced elevations, ``azimuth_steps`` firings
    per revolution.

    Returns are dropped at random (``dropout``) and, more often, when weak: the returned energy
    ``reflectivity * (0.3 + 0.7 cos(incidence)) / (range / 100 m)^2`` is compared with
    ``detection_energy`` through a soft threshold. A beam that meets foliage goes on through its gaps for an
    exponentially distributed depth of mean ``foliage_depth_m`` (0: leaves are a solid surface).
    """

    beams: int = 32
    elevation_top_deg: float = 10.67
    elevation_bottom_deg: float = -30.67
    azimuth_steps: int = 1084
    max_range_m: float = 100.0
    min_range_m: float = 0.3  # real nuScenes clouds keep the returns of their own roof, 0.5-1 m away
    range_noise_std_m: float = 0.02
    dropout: float = 0.02
    detection_energy: float = 0.03
    intensity_noise: float = 0.1
    frequency_hz: float = 20.0
    foliage_depth_m: float = 0.5  # a 1 m bush lets 14 % of beams through; returns spread 0.5 m into a crown

    def beam_elevations(self) -> np.ndarray:
        """(beams,) elevation of each ring in radians; ring 0 is the lowest beam."""
        return np.radians(np.linspace(self.elevation_bottom_deg, self.elevation_top_deg, self.beams))

    def ray_directions(self, azimuth_offset: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """Unit ray directions (beams * azimuth_steps, 3) float32 in the sensor frame and the ring
        index (beams * azimuth_steps,) of each; azimuth counter-clockwise from +x."""
        elevation = self.beam_elevations()
        azimuth = azimuth_offset + np.arange(self.azimuth_steps) * (2.0 * math.pi / self.azimuth_steps)
        ce, se = np.cos(elevation)[:, None], np.sin(elevation)[:, None]
        directions = np.stack(np.broadcast_arrays(ce * np.cos(azimuth), ce * np.sin(azimuth), se), axis=-1)
        ring = np.repeat(np.arange(self.beams), self.azimuth_steps)
        return directions.reshape(-1, 3).astype(np.float32), ring


def rays_tensor(origin: np.ndarray, directions: np.ndarray) -> o3d.core.Tensor:
    """(N, 6) float32 open3d rays from ``origin`` (3,) or (N, 3) along ``directions`` (N, 3)."""
    rays = np.empty((len(directions), 6), np.float32)
    rays[:, :3] = origin
    rays[:, 3:] = directions
    return o3d.core.Tensor.from_numpy(rays)


def incidence_cosine(normals: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """(N,) |cos| of the angle between surface normals and unit ray directions, both (N, 3)."""
    return np.abs(np.einsum("ij,ij->i", normals, directions))


def detection_probability(model: SpinningLidarModel, reflectivity: np.ndarray, cosine: np.ndarray,
                          ranges: np.ndarray) -> np.ndarray:
    """(N,) probability that a return is reported, from the energy it carries back."""
    energy = reflectivity * (0.3 + 0.7 * cosine) / np.square(ranges / 100.0)
    strength = np.log(np.maximum(energy, 1e-9) / model.detection_energy) / 0.35
    return (1.0 - model.dropout) / (1.0 + np.exp(-strength))


def lidar_intensity(model: SpinningLidarModel, reflectivity: np.ndarray, cosine: np.ndarray, ranges: np.ndarray,
                    rng: np.random.Generator) -> np.ndarray:
    """(N,) intensity in 0..255 (integer-valued): reflectivity^1.5 (diffuse surfaces stay dim,
    paint and retro-reflectors bright) times an incidence term with a mild range falloff, plus
    multiplicative and additive noise."""
    value = 255.0 * reflectivity**1.5 * (0.25 + 0.75 * cosine) * (1.0 - 0.3 * ranges / model.max_range_m)
    value *= 1.0 + model.intensity_noise * rng.standard_normal(len(value))
    value += rng.standard_normal(len(value))
    return np.clip(np.round(value), 0.0, 255.0)


@dataclasses.dataclass(frozen=True)
class EgoBody:
    """The sensor vehicle's body as a box (x, y, z min then max, ego frame) seen from the lidar mounted at
    ``ego_from_lidar`` (4, 4): a roof lidar's lower beams hit its own roof and bonnet, a quarter or more of a real
    nuScenes cloud."""

    box: tuple[float, float, float, float, float, float]
    ego_from_lidar: np.ndarray
    reflectivity: float = 0.5


EGO_BODY_ID = -1
"""Geometry id of returns from the ego vehicle's body."""


def ray_box_entry(origin: np.ndarray, directions: np.ndarray, box_min: np.ndarray,
                  box_max: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance (N,) along unit ``directions`` (N, 3) from ``origin`` (3,) (outside the box) to where each ray
    enters the axis-aligned box, inf for a miss, and the axis (N,) of the face it enters through (slab test)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        inverse = 1.0 / directions
        near = np.minimum((box_min - origin) * inverse, (box_max - origin) * inverse)
        far = np.maximum((box_min - origin) * inverse, (box_max - origin) * inverse)
    near, far = np.nan_to_num(near, nan=-np.inf), np.nan_to_num(far, nan=np.inf)
    entry, exit_ = near.max(axis=1), far.min(axis=1)
    return np.where((entry <= exit_) & (entry > 0), entry, np.inf), near.argmax(axis=1)


def ego_body_hits(body: EgoBody, directions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ranges (N,) at which lidar-frame unit ``directions`` (N, 3) hit the ego body (inf for a miss) and the
    unit normals (N, 3) of the faces hit, in the lidar frame."""
    rotation = body.ego_from_lidar[:3, :3]
    box = np.asarray(body.box, np.float64)
    ego_directions = directions @ rotation.T
    ranges, axis = ray_box_entry(body.ego_from_lidar[:3, 3], ego_directions, box[:3], box[3:])
    rows = np.arange(len(directions))
    normals = np.zeros((len(directions), 3))
    normals[rows, axis] = -np.sign(ego_directions[rows, axis])
    return ranges, normals @ rotation


def cast_from(scene: o3d.t.geometry.RaycastingScene, starts: np.ndarray,
              directions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distance (M,) float64 (inf for a miss), geometry id (M,) int64 and primitive normal (M, 3) of the first hit
    of each ray from ``starts`` (3,) or (M, 3) along unit ``directions`` (M, 3)."""
    hits = scene.cast_rays(rays_tensor(starts, directions))
    return (hits["t_hit"].numpy().astype(np.float64), hits["geometry_ids"].numpy().astype(np.int64),
            hits["primitive_normals"].numpy())


def is_foliage(table: GeometryTable, geometry_ids: np.ndarray) -> np.ndarray:
    """(M,) True where geometry ids (M,) int64 are leaves; misses (open3d's invalid id) are not."""
    known = geometry_ids < len(table.kind)
    return known & (table.kind[np.where(known, geometry_ids, 0)] == KIND_CODE["vegetation"])


def foliage_returns(scene: o3d.t.geometry.RaycastingScene, table: GeometryTable, origin: np.ndarray,
                    directions: np.ndarray, ranges: np.ndarray, geometry_ids: np.ndarray, normals: np.ndarray,
                    mean_depth: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ranges (N,), geometry ids (N,) and normals (N, 3) of rays from ``origin`` along unit ``directions`` (N, 3)
    once foliage is porous: a ray that hits leaves returns from an exponentially distributed depth (mean
    ``mean_depth`` m) inside the crown, from the trunk or wall it meets in there first, or, when it gets through
    the far side, from whatever lies behind. Real crowns and hedges give a cloud of points through their volume,
    not the clean shell a solid mesh gives, and that is what a detector has to learn to ignore."""
    rays = np.flatnonzero(is_foliage(table, geometry_ids))
    ranges, geometry_ids, normals = ranges.copy(), geometry_ids.copy(), normals.copy()
    if not len(rays):
        return ranges, geometry_ids, normals
    entry, ray_directions = ranges[rays], directions[rays]
    depth = rng.exponential(mean_depth, len(rays))
    inner, inner_ids, inner_normals = cast_from(scene, origin + ray_directions * (entry + 1e-3)[:, None],
                                                ray_directions)
    inner_leafy = is_foliage(table, inner_ids)
    inside = depth < inner
    ranges[rays[inside]] = entry[inside] + depth[inside]
    solid = ~inside & ~inner_leafy  # a trunk, wall or actor met within the crown
    ranges[rays[solid]] = entry[solid] + 1e-3 + inner[solid]
    geometry_ids[rays[solid]], normals[rays[solid]] = inner_ids[solid], inner_normals[solid]
    through = ~inside & inner_leafy
    far_side = entry[through] + 2e-3 + inner[through]
    behind, behind_ids, behind_normals = cast_from(scene, origin + ray_directions[through] * far_side[:, None],
                                                   ray_directions[through])
    ranges[rays[through]] = far_side + behind
    geometry_ids[rays[through]], normals[rays[through]] = behind_ids, behind_normals
    return ranges, geometry_ids, normals


def cast_lidar(scene: o3d.t.geometry.RaycastingScene, table: GeometryTable, global_from_lidar: np.ndarray,
               model: SpinningLidarModel, rng: np.random.Generator,
               ego_body: EgoBody | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One instantaneous sweep from the pose ``global_from_lidar`` (4, 4); rays stop at ``ego_body`` first.

    Returns points (N, 5) float32 [x, y, z, intensity 0..255, ring 0..beams-1] in the lidar frame
    (its axes are those of ``global_from_lidar``) and the geometry id (N,) int64 each point hit
    (``EGO_BODY_ID`` for the ego body).
    """
    directions, ring = model.ray_directions(rng.uniform(0.0, 2.0 * math.pi / model.azimuth_steps))
    rotation = np.asarray(global_from_lidar[:3, :3], np.float32)
    origin = np.asarray(global_from_lidar[:3, 3], np.float64)
    global_directions = directions @ rotation.T
    ranges, geometry_ids, normals = cast_from(scene, origin, global_directions)
    if model.foliage_depth_m > 0:
        ranges, geometry_ids, normals = foliage_returns(scene, table, origin, global_directions.astype(np.float64),
                                                        ranges, geometry_ids, normals, model.foliage_depth_m, rng)
    if ego_body is not None:
        body_ranges, body_normals = ego_body_hits(ego_body, directions.astype(np.float64))
        on_body = body_ranges < ranges
        ranges = np.where(on_body, body_ranges, ranges)
        geometry_ids = np.where(on_body, EGO_BODY_ID, geometry_ids)
        normals = np.where(on_body[:, None], (body_normals @ rotation.T.astype(np.float64)), normals)
    valid = np.flatnonzero((ranges >= model.min_range_m) & (ranges <= model.max_range_m))
    ranges, geometry_ids, normals = ranges[valid], geometry_ids[valid], normals[valid]
    points_global = origin + global_directions[valid] * ranges[:, None]
    world = geometry_ids != EGO_BODY_ID
    reflectivity = np.full(len(valid), ego_body.reflectivity if ego_body else 0.0)
    _, reflectivity[world] = table.surface(points_global[world], normals[world], geometry_ids[world])
    cosine = incidence_cosine(normals, global_directions[valid])
    kept = rng.random(len(valid)) < detection_probability(model, reflectivity, cosine, ranges)
    ranges, cosine, reflectivity = ranges[kept], cosine[kept], reflectivity[kept]
    measured = ranges + model.range_noise_std_m * rng.standard_normal(len(ranges))
    points = np.empty((len(ranges), 5), np.float32)
    points[:, :3] = directions[valid[kept]] * measured[:, None]
    points[:, 3] = lidar_intensity(model, reflectivity, cosine, ranges, rng)
    points[:, 4] = ring[valid[kept]]
    return points, geometry_ids[kept]


@functools.lru_cache(maxsize=16)
def _pinhole_directions(k_bytes: bytes, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    k_inv = np.linalg.inv(np.frombuffer(k_bytes, np.float64).reshape(3, 3))
    u = np.arange(width, dtype=np.float64)[None, :, None] + 0.5
    v = np.arange(height, dtype=np.float64)[:, None, None] + 0.5
    directions = (u * k_inv[:, 0] + v * k_inv[:, 1] + k_inv[:, 2]).reshape(-1, 3).astype(np.float32)
    directions.flags.writeable = False
    norms = np.linalg.norm(directions, axis=1).astype(np.float32)
    norms.flags.writeable = False
    return directions, norms


def pinhole_directions(k: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Camera-frame ray directions (H*W, 3) float32 through pixel centres, scaled to z = 1 (so the
    ray parameter of a hit is its depth), and their lengths (H*W,). Row-major pixel order."""
    return _pinhole_directions(np.ascontiguousarray(k, np.float64).tobytes(), int(width), int(height))


def sky_colour(world: World, directions: np.ndarray, norms: np.ndarray) -> np.ndarray:
    """(M, 3) float32 sky gradient from horizon to zenith by ray elevation."""
    light = world.lighting
    up = np.clip(directions[:, 2] / norms, 0.0, 1.0)
    return light.sky_horizon + (light.sky_zenith - light.sky_horizon) * np.sqrt(up)[:, None]


def facing_normals(normals: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """Normals (M, 3) flipped where needed to face back along the rays (M, 3)."""
    cosine = normals[:, 0] * directions[:, 0] + normals[:, 1] * directions[:, 1] + normals[:, 2] * directions[:, 2]
    return normals * np.where(cosine > 0, np.float32(-1.0), np.float32(1.0))[:, None]


def sun_visibility(scene: o3d.t.geometry.RaycastingScene, points: np.ndarray, normals: np.ndarray,
                   sun: np.ndarray) -> np.ndarray:
    """(M,) 1.0 where a ray from each point (nudged off its surface) toward the sun escapes the
    scene, else 0.0."""
    rays = np.empty((len(points), 6), np.float32)
    np.multiply(normals, np.float32(0.03), out=rays[:, :3])
    rays[:, :3] += points
    rays[:, 3:] = sun
    blocked = scene.test_occlusions(o3d.core.Tensor.from_numpy(rays), tfar=400.0).numpy()
    return (~blocked).astype(np.float32)


def shade(world: World, scene: o3d.t.geometry.RaycastingScene, albedo: np.ndarray, points: np.ndarray,
          normals: np.ndarray) -> np.ndarray:
    """(M, 3) float32 lit colour: hemispheric ambient plus Lambertian sun, with cast shadows."""
    light = world.lighting
    sun = light.sun_direction
    lambert = np.maximum(normals[:, 0] * sun[0] + normals[:, 1] * sun[1] + normals[:, 2] * sun[2], np.float32(0.0))
    if light.shadows:
        lit = np.flatnonzero(lambert > 0)
        lambert[lit] *= sun_visibility(scene, np.take(points, lit, axis=0), np.take(normals, lit, axis=0), sun)
    sky_light = np.float32(0.75) + np.float32(0.25) * normals[:, 2:3]
    return albedo * (light.ambient_rgb * sky_light + lambert[:, None] * light.sun_rgb)


def render_camera(scene: o3d.t.geometry.RaycastingScene, table: GeometryTable, world: World, k: np.ndarray,
                  width: int, height: int, global_from_camera: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Render an (height, width, 3) uint8 RGB image from an OpenCV pinhole camera (x right, y down,
    z forward) with intrinsics ``k`` (3, 3) at pose ``global_from_camera`` (4, 4).

    One ray per pixel; textured surfaces, sun and ambient light with shadows, sky gradient,
    distance haze and Gaussian pixel noise.
    """
    camera_directions, norms = pinhole_directions(k, width, height)
    rotation = np.asarray(global_from_camera[:3, :3], np.float32)
    origin = np.asarray(global_from_camera[:3, 3], np.float32)
    rays = np.empty((width * height, 6), np.float32)
    rays[:, :3] = origin
    np.matmul(camera_directions, rotation.T, out=rays[:, 3:])
    hits = scene.cast_rays(o3d.core.Tensor.from_numpy(rays))
    depth = hits["t_hit"].numpy()
    finite = np.isfinite(depth)
    hit, miss = np.flatnonzero(finite), np.flatnonzero(~finite)
    image = np.empty((width * height, 3), np.float32)
    image[miss] = sky_colour(world, np.take(rays[:, 3:], miss, axis=0), norms[miss])

    directions = np.take(rays[:, 3:], hit, axis=0)
    depth = depth[hit]
    points = directions * depth[:, None] + origin
    normals = facing_normals(np.take(hits["primitive_normals"].numpy(), hit, axis=0), directions)
    albedo, _ = table.surface(points, normals, hits["geometry_ids"].numpy()[hit].astype(np.int64))
    colour = shade(world, scene, albedo, points, normals)
    haze = 1.0 - np.exp(depth * norms[hit] * np.float32(-1.0 / world.lighting.haze_distance_m))
    colour += (world.lighting.sky_horizon - colour) * haze[:, None]
    image[hit] = colour

    image *= 255.0
    image += np.float32(2.0) * rng.standard_normal((width * height, 1), dtype=np.float32)
    return np.clip(image, 0.0, 255.0, out=image).astype(np.uint8).reshape(height, width, 3)
