"""Import KITTI object-benchmark calibration files (``calib/*.txt``) as a rig.

The ego frame of a KITTI rig is the Velodyne frame (x forward, y left, z up), so ``ego_from_lidar`` is the identity.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import CalibrationError
from .rig import Rig
from .se3 import invert, make_transform
from .sensors import Camera, Lidar

_SHAPES = {"P0": (3, 4), "P1": (3, 4), "P2": (3, 4), "P3": (3, 4), "R0_rect": (3, 3), "Tr_velo_to_cam": (3, 4)}


def read_kitti_calib(path: str | Path) -> dict[str, np.ndarray]:
    """Parse ``KEY: v1 v2 ...`` lines into matrices (P0-P3 (3, 4), R0_rect (3, 3), Tr_velo_to_cam (3, 4))."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        raise CalibrationError("calibration file does not exist", source=str(path)) from None
    values = {}
    for line in lines:
        if ":" not in line:
            continue
        key, _, rest = line.partition(":")
        values[key.strip()] = rest.split()
    matrices = {}
    for key, shape in _SHAPES.items():
        if key not in values:
            raise CalibrationError("missing", source=str(path), field=key)
        try:
            matrices[key] = np.asarray(values[key], dtype=np.float64).reshape(shape)
        except ValueError:
            raise CalibrationError(f"expected {shape[0] * shape[1]} numbers", source=str(path), field=key) from None
    return matrices


def rect_from_velo(matrices: dict[str, np.ndarray]) -> np.ndarray:
    """(4, 4) from the Velodyne frame to the rectified camera-0 frame, the frame of KITTI labels."""
    return make_transform(matrices["R0_rect"], np.zeros(3)) @ np.vstack([matrices["Tr_velo_to_cam"], [0, 0, 0, 1]])


def rig_from_kitti_calib(path: str | Path, image_width: int, image_height: int, camera: str = "P2") -> Rig:
    """A one-camera rig (``image_2`` for P2) posed in the Velodyne frame."""
    m = read_kitti_calib(path)
    projection = m[camera]
    intrinsics = projection[:, :3]
    try:
        # P = K [I | t]: the camera sits at offset t from the rectified camera 0.
        offset = np.linalg.solve(intrinsics, projection[:, 3])
        name = f"image_{camera[1]}"
        cam = Camera(name=name, intrinsics=intrinsics, width=image_width, height=image_height,
                     ego_from_camera=invert(make_transform(np.eye(3), offset) @ rect_from_velo(m)))
    except CalibrationError as error:
        raise error.in_file(str(path)) from None
    except np.linalg.LinAlgError:
        raise CalibrationError("singular intrinsics", source=str(path), field=camera) from None
    return Rig(cameras={name: cam}, lidar=Lidar(name="velodyne", ego_from_lidar=np.eye(4)))
