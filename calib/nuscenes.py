"""Import nuScenes ``calibrated_sensor`` / ``ego_pose`` records (translation + wxyz quaternion) as our sensors."""
from __future__ import annotations

import numpy as np

from .errors import CalibrationError
from .se3 import make_transform, quaternion_to_rotation
from .sensors import Camera, Lidar


def pose_from_record(record: dict, what: str = "record") -> np.ndarray:
    """``parent_from_child`` (4, 4) from a record with ``translation`` (3,) and ``rotation`` (w, x, y, z)."""
    try:
        translation = np.asarray(record["translation"], dtype=np.float64).reshape(3)
        quaternion = np.asarray(record["rotation"], dtype=np.float64).reshape(4)
    except (KeyError, TypeError, ValueError) as error:
        raise CalibrationError(f"needs 'translation' (3 numbers) and 'rotation' (4 numbers): {error}",
                               field=what) from None
    if not (np.isfinite(translation).all() and np.isfinite(quaternion).all()) or np.linalg.norm(quaternion) < 1e-9:
        raise CalibrationError("translation/rotation must be finite with a non-zero quaternion", field=what)
    return make_transform(quaternion_to_rotation(quaternion), translation)


def camera_from_nuscenes(channel: str, calibrated_sensor: dict, width: int, height: int) -> Camera:
    """A camera from its nuScenes calibrated_sensor record (pose in the ego frame, ``camera_intrinsic`` K)."""
    intrinsics = calibrated_sensor.get("camera_intrinsic")
    if not intrinsics:
        raise CalibrationError("has no camera_intrinsic", field=f"calibrated_sensor[{channel}]")
    return Camera(name=channel, intrinsics=np.asarray(intrinsics, dtype=np.float64), width=int(width),
                  height=int(height), ego_from_camera=pose_from_record(calibrated_sensor, f"calibrated_sensor[{channel}]"))


def lidar_from_nuscenes(channel: str, calibrated_sensor: dict) -> Lidar:
    return Lidar(name=channel, ego_from_lidar=pose_from_record(calibrated_sensor, f"calibrated_sensor[{channel}]"))
