"""Reading raw sensor files with errors that name the file: lidar ``.bin`` clouds and camera images."""
from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from perception.errors import DataError

log = logging.getLogger(__name__)


def read_lidar_bin(path: str | Path, num_fields: int) -> np.ndarray:
    """Points (N, num_fields) float32 from a little-endian float32 file (nuScenes ``.pcd.bin``: 5, KITTI: 4).

    Rows with NaN or inf are dropped with a warning; a missing file or a size that is not a whole number of
    points raises DataError.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError("lidar file does not exist", path) from None
    point_bytes = 4 * num_fields
    if len(raw) % point_bytes:
        raise DataError(f"truncated or corrupt lidar file: {len(raw)} bytes is not a multiple of "
                        f"{point_bytes} ({num_fields} float32 per point)", path)
    points = np.frombuffer(raw, dtype="<f4").reshape(-1, num_fields).astype(np.float32)
    finite = np.isfinite(points).all(axis=1)
    if not finite.all():
        log.warning("%s: dropped %d of %d points with NaN or inf values", path, (~finite).sum(), len(points))
        points = points[finite]
    return points


def read_image(path: str | Path) -> np.ndarray:
    """An RGB image (H, W, 3) uint8; DataError when the file is missing or cannot be decoded."""
    path = Path(path)
    if not path.is_file():
        raise DataError("image file does not exist", path)
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise DataError("image file is corrupt or not an image OpenCV can decode", path)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
