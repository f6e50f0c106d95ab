"""KITTI object-benchmark frames (``training/`` or ``testing/``) as ``Frame``s.

The ego frame lies on the road under the Velodyne (``calib.kitti.EGO_FROM_VELO``). KITTI labels (bottom centre in
the rectified camera frame, rotation about camera y) are converted to our boxes; intensity (0..1 reflectance) is
scaled to nuScenes' 0..255.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from calib.boxes import points_in_boxes
from calib.kitti import EGO_FROM_VELO, read_kitti_calib, rect_from_velo, rig_from_kitti_calib
from calib.se3 import invert, transform_points, wrap_angle
from perception.boxes import Boxes3D
from perception.data.classes import CLASS_INDEX
from perception.data.frame import Frame
from perception.data.sensor_files import read_image, read_lidar_bin
from perception.errors import DataError

KITTI_CLASSES = {"Car": "car", "Van": "car", "Truck": "truck", "Pedestrian": "pedestrian",
                 "Person_sitting": "pedestrian", "Cyclist": "bicycle"}
"""KITTI types with a nuScenes detection class; Tram, Misc and DontCare are left out."""


def load_kitti_frame(root: str | Path, frame_id: str, split: str = "training") -> Frame:
    """Frame ``frame_id`` (e.g. '000001') with the left colour camera ``image_2`` and labels when present."""
    base = Path(root) / split
    image = read_image(base / "image_2" / f"{frame_id}.png")
    rig = rig_from_kitti_calib(base / "calib" / f"{frame_id}.txt", image.shape[1], image.shape[0])
    raw = read_lidar_bin(base / "velodyne" / f"{frame_id}.bin", 4)
    points = np.concatenate([transform_points(EGO_FROM_VELO, raw[:, :3].astype(np.float64)), raw[:, 3:4] * 255.0,
                             np.zeros((len(raw), 1))], axis=1)
    label_path = base / "label_2" / f"{frame_id}.txt"
    boxes = None
    if label_path.exists():
        ego_from_rect = EGO_FROM_VELO @ invert(rect_from_velo(read_kitti_calib(base / "calib" / f"{frame_id}.txt")))
        boxes = read_kitti_labels(label_path, ego_from_rect)
        boxes.num_lidar_pts = points_in_boxes(points, boxes.boxes).sum(axis=1)
    camera = rig.camera_names[0]
    return Frame(token=f"kitti-{split}-{frame_id}", timestamp=0.0, points=points.astype(np.float32),
                 images={camera: image}, rig=rig, global_from_ego=np.eye(4), boxes=boxes,
                 scene_name=f"kitti-{split}", camera_timestamps={camera: 0.0})


def read_kitti_labels(path: Path, ego_from_rect: np.ndarray) -> Boxes3D:
    """Boxes in the ego frame whose pose relative to the rectified camera is ``ego_from_rect`` from a ``label_2``
    file (velocity unknown: NaN)."""
    rows, labels = [], []
    for line_number, line in enumerate(path.read_text().splitlines(), start=1):
        fields = line.split()
        if not fields or fields[0] not in KITTI_CLASSES:
            continue
        try:
            height, width, length, x, y, z, rotation_y = map(float, fields[8:15])
        except ValueError:
            raise DataError(f"line {line_number}: expected 15 fields with numbers from the 9th on", path) from None
        bottom = transform_points(ego_from_rect, np.array([[x, y, z]]))[0]
        rows.append([bottom[0], bottom[1], bottom[2] + height / 2, length, width, height,
                     float(wrap_angle(-rotation_y - np.pi / 2)), np.nan, np.nan])
        labels.append(CLASS_INDEX[KITTI_CLASSES[fields[0]]])
    return Boxes3D(np.asarray(rows).reshape(-1, 9), np.asarray(labels, dtype=np.int64))
