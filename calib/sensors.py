"""Sensor models: a pinhole camera (optionally with OpenCV lens distortion) and a lidar, both posed in the ego frame."""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from .errors import CalibrationError
from .se3 import invert, rotation_error, transform_points, ORTHONORMAL_TOL

MIN_DEPTH_M = 0.1  # points closer to the image plane than this are not projected


def as_float_array(value, field_name: str) -> np.ndarray:
    """``value`` as a float64 array, or a CalibrationError naming the field."""
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise CalibrationError(f"expected numbers, got {value!r}", field=field_name) from None


def check_pose(pose: np.ndarray, field_name: str) -> np.ndarray:
    """Validate a rigid 4×4 transform and return it as float64; raise naming ``field_name``."""
    pose = as_float_array(pose, field_name)
    if pose.shape != (4, 4):
        raise CalibrationError(f"expected a 4x4 matrix, got shape {pose.shape}", field=field_name)
    if not np.all(np.isfinite(pose)):
        raise CalibrationError("contains NaN or inf", field=field_name)
    error = rotation_error(pose[:3, :3])
    if error > ORTHONORMAL_TOL:
        raise CalibrationError(
            f"rotation is not orthonormal with determinant +1 (error {error:.3g} > {ORTHONORMAL_TOL})", field=field_name)
    if not np.allclose(pose[3], [0, 0, 0, 1]):
        raise CalibrationError("last row must be [0, 0, 0, 1]", field=field_name)
    return pose


@dataclass(frozen=True)
class Camera:
    """A pinhole camera. Camera frame is OpenCV: x right, y down, z forward.

    intrinsics: (3, 3) K; distortion: OpenCV (k1, k2, p1, p2[, k3]) or None for a rectified image;
    ego_from_camera: (4, 4) pose in the ego frame.
    """

    name: str
    intrinsics: np.ndarray
    width: int
    height: int
    ego_from_camera: np.ndarray
    distortion: np.ndarray | None = field(default=None)

    def __post_init__(self):
        prefix = f"cameras.{self.name}"
        k = as_float_array(self.intrinsics, f"{prefix}.intrinsics")
        if k.shape != (3, 3) or not np.all(np.isfinite(k)):
            raise CalibrationError(f"expected a finite 3x3 matrix, got shape {k.shape}", field=f"{prefix}.intrinsics")
        if k[0, 0] <= 0 or k[1, 1] <= 0:
            raise CalibrationError(f"focal lengths must be positive, got fx={k[0, 0]}, fy={k[1, 1]}",
                                   field=f"{prefix}.intrinsics")
        if not np.allclose(k[2], [0, 0, 1]) or k[1, 0] != 0:
            raise CalibrationError("last row must be [0, 0, 1] and K[1, 0] zero", field=f"{prefix}.intrinsics")
        for side in ("width", "height"):
            value = getattr(self, side)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
                raise CalibrationError(f"expected a positive integer, got {value!r}", field=f"{prefix}.{side}")
            object.__setattr__(self, side, int(value))
        object.__setattr__(self, "intrinsics", k)
        object.__setattr__(self, "ego_from_camera", check_pose(self.ego_from_camera, f"{prefix}.ego_from_camera"))
        if self.distortion is not None:
            d = as_float_array(self.distortion, f"{prefix}.distortion").reshape(-1)
            if d.size not in (4, 5) or not np.all(np.isfinite(d)):
                raise CalibrationError("expected 4 or 5 finite OpenCV coefficients (k1, k2, p1, p2[, k3])",
                                       field=f"{prefix}.distortion")
            object.__setattr__(self, "distortion", None if not d.any() else d)

    def with_pose(self, ego_from_camera: np.ndarray) -> "Camera":
        """The same camera at another pose, e.g. one that includes ego motion."""
        return replace(self, ego_from_camera=ego_from_camera)

    def project(self, points_ego: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Project ego-frame points (N, 3) into the image.

        Returns pixels (N, 2) as (u, v), depth (N,) along the optical axis, and visible (N,) bool: in front of
        the camera and inside the image.
        """
        points_cam = transform_points(invert(self.ego_from_camera), np.asarray(points_ego, dtype=np.float64))
        depth = points_cam[:, 2]
        in_front = depth > MIN_DEPTH_M
        with np.errstate(divide="ignore", invalid="ignore"):
            normalized = points_cam[:, :2] / np.where(in_front, depth, 1.0)[:, None]
        if self.distortion is not None:
            normalized = distort(normalized, self.distortion)
        k = self.intrinsics
        pixels = normalized @ k[:2, :2].T + k[:2, 2]
        inside = (pixels[:, 0] >= 0) & (pixels[:, 0] < self.width) & (pixels[:, 1] >= 0) & (pixels[:, 1] < self.height)
        return pixels, depth, in_front & inside


def distort(normalized: np.ndarray, coefficients: np.ndarray) -> np.ndarray:
    """Apply OpenCV's radial-tangential model to normalised image coordinates (N, 2)."""
    k1, k2, p1, p2 = coefficients[:4]
    k3 = coefficients[4] if coefficients.size > 4 else 0.0
    x, y = normalized[:, 0], normalized[:, 1]
    r2 = x * x + y * y
    radial = 1 + k1 * r2 + k2 * r2 ** 2 + k3 * r2 ** 3
    xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    return np.stack([xd, yd], axis=1)


@dataclass(frozen=True)
class Lidar:
    """A lidar posed in the ego frame: ego_from_lidar (4, 4)."""

    name: str
    ego_from_lidar: np.ndarray

    def __post_init__(self):
        object.__setattr__(self, "ego_from_lidar", check_pose(self.ego_from_lidar, "lidar.ego_from_lidar"))
