"""Rigid transforms: 4×4 float64 matrices named ``a_from_b`` that map points in frame b to frame a."""
from __future__ import annotations

import numpy as np

ORTHONORMAL_TOL = 1e-4


def make_transform(rotation: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """Build ``a_from_b`` (4, 4) from rotation (3, 3) and translation (3,)."""
    transform = np.eye(4)
    transform[:3, :3] = rotation
    transform[:3, 3] = translation
    return transform


def invert(a_from_b: np.ndarray) -> np.ndarray:
    """Return ``b_from_a`` for a rigid ``a_from_b`` (4, 4), using the transpose of the rotation."""
    rotation = a_from_b[:3, :3]
    return make_transform(rotation.T, -rotation.T @ a_from_b[:3, 3])


def transform_points(a_from_b: np.ndarray, points_b: np.ndarray) -> np.ndarray:
    """Map points (N, 3) from frame b to frame a; keeps the input dtype."""
    rotation = a_from_b[:3, :3].astype(points_b.dtype, copy=False)
    translation = a_from_b[:3, 3].astype(points_b.dtype, copy=False)
    return points_b @ rotation.T + translation


def rotate_vectors(a_from_b: np.ndarray, vectors_b: np.ndarray) -> np.ndarray:
    """Rotate direction vectors (N, 3) from frame b to frame a (no translation)."""
    return vectors_b @ a_from_b[:3, :3].T.astype(vectors_b.dtype, copy=False)


def quaternion_to_rotation(wxyz) -> np.ndarray:
    """Rotation matrix (3, 3) from a quaternion in (w, x, y, z) order; normalises the input."""
    w, x, y, z = np.asarray(wxyz, dtype=np.float64) / np.linalg.norm(wxyz)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ])


def rotation_to_quaternion(rotation: np.ndarray) -> np.ndarray:
    """Quaternion (4,) in (w, x, y, z) order with w >= 0 from a rotation matrix (3, 3)."""
    m = rotation
    trace = np.trace(m)
    if trace > 0:
        s = 2.0 * np.sqrt(trace + 1.0)
        q = [0.25 * s, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s]
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = 2.0 * np.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2])
        q = [(m[2, 1] - m[1, 2]) / s, 0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s]
    elif m[1, 1] > m[2, 2]:
        s = 2.0 * np.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2])
        q = [(m[0, 2] - m[2, 0]) / s, (m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s]
    else:
        s = 2.0 * np.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1])
        q = [(m[1, 0] - m[0, 1]) / s, (m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s]
    q = np.asarray(q)
    q /= np.linalg.norm(q)
    return q if q[0] >= 0 else -q


def yaw_rotation(yaw: float) -> np.ndarray:
    """Rotation (3, 3) about +z by ``yaw`` radians (counter-clockwise seen from above)."""
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def yaw_of(rotation: np.ndarray) -> float:
    """Heading about +z of a rotation (3, 3): the angle of its rotated x axis in the xy plane."""
    return float(np.arctan2(rotation[1, 0], rotation[0, 0]))


def wrap_angle(angle):
    """Wrap radians to [-π, π)."""
    return (np.asarray(angle) + np.pi) % (2 * np.pi) - np.pi


def rotation_error(rotation: np.ndarray) -> float:
    """How far (3, 3) is from a proper rotation: max |RᵀR − I| plus |det R − 1|."""
    rotation = np.asarray(rotation, dtype=np.float64)
    return float(np.abs(rotation.T @ rotation - np.eye(3)).max() + abs(np.linalg.det(rotation) - 1.0))


def is_rotation(rotation: np.ndarray, tol: float = ORTHONORMAL_TOL) -> bool:
    """True when (3, 3) is orthonormal with determinant +1 within ``tol``."""
    rotation = np.asarray(rotation)
    return rotation.shape == (3, 3) and bool(np.all(np.isfinite(rotation))) and rotation_error(rotation) <= tol
