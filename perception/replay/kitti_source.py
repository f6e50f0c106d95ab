"""KITTI data as a recording: a raw drive folder (sweeps, ``image_02``, calibration, OXTS ego motion) or the object
benchmark layout (``training/velodyne``, ``image_2``, ``calib``, ``label_2`` as ground truth).

Both become the events every source gives (``world → ego`` poses, sensor mounts under ego, sweeps, images with
their intrinsics), so sync and ``Frame`` building are the MCAP and nuScenes sources'. The ego frame is the Velodyne
frame; intensity (reflectance 0..1) is scaled to nuScenes' 0..255. Object-benchmark frames are unrelated scenes:
they are spaced ``OBJECT_FRAME_GAP_NS`` apart so that no frame accumulates another's sweep.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from calib.kitti import EGO_FROM_VELO, read_kitti_calib, rect_from_velo, rig_from_kitti_matrices
from calib.se3 import invert, rotation_to_quaternion
from perception.boxes import Boxes3D
from perception.data.kitti import read_kitti_labels
from perception.data.kitti_raw import is_raw_drive, read_kitti_drive
from perception.data.sensor_files import read_lidar_bin, read_regular_file
from perception.errors import DataError
from perception.replay.events import NS, CameraImage, CameraInfo, Fault, LidarSweep, Recorded, Transform
from perception.replay.topics import KEYFRAMES_METADATA, SCENE_METADATA, TopicMap

CAMERA = "image_2"
LIDAR_FRAME = "velodyne"
OBJECT_FRAME_GAP_NS = 10 * NS
INTENSITY_SCALE = 255.0


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from a PNG file's header (its first 24 bytes: planning a drive reads no image whole)."""
    with open(path, "rb") as file:
        header = file.read(24)
    if header[:8] != b"\x89PNG\r\n\x1a\n" or len(header) < 24:
        raise DataError("not a PNG image", path)
    return struct.unpack(">II", header[16:24])


def kitti_points(path: Path) -> np.ndarray:
    """(N, 4) float32 x, y, z, intensity 0..255 of a KITTI ``.bin`` sweep."""
    raw = read_lidar_bin(path, 4)
    return np.concatenate([raw[:, :3], raw[:, 3:4] * INTENSITY_SCALE], axis=1).astype(np.float32)


def transform(time_ns: int, parent: str, child: str, parent_from_child: np.ndarray) -> Transform:
    return Transform(time_ns, parent, child, parent_from_child[:3, 3].copy(),
                     rotation_to_quaternion(parent_from_child[:3, :3]))


@dataclass
class Planned:
    """One message to read: its transforms and intrinsics, and the files of its sweep and image (read when it is
    reached, so a long drive is never held in memory)."""

    time_ns: int
    events: list
    lidar: Path | None = None
    image: Path | None = None
    sample_token: str = ""
    ground_truth: Boxes3D | None = None


class KittiSource:
    """Iterates a KITTI folder's messages as ``Recorded`` in time order (``--source kitti``)."""

    def __init__(self, folder: str | Path, topics: TopicMap):
        self.folder, self.topics = Path(folder), topics
        self.truncation, self.skipped_chunks = None, []  # files, not a recording: nothing cut off or damaged
        self.planned = self._raw_drive() if is_raw_drive(self.folder) else self._object_frames()
        self.expected_frames = sum(p.lidar is not None for p in self.planned)
        self.keyframes = {str(p.time_ns): p.sample_token for p in self.planned if p.lidar is not None}

    def metadata(self) -> dict[str, dict[str, str]]:
        return {SCENE_METADATA: {"name": self.scene_name, "description": f"KITTI {self.folder}"},
                KEYFRAMES_METADATA: self.keyframes}

    def __iter__(self) -> Iterator[Recorded]:
        for planned in self.planned:
            yield self._recorded(planned)

    def _mounts(self, time_ns: int, world_from_ego: np.ndarray, ego_from_camera: np.ndarray) -> list[Transform]:
        return [transform(time_ns, self.topics.world_frame, self.topics.ego_frame, world_from_ego),
                transform(time_ns, self.topics.ego_frame, LIDAR_FRAME, EGO_FROM_VELO),
                transform(time_ns, self.topics.ego_frame, CAMERA, ego_from_camera)]

    def _raw_drive(self) -> list[Planned]:
        """One message per sweep (pose, mounts, sweep) and per image (intrinsics, image), in time order."""
        drive = read_kitti_drive(self.folder)
        self.scene_name = drive.name
        width, height = (int(v) for v in drive.calib.get("S2", (0, 0)))
        if drive.image_files and not width:
            width, height = png_size(drive.image_files[0])
        camera = rig_from_kitti_matrices(drive.calib, width, height, name=CAMERA).cameras[CAMERA]
        planned = [Planned(t, self._mounts(t, drive.world_from_ego[i], camera.ego_from_camera), lidar=path,
                           sample_token=f"{drive.name}-{i:010d}")
                   for i, (path, t) in enumerate(zip(drive.lidar_files, drive.lidar_times_ns.tolist()))]
        planned += [Planned(t, [CameraInfo(t, CAMERA, CAMERA, camera.intrinsics, width, height)], image=path)
                    for path, t in zip(drive.image_files, drive.image_times_ns.tolist())]
        return sorted(planned, key=lambda p: p.time_ns)

    def _object_frames(self) -> list[Planned]:
        """One message per object-benchmark frame with a calibration and an image: pose (identity), mounts, sweep
        with its labels, intrinsics and image, all at one time."""
        base = self.folder / "training" if (self.folder / "training" / "velodyne").is_dir() else self.folder
        if not (base / "velodyne").is_dir():
            raise DataError("neither a KITTI raw drive (velodyne_points/data) nor the object layout "
                            "(training/velodyne, image_2, calib, label_2)", self.folder)
        self.scene_name = f"kitti-{base.name}"
        planned = []
        for path in sorted((base / "velodyne").glob("*.bin")):
            calib_path, image_path = base / "calib" / f"{path.stem}.txt", base / "image_2" / f"{path.stem}.png"
            if not calib_path.is_file() or not image_path.is_file():
                continue
            time_ns = len(planned) * OBJECT_FRAME_GAP_NS
            calib = read_kitti_calib(calib_path)
            width, height = png_size(image_path)
            camera = rig_from_kitti_matrices(calib, width, height, name=CAMERA).cameras[CAMERA]
            labels = base / "label_2" / f"{path.stem}.txt"
            truth = read_kitti_labels(labels, EGO_FROM_VELO @ invert(rect_from_velo(calib))) if labels.is_file() \
                else None
            planned.append(Planned(time_ns, [*self._mounts(time_ns, np.eye(4), camera.ego_from_camera),
                                             CameraInfo(time_ns, CAMERA, CAMERA, camera.intrinsics, width, height)],
                                   path, image_path, f"kitti-{base.name}-{path.stem}", truth))
        if not planned:
            raise DataError("no KITTI frame with velodyne, image_2 and calib files", base)
        return planned

    def _recorded(self, planned: Planned) -> Recorded:
        """The message with its files read; an unreadable file becomes a fault (the message keeps its transforms
        and intrinsics)."""
        recorded = Recorded(planned.time_ns, list(planned.events))
        topic = self.topics.lidar
        try:
            if planned.lidar is not None:
                recorded.events.append(LidarSweep(planned.time_ns, LIDAR_FRAME, kitti_points(planned.lidar),
                                                  planned.sample_token, planned.ground_truth))
            topic = self.topics.camera(CAMERA).image
            if planned.image is not None:
                image = read_regular_file(planned.image, "image")
                recorded.events.append(CameraImage(planned.time_ns, CAMERA, CAMERA, image, "png", topic=topic,
                                                   log_time_ns=planned.time_ns))
        except DataError as error:
            recorded.fault = Fault("unreadable", topic, planned.time_ns, str(error))
        return recorded
