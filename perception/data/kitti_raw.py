"""A KITTI raw drive folder (``<date>_drive_<n>_sync``): lidar sweeps, ``image_02`` images, calibration and OXTS
ego poses with their timestamps.

The ego frame is the Velodyne frame, as for KITTI object frames (``perception.data.kitti``). Ego poses follow the
KITTI devkit: the OXTS (IMU) position in a Mercator projection scaled at the first fix, rotation
Rz(yaw) Ry(pitch) Rx(roll); the world frame is the Velodyne frame of the first pose.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from calib.kitti import EGO_FROM_VELO, matrix, read_key_values, read_kitti_raw_calib
from calib.se3 import invert, make_transform
from perception.errors import DataError

EARTH_RADIUS_M = 6378137.0
DEFAULT_PERIOD_NS = 100_000_000  # 10 Hz, when a sensor folder has no timestamps.txt
NS = 1_000_000_000


@dataclass
class KittiDrive:
    """lidar_files (T,) and lidar_times_ns (T,); image_files and image_times_ns of ``image_02``; world_from_ego
    (T, 4, 4) per sweep (identity without OXTS); calib: ``calib.kitti.read_kitti_raw_calib``'s matrices."""

    name: str
    lidar_files: list[Path]
    lidar_times_ns: np.ndarray
    image_files: list[Path]
    image_times_ns: np.ndarray
    world_from_ego: np.ndarray
    calib: dict[str, np.ndarray]


def is_raw_drive(folder: Path) -> bool:
    return (folder / "velodyne_points" / "data").is_dir()


def calibration_file(folder: Path, name: str) -> Path:
    """``name`` in the drive folder or in its date folder above it (where the KITTI download puts it)."""
    for candidate in (folder / name, folder.parent / name):
        if candidate.is_file():
            return candidate
    raise DataError(f"no {name} in the drive folder or the folder above it", folder)


def read_timestamps(folder: Path, count: int) -> np.ndarray:
    """(count,) int64 ns from ``timestamps.txt`` lines 'YYYY-MM-DD HH:MM:SS.fffffffff' (UTC), or 10 Hz from 0."""
    path = folder / "timestamps.txt"
    if not path.is_file():
        return np.arange(count, dtype=np.int64) * DEFAULT_PERIOD_NS
    times = []
    for line in path.read_text().split("\n")[:count]:
        seconds, _, fraction = line.strip().partition(".")
        try:
            whole = datetime.strptime(seconds, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)
        except ValueError:
            raise DataError(f"timestamp '{line.strip()}' is not 'YYYY-MM-DD HH:MM:SS.fffffffff'", path) from None
        times.append(int(whole.timestamp()) * NS + int((fraction + "000000000")[:9]))
    if len(times) != count:
        raise DataError(f"{len(times)} timestamps for {count} files", path)
    return np.asarray(times, dtype=np.int64)


def oxts_pose(values: np.ndarray, scale: float) -> np.ndarray:
    """(4, 4) world_from_imu of one OXTS record (lat, lon, alt, roll, pitch, yaw, ...) in the devkit's Mercator."""
    lat, lon, alt, roll, pitch, yaw = values[:6]
    x = scale * np.radians(lon) * EARTH_RADIUS_M
    y = scale * EARTH_RADIUS_M * np.log(np.tan(np.pi / 4 + np.radians(lat) / 2))
    cr, sr, cp, sp, cy, sy = np.cos(roll), np.sin(roll), np.cos(pitch), np.sin(pitch), np.cos(yaw), np.sin(yaw)
    rx = np.array([[1, 0, 0], [0, cr, -sr], [0, sr, cr]])
    ry = np.array([[cp, 0, sp], [0, 1, 0], [-sp, 0, cp]])
    rz = np.array([[cy, -sy, 0], [sy, cy, 0], [0, 0, 1]])
    return make_transform(rz @ ry @ rx, [x, y, alt])


def ego_poses(folder: Path, count: int) -> np.ndarray:
    """(count, 4, 4) world_from_ego (the ego frame under the Velodyne) from ``oxts/data`` (one record per sweep in
    a synced drive) and ``calib_imu_to_velo.txt``; identity poses when the drive has no OXTS folder."""
    files = sorted((folder / "oxts" / "data").glob("*.txt"))
    if not files:
        return np.repeat(np.eye(4)[None], count, axis=0)
    if len(files) != count:
        raise DataError(f"{len(files)} OXTS records for {count} lidar sweeps", folder / "oxts" / "data")
    records = [np.asarray(f.read_text().split()[:6], dtype=np.float64) for f in files]
    scale = np.cos(np.radians(records[0][0]))
    imu_calib = calibration_file(folder, "calib_imu_to_velo.txt")
    values = read_key_values(imu_calib)
    velo_from_imu = make_transform(matrix(values, "R", (3, 3), str(imu_calib)),
                                   matrix(values, "T", (3, 1), str(imu_calib)).reshape(3))
    imu_from_velo = invert(velo_from_imu)
    poses = np.stack([oxts_pose(r, scale) @ imu_from_velo @ invert(EGO_FROM_VELO) for r in records])
    return invert(poses[0]) @ poses


def read_kitti_drive(folder: str | Path) -> KittiDrive:
    """The drive's files, times, poses and calibration (DataError when a part is missing or inconsistent)."""
    folder = Path(folder)
    lidar_files = sorted((folder / "velodyne_points" / "data").glob("*.bin"))
    if not lidar_files:
        raise DataError("no velodyne_points/data/*.bin in the drive folder", folder)
    image_files = sorted((folder / "image_02" / "data").glob("*.png"))
    calib = read_kitti_raw_calib(calibration_file(folder, "calib_cam_to_cam.txt"),
                                 calibration_file(folder, "calib_velo_to_cam.txt"))
    return KittiDrive(folder.name, lidar_files, read_timestamps(folder / "velodyne_points", len(lidar_files)),
                      image_files, read_timestamps(folder / "image_02", len(image_files)),
                      ego_poses(folder, len(lidar_files)), calib)
