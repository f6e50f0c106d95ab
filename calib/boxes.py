"""3D box geometry in the project's convention.

A box row is ``(x, y, z, l, w, h, yaw[, vx, vy])``: geometric centre, length along the heading, yaw about +z from +x
(counter-clockwise, radians). Corner order: bottom face then top face, each front-left, front-right, rear-right,
rear-left, where front is +length and left is +width.
"""
from __future__ import annotations

import numpy as np

from .se3 import transform_points, wrap_angle, yaw_of

_CORNER_SIGNS = np.array([
    [1, 1, -1], [1, -1, -1], [-1, -1, -1], [-1, 1, -1],
    [1, 1, 1], [1, -1, 1], [-1, -1, 1], [-1, 1, 1],
], dtype=np.float64) * 0.5


def box_corners(boxes: np.ndarray) -> np.ndarray:
    """Corners (M, 8, 3) of boxes (M, ≥7)."""
    boxes = np.atleast_2d(np.asarray(boxes, dtype=np.float64))
    local = _CORNER_SIGNS[None] * boxes[:, None, 3:6]
    c, s = np.cos(boxes[:, 6]), np.sin(boxes[:, 6])
    x = local[..., 0] * c[:, None] - local[..., 1] * s[:, None]
    y = local[..., 0] * s[:, None] + local[..., 1] * c[:, None]
    return np.stack([x, y, local[..., 2]], axis=-1) + boxes[:, None, :3]


def points_in_boxes(points: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Membership mask (M, N): point n (N, ≥3) lies inside box m (M, ≥7), faces included."""
    points = np.asarray(points, dtype=np.float64)[:, :3]
    boxes = np.asarray(boxes, dtype=np.float64)
    if len(boxes) == 0:
        return np.zeros((0, len(points)), dtype=bool)
    offset = points[None, :, :] - boxes[:, None, :3]
    c, s = np.cos(boxes[:, 6])[:, None], np.sin(boxes[:, 6])[:, None]
    along = offset[..., 0] * c + offset[..., 1] * s
    across = -offset[..., 0] * s + offset[..., 1] * c
    half = boxes[:, None, 3:6] / 2
    return ((np.abs(along) <= half[..., 0]) & (np.abs(across) <= half[..., 1])
            & (np.abs(offset[..., 2]) <= half[..., 2]))


def transform_boxes(a_from_b: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """Express boxes (M, 7 or 9) given in frame b in frame a.

    Centres are moved rigidly, yaw gains the transform's heading, velocities (if present) are rotated. Assumes the
    transform keeps +z up (true for ego/lidar/global frames up to small tilts, whose effect on yaw is ignored).
    """
    boxes_b = np.asarray(boxes_b, dtype=np.float64)
    out = boxes_b.copy()
    out[:, :3] = transform_points(a_from_b, boxes_b[:, :3])
    out[:, 6] = wrap_angle(boxes_b[:, 6] + yaw_of(a_from_b[:3, :3]))
    if boxes_b.shape[1] >= 9:
        velocity = np.concatenate([boxes_b[:, 7:9], np.zeros((len(boxes_b), 1))], axis=1)
        out[:, 7:9] = (velocity @ a_from_b[:3, :3].T)[:, :2]
    return out
