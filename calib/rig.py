"""A sensor rig (named cameras + one lidar) and its YAML file format.

Rig file layout (all poses in the ego frame: x forward, y left, z up)::

    lidar:
      name: LIDAR_TOP
      ego_from_lidar: {translation: [x, y, z], rotation: [[r00, r01, r02], [r10, ...], [...]]}
    cameras:
      CAM_FRONT:
        width: 1600
        height: 900
        intrinsics: [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]
        distortion: [k1, k2, p1, p2, k3]     # optional, OpenCV model
        ego_from_camera: {translation: [...], rotation: [[...], [...], [...]]}

A rotation may also be given as ``quaternion_wxyz: [w, x, y, z]`` instead of ``rotation``.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import yaml

from .atomic import atomic_write_bytes
from .errors import CalibrationError
from .se3 import make_transform, quaternion_to_rotation
from .sensors import Camera, Lidar, as_float_array


@dataclass(frozen=True)
class Rig:
    """Named cameras (ordered) and one lidar."""

    cameras: dict[str, Camera]
    lidar: Lidar

    @property
    def camera_names(self) -> list[str]:
        return list(self.cameras)

    def with_camera_poses(self, ego_from_camera: dict[str, np.ndarray]) -> "Rig":
        """A copy whose cameras named in ``ego_from_camera`` take the given poses."""
        cameras = {name: cam.with_pose(ego_from_camera[name]) if name in ego_from_camera else cam
                   for name, cam in self.cameras.items()}
        return replace(self, cameras=cameras)

    def without_cameras(self, names) -> "Rig":
        return replace(self, cameras={n: c for n, c in self.cameras.items() if n not in set(names)})


def pose_to_yaml(pose: np.ndarray) -> dict:
    return {"translation": [float(v) for v in pose[:3, 3]],
            "rotation": [[float(v) for v in row] for row in pose[:3, :3]]}


def rig_to_dict(rig: Rig) -> dict:
    cameras = {}
    for name, cam in rig.cameras.items():
        entry = {"width": cam.width, "height": cam.height,
                 "intrinsics": [[float(v) for v in row] for row in cam.intrinsics],
                 "ego_from_camera": pose_to_yaml(cam.ego_from_camera)}
        if cam.distortion is not None:
            entry["distortion"] = [float(v) for v in cam.distortion]
        cameras[name] = entry
    return {"lidar": {"name": rig.lidar.name, "ego_from_lidar": pose_to_yaml(rig.lidar.ego_from_lidar)},
            "cameras": cameras}


def save_rig(rig: Rig, path: str | Path) -> None:
    """Write a rig file atomically (a crash never leaves a half-written file)."""
    atomic_write_bytes(path, yaml.safe_dump(rig_to_dict(rig), sort_keys=False, default_flow_style=None).encode())


def _require(mapping, key: str, where: str):
    if not isinstance(mapping, dict):
        raise CalibrationError(f"expected a mapping, got {type(mapping).__name__}", field=where)
    if key not in mapping:
        raise CalibrationError("missing", field=f"{where}.{key}" if where else key)
    return mapping[key]


def _matrix(value, shape: tuple[int, ...], where: str) -> np.ndarray:
    matrix = as_float_array(value, where)
    if matrix.shape != shape:
        raise CalibrationError(f"expected shape {shape}, got {matrix.shape}", field=where)
    return matrix


def _pose(entry, where: str) -> np.ndarray:
    translation = _matrix(_require(entry, "translation", where), (3,), f"{where}.translation")
    if "quaternion_wxyz" in entry:
        q = _matrix(entry["quaternion_wxyz"], (4,), f"{where}.quaternion_wxyz")
        if not np.isfinite(q).all() or np.linalg.norm(q) < 1e-9:
            raise CalibrationError("quaternion must be finite and non-zero", field=f"{where}.quaternion_wxyz")
        rotation = quaternion_to_rotation(q)
    else:
        rotation = _matrix(_require(entry, "rotation", where), (3, 3), f"{where}.rotation")
    return make_transform(rotation, translation)


def rig_from_dict(data, source: str | None = None) -> Rig:
    """Build a validated rig from the parsed YAML layout; errors name ``source`` and the field."""
    try:
        lidar_entry = _require(data, "lidar", "")
        lidar = Lidar(name=str(_require(lidar_entry, "name", "lidar")),
                      ego_from_lidar=_pose(_require(lidar_entry, "ego_from_lidar", "lidar"), "lidar.ego_from_lidar"))
        camera_entries = _require(data, "cameras", "")
        if not isinstance(camera_entries, dict) or not camera_entries:
            raise CalibrationError("expected a non-empty mapping of camera name to camera", field="cameras")
        cameras = {}
        for name, entry in camera_entries.items():
            where = f"cameras.{name}"
            distortion = entry.get("distortion") if isinstance(entry, dict) else None
            cameras[str(name)] = Camera(
                name=str(name),
                intrinsics=_matrix(_require(entry, "intrinsics", where), (3, 3), f"{where}.intrinsics"),
                width=_require(entry, "width", where), height=_require(entry, "height", where),
                ego_from_camera=_pose(_require(entry, "ego_from_camera", where), f"{where}.ego_from_camera"),
                distortion=distortion)
        return Rig(cameras=cameras, lidar=lidar)
    except CalibrationError as error:
        if source is None or error.source is not None:
            raise
        raise error.in_file(source) from None


def load_rig(path: str | Path) -> Rig:
    """Read and validate a rig YAML file."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise CalibrationError("rig file does not exist", source=str(path)) from None
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise CalibrationError(f"not valid YAML ({error})", source=str(path)) from None
    return rig_from_dict(data, source=str(path))
