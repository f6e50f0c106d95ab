"""Import KITTI calibration as a rig: object-benchmark files (``calib/*.txt``) and raw-drive files
(``calib_cam_to_cam.txt`` + ``calib_velo_to_cam.txt``), both read into the object benchmark's matrices.

The ego frame of a KITTI rig lies on the road under the Velodyne (x forward, y left, z up; ``EGO_FROM_VELO``), as
nuScenes' rear-axle ego frame lies on the road: a model that learned objects at nuScenes heights sees KITTI's at the
same heights.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import CalibrationError
from .rig import Rig
from .se3 import invert, make_transform
from .sensors import Camera, Lidar

VELODYNE_HEIGHT_M = 1.73
"""Height of the KITTI car's Velodyne above the road (KITTI's sensor setup)."""
EGO_FROM_VELO = make_transform(np.eye(3), np.array([0.0, 0.0, VELODYNE_HEIGHT_M]))

_SHAPES = {"P0": (3, 4), "P1": (3, 4), "P2": (3, 4), "P3": (3, 4), "R0_rect": (3, 3), "Tr_velo_to_cam": (3, 4)}


_RAW_KEYS = {"P0": "P_rect_00", "P1": "P_rect_01", "P2": "P_rect_02", "P3": "P_rect_03", "R0_rect": "R_rect_00"}
"""Object-benchmark matrix → its name in a raw drive's ``calib_cam_to_cam.txt``."""


def read_key_values(path: str | Path) -> dict[str, list[str]]:
    """``KEY: v1 v2 ...`` lines as key → the values' words."""
    try:
        lines = Path(path).read_text().splitlines()
    except FileNotFoundError:
        raise CalibrationError("calibration file does not exist", source=str(path)) from None
    values = {}
    for line in lines:
        if ":" in line:
            key, _, rest = line.partition(":")
            values[key.strip()] = rest.split()
    return values


def matrix(values: dict[str, list[str]], key: str, shape: tuple[int, int], source: str) -> np.ndarray:
    if key not in values:
        raise CalibrationError("missing", source=source, field=key)
    try:
        return np.asarray(values[key], dtype=np.float64).reshape(shape)
    except ValueError:
        raise CalibrationError(f"expected {shape[0] * shape[1]} numbers", source=source, field=key) from None


def read_kitti_calib(path: str | Path) -> dict[str, np.ndarray]:
    """Parse ``KEY: v1 v2 ...`` lines into matrices (P0-P3 (3, 4), R0_rect (3, 3), Tr_velo_to_cam (3, 4))."""
    values = read_key_values(path)
    return {key: matrix(values, key, shape, str(path)) for key, shape in _SHAPES.items()}


def read_kitti_raw_calib(cam_to_cam: str | Path, velo_to_cam: str | Path) -> dict[str, np.ndarray]:
    """A raw drive's calibration as the object benchmark's matrices (``read_kitti_calib``'s keys), and each
    rectified camera's image size as ``S2`` etc. (2,) (width, height)."""
    cams, velo = read_key_values(cam_to_cam), read_key_values(velo_to_cam)
    matrices = {key: matrix(cams, raw, _SHAPES[key], str(cam_to_cam)) for key, raw in _RAW_KEYS.items()}
    matrices["Tr_velo_to_cam"] = np.hstack([matrix(velo, "R", (3, 3), str(velo_to_cam)),
                                            matrix(velo, "T", (3, 1), str(velo_to_cam))])
    for camera in range(4):
        if f"S_rect_0{camera}" in cams:
            matrices[f"S{camera}"] = matrix(cams, f"S_rect_0{camera}", (1, 2), str(cam_to_cam)).reshape(2)
    return matrices


def rect_from_velo(matrices: dict[str, np.ndarray]) -> np.ndarray:
    """(4, 4) from the Velodyne frame to the rectified camera-0 frame, the frame of KITTI labels."""
    return make_transform(matrices["R0_rect"], np.zeros(3)) @ np.vstack([matrices["Tr_velo_to_cam"], [0, 0, 0, 1]])


def rig_from_kitti_calib(path: str | Path, image_width: int, image_height: int, camera: str = "P2") -> Rig:
    """A one-camera rig (``image_2`` for P2) posed in the ego frame under the Velodyne."""
    return rig_from_kitti_matrices(read_kitti_calib(path), image_width, image_height, camera, str(path))


def rig_from_kitti_matrices(m: dict[str, np.ndarray], image_width: int, image_height: int, camera: str = "P2",
                            source: str = "", name: str = "") -> Rig:
    """A one-camera rig posed in the ego frame under the Velodyne from ``read_kitti_calib``'s matrices; the camera
    is named ``name`` (default ``image_2`` for P2)."""
    projection = m[camera]
    intrinsics = projection[:, :3]
    try:
        # P = K [I | t]: the camera sits at offset t from the rectified camera 0.
        offset = np.linalg.solve(intrinsics, projection[:, 3])
        name = name or f"image_{camera[1]}"
        cam = Camera(name=name, intrinsics=intrinsics, width=image_width, height=image_height,
                     ego_from_camera=EGO_FROM_VELO @ invert(make_transform(np.eye(3), offset) @ rect_from_velo(m)))
    except CalibrationError as error:
        raise error.in_file(source) from None
    except np.linalg.LinAlgError:
        raise CalibrationError("singular intrinsics", source=source, field=camera) from None
    return Rig(cameras={name: cam}, lidar=Lidar(name="velodyne", ego_from_lidar=EGO_FROM_VELO))
