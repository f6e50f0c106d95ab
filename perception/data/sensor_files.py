"""Reading raw sensor files with errors that name the file: lidar ``.bin`` clouds and camera images.

Lidar points are sanitised at load: a point with a NaN or inf value, or a value no lidar measures (a coordinate
beyond ``MAX_RANGE_XY_M``/``MAX_RANGE_Z_M`` of the sensor, an intensity outside ``INTENSITY_RANGE``), is dropped
with one warning naming the file and the count. Such values come from corrupt files; they are dropped rather than
clamped because a record with one absurd field is not to be trusted in its others, and a single intensity of 1e30
is enough to saturate every detection of the frame.
"""
from __future__ import annotations

import logging
import stat
from pathlib import Path

import cv2
import numpy as np

from perception.errors import DataError

log = logging.getLogger(__name__)

MAX_RANGE_XY_M = 1000.0
MAX_RANGE_Z_M = 100.0
INTENSITY_RANGE = (0.0, 255.0)  # nuScenes stores 0..255, KITTI 0..1 reflectance
IMAGE_MARKERS = {"JPEG": (b"\xff\xd8", b"\xff\xd9"), "PNG": (b"\x89PNG\r\n\x1a\n", b"IEND\xaeB`\x82")}
"""First and last bytes of the image formats whose truncation OpenCV does not report (libjpeg and libpng print an
anonymous warning or error and OpenCV returns a grey-padded image or none)."""


def read_regular_file(path: str | Path, what: str) -> bytes:
    """The bytes of a regular file; DataError naming ``what`` (e.g. "lidar") when it is missing, a folder, a FIFO,
    socket or device (checked with ``stat`` first: opening a FIFO for reading would wait for a writer forever) or
    unreadable."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
        if stat.S_ISDIR(mode):
            raise DataError(f"{what} path is a folder, not a file", path)
        if not stat.S_ISREG(mode):
            raise DataError(f"{what} path is not a regular file (a FIFO, socket or device)", path)
        return path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{what} file does not exist", path) from None
    except OSError as error:
        raise DataError(f"cannot read the {what} file: {error.strerror}", path) from None


def physical_points(points: np.ndarray, source) -> np.ndarray:
    """The rows of points (N, ≥4) ``x, y, z, intensity, ...`` whose values are finite and physically possible; a
    warning names ``source`` and says how many were dropped and why."""
    finite = np.isfinite(points).all(axis=1)
    with np.errstate(invalid="ignore"):
        in_range = ((np.abs(points[:, :2]) <= MAX_RANGE_XY_M).all(axis=1) & (np.abs(points[:, 2]) <= MAX_RANGE_Z_M)
                    & (points[:, 3] >= INTENSITY_RANGE[0]) & (points[:, 3] <= INTENSITY_RANGE[1]))
    keep = finite & in_range
    if not keep.all():
        log.warning("%s: dropped %d of %d points (%d with NaN or inf values, %d outside |x|, |y| <= %g m, "
                    "|z| <= %g m, intensity %g..%g)", source, (~keep).sum(), len(points), (~finite).sum(),
                    (finite & ~in_range).sum(), MAX_RANGE_XY_M, MAX_RANGE_Z_M, *INTENSITY_RANGE)
    return points[keep]


def read_lidar_bin(path: str | Path, num_fields: int) -> np.ndarray:
    """Points (N, num_fields) float32 from a little-endian float32 file (nuScenes ``.pcd.bin``: 5, KITTI: 4).

    Points with non-finite or impossible values are dropped with a warning (see the module docstring), and so is
    an empty file (the sweep is still usable camera-only); a missing or non-regular file or a size that is not a
    whole number of points raises DataError.
    """
    path = Path(path)
    raw = read_regular_file(path, "lidar")
    point_bytes = 4 * num_fields
    if len(raw) % point_bytes:
        raise DataError(f"truncated or corrupt lidar file: {len(raw)} bytes is not a multiple of "
                        f"{point_bytes} ({num_fields} float32 per point)", path)
    if not raw:
        log.warning("%s: empty lidar file (0 points)", path)
    points = np.frombuffer(raw, dtype="<f4").reshape(-1, num_fields).astype(np.float32)
    return physical_points(points, path)


def read_image(path: str | Path) -> np.ndarray:
    """An RGB image (H, W, 3) uint8; DataError when the file is missing, truncated or cannot be decoded."""
    return decode_image(read_regular_file(path, "image"), path)


def decode_image(data: bytes, source=None) -> np.ndarray:
    """RGB (H, W, 3) uint8 from encoded bytes (JPEG, PNG, ...); DataError naming ``source`` when they are empty, a
    JPEG or PNG cut short (checked before decoding, see ``IMAGE_MARKERS``) or undecodable."""
    if not data:
        raise DataError("empty image file", source)
    truncated = truncated_format(data)
    if truncated:
        raise DataError(f"truncated {truncated}: it does not end with the format's end marker", source)
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise DataError("corrupt image, or not an image OpenCV can decode", source)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def truncated_format(data: bytes) -> str:
    """The format ('JPEG', 'PNG') of image bytes that start as one but lack its end marker (zero padding after it is
    allowed), '' for any other bytes."""
    tail = data.rstrip(b"\x00")
    return next((name for name, (start, end) in IMAGE_MARKERS.items()
                 if data.startswith(start) and not tail.endswith(end)), "")


def image_size_mismatch(image: np.ndarray, width: int, height: int) -> str:
    """'' when image (H, W, 3) has the calibration's size, else why it cannot be paired with those intrinsics."""
    if image.shape[:2] == (height, width):
        return ""
    return (f"is {image.shape[1]}x{image.shape[0]} pixels but its calibration is for {width}x{height}; "
            "its intrinsics would not fit")
