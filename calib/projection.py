"""Projection of 3D boxes into camera images, with visibility."""
from __future__ import annotations

import numpy as np

from .boxes import box_corners
from .sensors import Camera, MIN_DEPTH_M


def project_boxes(camera: Camera, boxes_ego: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Project boxes (M, ≥7) in the ego frame into ``camera``.

    Returns corner pixels (M, 8, 2), corner depths (M, 8) and visible (M,) bool: every corner is in front of the
    camera and at least one lands inside the image (the devkit's "any corner" rule with points behind excluded).
    """
    corners = box_corners(boxes_ego)
    pixels, depth, inside = camera.project(corners.reshape(-1, 3))
    pixels, depth, inside = pixels.reshape(-1, 8, 2), depth.reshape(-1, 8), inside.reshape(-1, 8)
    visible = (depth > MIN_DEPTH_M).all(axis=1) & inside.any(axis=1)
    return pixels, depth, visible
