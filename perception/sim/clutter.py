"""Meshes of the street's non-actors at actor height: hedges, bushes, low walls, fences, bollards, benches, bins,
utility cabinets, planters and buildings whose ground floor is an arcade on pillars.

Real streets are full of car- and person-sized shapes that are neither; a detector trained on streets without
them learns that every blob of points beside the road is an object (on the real nuScenes keyframe, 80 of 90
confident lidar detections were bushes, pillars and walls). Each builder returns a mesh around the origin,
x along the road, standing on z = 0.
"""
from __future__ import annotations

import numpy as np

from perception.sim.meshes import Mesh, box, frustum, merge, sphere, transform_mesh


def blob(rng: np.random.Generator, centre, radii) -> Mesh:
    """A lumpy ellipsoid: a coarse sphere scaled to ``radii`` (x, y, z) with its vertices pushed in and out by up
    to 15 %, so no two bushes are the same shape."""
    vertices, triangles = sphere(1.0, (0.0, 0.0, 0.0), resolution=6)
    lumps = rng.uniform(0.85, 1.15, (len(vertices), 1)).astype(np.float32)
    return (vertices * lumps * np.asarray(radii, np.float32) + np.asarray(centre, np.float32)), triangles


def hedge(rng: np.random.Generator, length: float, depth: float, height: float) -> Mesh:
    """A row of overlapping blobs ``length`` × ``depth`` × ``height`` metres."""
    count = max(1, int(np.ceil(length / (0.9 * height + 0.3))))
    xs = np.linspace(-0.5 * length, 0.5 * length, count + 2)[1:-1]
    step = length / count
    return merge(*(blob(rng, (x, rng.uniform(-0.1, 0.1), 0.5 * height * rng.uniform(0.85, 1.0)),
                        (0.65 * step + 0.1, 0.5 * depth, 0.5 * height * rng.uniform(0.9, 1.1))) for x in xs))


def bush(rng: np.random.Generator) -> Mesh:
    """One to three blobs 0.6–2.2 m across and 0.5–2 m tall."""
    parts = []
    for _ in range(int(rng.integers(1, 4))):
        radii = (rng.uniform(0.3, 1.1), rng.uniform(0.3, 1.1), rng.uniform(0.25, 1.0))
        parts.append(blob(rng, (rng.uniform(-0.8, 0.8), rng.uniform(-0.5, 0.5), radii[2] * 0.9), radii))
    return merge(*parts)


def block(length: float, width: float, height: float) -> Mesh:
    """A box standing on the ground: a low wall, a bin, a newspaper box or utility cabinet, a planter's trough."""
    return box((-0.5 * length, -0.5 * width, 0.0), (0.5 * length, 0.5 * width, height))


def fence(length: float, height: float, post_spacing: float = 2.0) -> Mesh:
    """Posts every ``post_spacing`` metres joined by a top and a middle rail."""
    count = max(2, int(round(length / post_spacing)) + 1)
    posts = [box((x - 0.04, -0.04, 0.0), (x + 0.04, 0.04, height)) for x in np.linspace(-0.5 * length, 0.5 * length,
                                                                                          count)]
    rails = [box((-0.5 * length, -0.025, z - 0.04), (0.5 * length, 0.025, z)) for z in (height, 0.55 * height)]
    return merge(*posts, *rails)


def bollards(count: int, spacing: float, height: float) -> Mesh:
    """``count`` posts of 0.1 m radius in a row along x."""
    xs = (np.arange(count) - 0.5 * (count - 1)) * spacing
    return merge(*(transform_mesh(frustum(0.1, 0.09, 0.0, height, 8), 0.0, (x, 0.0, 0.0)) for x in xs))


def bench(length: float) -> Mesh:
    """Seat at 0.45 m on two legs, backrest to 0.85 m on the +y side."""
    legs = [box((x - 0.04, -0.22, 0.0), (x + 0.04, 0.22, 0.43)) for x in (-0.4 * length, 0.4 * length)]
    seat = box((-0.5 * length, -0.25, 0.43), (0.5 * length, 0.25, 0.48))
    back = box((-0.5 * length, 0.2, 0.48), (0.5 * length, 0.25, 0.85))
    return merge(*legs, seat, back)


def planter(rng: np.random.Generator, length: float, width: float, height: float) -> tuple[Mesh, Mesh]:
    """A concrete trough and the shrub growing out of it: (trough, foliage)."""
    trough = block(length, width, height)
    foliage = blob(rng, (0.0, 0.0, height + 0.25), (0.5 * length, 0.5 * width, rng.uniform(0.25, 0.6)))
    return trough, foliage


def arcade_building(rng: np.random.Generator, frontage: float, depth: float, height: float, front_sign: int
                    ) -> Mesh:
    """A building whose ground floor is set back 2–4 m behind a row of pillars carrying the floors above.

    ``front_sign``: the side (-1: -y, 1: +y) of the face towards the road.
    """
    arcade_h = rng.uniform(3.5, 5.5)
    recess = rng.uniform(2.0, 4.0)
    upper = box((-0.5 * frontage, -0.5 * depth, arcade_h), (0.5 * frontage, 0.5 * depth, height))
    y0, y1 = (-0.5 * depth + recess, 0.5 * depth) if front_sign < 0 else (-0.5 * depth, 0.5 * depth - recess)
    ground_floor = box((-0.5 * frontage, y0, 0.0), (0.5 * frontage, y1, arcade_h))
    side = rng.uniform(0.4, 0.9)
    y_pillar = front_sign * (0.5 * depth - 0.3 - 0.5 * side)
    count = max(2, int(frontage / rng.uniform(4.0, 8.0)) + 1)
    xs = np.linspace(-0.5 * frontage + 0.5 * side, 0.5 * frontage - 0.5 * side, count)
    pillars = [box((x - 0.5 * side, y_pillar - 0.5 * side, 0.0), (x + 0.5 * side, y_pillar + 0.5 * side, arcade_h))
               for x in xs]
    return merge(upper, ground_floor, *pillars)
