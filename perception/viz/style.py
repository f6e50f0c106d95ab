"""Colours shared by every renderer: one class palette, point colours by depth and by height."""
from __future__ import annotations

import cv2
import numpy as np

from perception.data.classes import DETECTION_CLASSES

DEFAULT_MIN_SCORE = 0.3
"""Detections below this score are not drawn unless asked (viz, replay video)."""

CLASS_COLORS: dict[str, tuple[int, int, int]] = {
    "car": (255, 158, 0),
    "truck": (255, 80, 80),
    "bus": (255, 215, 0),
    "trailer": (190, 120, 60),
    "construction_vehicle": (230, 230, 130),
    "pedestrian": (40, 150, 255),
    "motorcycle": (255, 70, 255),
    "bicycle": (170, 100, 255),
    "traffic_cone": (0, 230, 120),
    "barrier": (190, 190, 190),
}
"""RGB colour of each detection class, used for boxes in every view."""

HEIGHT_RANGE_M = (-2.0, 3.0)  # ego z mapped onto the height colour map: road just below 0, roofs and trees above


def detection_label(label: int, score: float) -> str:
    """The text every view shows beside a detection: class name and score."""
    return f"{DETECTION_CLASSES[label]} {score:.2f}"


def class_colors(labels: np.ndarray) -> list[tuple[int, int, int]]:
    """RGB colour of each label (M,), an index into ``DETECTION_CLASSES``."""
    return [CLASS_COLORS[DETECTION_CLASSES[label]] for label in labels]


def colormap(values: np.ndarray, low: float, high: float, cmap: int) -> np.ndarray:
    """RGB colours (N, 3) uint8 of values (N,) scaled from [low, high] onto an OpenCV colour map."""
    scaled = np.clip(255 * (np.asarray(values, dtype=np.float64) - low) / (high - low), 0, 255).astype(np.uint8)
    return cv2.applyColorMap(scaled[:, None], cmap)[:, 0, ::-1]


def depth_colors(depth: np.ndarray, max_depth: float = 60.0) -> np.ndarray:
    """RGB colours (N, 3) uint8 from near (red) to far (blue) with OpenCV's turbo map."""
    return colormap(max_depth - np.asarray(depth), 0.0, max_depth, cv2.COLORMAP_TURBO)


def height_colors(z: np.ndarray, z_range: tuple[float, float] = HEIGHT_RANGE_M) -> np.ndarray:
    """RGB colours (N, 3) uint8 of heights z (N,) in metres: low blue through green to high yellow."""
    return colormap(z, *z_range, cv2.COLORMAP_VIRIDIS)
