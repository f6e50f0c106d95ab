"""``Frame``: everything the detector sees at one lidar keyframe, in the ego frame of that keyframe."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from calib import Camera, Rig
from calib.se3 import transform_points
from perception.boxes import Boxes3D

POINT_FIELDS = ("x", "y", "z", "intensity", "dt")


@dataclass
class Frame:
    """One synchronised sample.

    points: (N, 5) float32 ``x, y, z, intensity, dt`` in the ego frame at the lidar keyframe time; ``dt`` is the
    age of the sweep a point came from, in seconds (0 for the keyframe). images: camera name → (H, W, 3) uint8 RGB.
    rig: cameras whose ``ego_from_camera`` already includes ego motion between camera and lidar timestamps.
    global_from_ego: (4, 4) ego pose at the lidar keyframe time. boxes: ground truth in the ego frame, if known.
    """

    token: str
    timestamp: float
    points: np.ndarray
    images: dict[str, np.ndarray]
    rig: Rig
    global_from_ego: np.ndarray
    boxes: Boxes3D | None = None
    scene_name: str = ""
    camera_timestamps: dict[str, float] = field(default_factory=dict)

    def without_cameras(self, names) -> "Frame":
        """A copy with the named cameras removed (a missing or failed sensor)."""
        names = set(names)
        return Frame(self.token, self.timestamp, self.points, {k: v for k, v in self.images.items() if k not in names},
                     self.rig.without_cameras(names), self.global_from_ego, self.boxes, self.scene_name,
                     {k: v for k, v in self.camera_timestamps.items() if k not in names})


def sweep_points(raw: np.ndarray, key_from_lidar: np.ndarray, age_s: float) -> np.ndarray:
    """Points (N, 5) ``x, y, z, intensity, dt`` in the keyframe's ego frame from a sweep's raw (N, ≥4) points
    ``x, y, z, intensity`` in its lidar frame; ``key_from_lidar`` includes the ego motion since the sweep."""
    points = np.empty((len(raw), 5), dtype=np.float32)
    points[:, :3] = transform_points(key_from_lidar, raw[:, :3].astype(np.float64))
    points[:, 3] = raw[:, 3]
    points[:, 4] = age_s
    return points


def camera_at_lidar_time(camera: Camera, ego_from_global_at_lidar: np.ndarray,
                         global_from_ego_at_camera: np.ndarray) -> Camera:
    """The camera posed in the ego frame at the lidar's time: camera → ego(t_camera) → global → ego(t_lidar).

    Cameras and lidar do not fire together; ignoring the ego motion between them is off by up to 0.3 m on nuScenes.
    """
    return camera.with_pose(ego_from_global_at_lidar @ global_from_ego_at_camera @ camera.ego_from_camera)
