"""Mesh primitives of the synthetic world: numpy meshes (vertices (V, 3) float32, triangles (F, 3)
uint32) built from boxes, tapered boxes, frusta, cylinders, spheres, tori and beams, merged and posed,
and ``MeshPart``, a single-material piece of mesh that actors and static scenery are made of.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import open3d as o3d

from calib.se3 import yaw_rotation

TWO_PI = 2.0 * math.pi

Mesh = tuple[np.ndarray, np.ndarray]

_HEX_FACES = np.array(
    [[0, 1, 2], [0, 2, 3], [4, 6, 5], [4, 7, 6], [0, 4, 5], [0, 5, 1],
     [1, 5, 6], [1, 6, 2], [2, 6, 7], [2, 7, 3], [3, 7, 4], [3, 4, 0]],
    dtype=np.uint32,
)


def hexahedron(corners) -> Mesh:
    """Closed mesh of 8 corners: bottom quad 0-3 then the top quad in the same order."""
    return np.asarray(corners, np.float32).reshape(8, 3), _HEX_FACES.copy()


def box(lo, hi) -> Mesh:
    """Axis-aligned box between corners ``lo`` and ``hi``."""
    (x0, y0, z0), (x1, y1, z1) = lo, hi
    return hexahedron([[x0, y0, z0], [x1, y0, z0], [x1, y1, z0], [x0, y1, z0],
                       [x0, y0, z1], [x1, y0, z1], [x1, y1, z1], [x0, y1, z1]])


def tapered_box(x, y_bottom, y_top, z, x_top=None) -> Mesh:
    """Box spanning ``x``/``z`` (pairs) whose half-width shrinks from ``y_bottom`` to ``y_top``;
    ``x_top`` optionally gives a different x span for the top face (sloped ends)."""
    (x0, x1), (z0, z1) = x, z
    u0, u1 = x_top if x_top is not None else x
    return hexahedron([[x0, -y_bottom, z0], [x1, -y_bottom, z0], [x1, y_bottom, z0], [x0, y_bottom, z0],
                       [u0, -y_top, z1], [u1, -y_top, z1], [u1, y_top, z1], [u0, y_top, z1]])


def frustum(r_bottom: float, r_top: float, z0: float, z1: float, segments: int = 12) -> Mesh:
    """Capped cone frustum about the z axis (a cylinder when the radii match)."""
    a = np.linspace(0.0, TWO_PI, segments, endpoint=False)
    ring = np.column_stack([np.cos(a), np.sin(a)])
    v = np.concatenate([
        np.column_stack([ring * r_bottom, np.full(segments, z0)]),
        np.column_stack([ring * r_top, np.full(segments, z1)]),
        [[0.0, 0.0, z0], [0.0, 0.0, z1]],
    ])
    i = np.arange(segments)
    j = (i + 1) % segments
    n = segments
    f = np.concatenate([
        np.column_stack([i, j, n + j]), np.column_stack([i, n + j, n + i]),
        np.column_stack([np.full(n, 2 * n), j, i]), np.column_stack([np.full(n, 2 * n + 1), n + i, n + j]),
    ])
    return v.astype(np.float32), f.astype(np.uint32)


def cylinder_y(radius: float, width: float, centre) -> Mesh:
    """Cylinder with its axis along y (a wheel), centred at ``centre``."""
    v, f = frustum(radius, radius, -0.5 * width, 0.5 * width, segments=14)
    return v[:, [0, 2, 1]] + np.asarray(centre, np.float32), f


def sphere(radius: float, centre, resolution: int = 8) -> Mesh:
    m = o3d.geometry.TriangleMesh.create_sphere(radius=radius, resolution=resolution)
    return (np.asarray(m.vertices, np.float32) + np.asarray(centre, np.float32),
            np.asarray(m.triangles, np.uint32))


def torus_y(radius: float, tube: float, centre) -> Mesh:
    """Torus in the x-z plane (a thin wheel), centred at ``centre``."""
    m = o3d.geometry.TriangleMesh.create_torus(torus_radius=radius, tube_radius=tube,
                                               radial_resolution=18, tubular_resolution=6)
    v = np.asarray(m.vertices, np.float32)[:, [0, 2, 1]]
    return v + np.asarray(centre, np.float32), np.asarray(m.triangles, np.uint32)


def beam(p0, p1, thickness: float) -> Mesh:
    """Square-section bar from ``p0`` to ``p1``."""
    p0, p1 = np.asarray(p0, np.float64), np.asarray(p1, np.float64)
    axis = (p1 - p0) / np.linalg.norm(p1 - p0)
    helper = np.array([0.0, 0.0, 1.0]) if abs(axis[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    u = np.cross(axis, helper)
    u *= 0.5 * thickness / np.linalg.norm(u)
    w = np.cross(axis, u)
    ring = [-u - w, u - w, u + w, -u + w]
    return hexahedron([p0 + r for r in ring] + [p1 + r for r in ring])


def merge(*meshes: Mesh) -> Mesh:
    """Concatenate meshes into one."""
    vs, fs, offset = [], [], 0
    for v, f in meshes:
        vs.append(v)
        fs.append(f + offset)
        offset += len(v)
    return np.concatenate(vs).astype(np.float32), np.concatenate(fs).astype(np.uint32)


def transform_mesh(mesh: Mesh, yaw: float, translation) -> Mesh:
    """Rotate a mesh about +z by ``yaw``, then translate it."""
    v, f = mesh
    return (v @ yaw_rotation(yaw).T.astype(np.float32) + np.asarray(translation, np.float32)), f


@dataclasses.dataclass(frozen=True)
class MeshPart:
    """A single-material mesh piece; an actor's parts are in its box frame."""

    vertices: np.ndarray  # (V, 3) float32
    triangles: np.ndarray  # (F, 3) uint32
    rgb: tuple[float, float, float]
    reflectivity: float
