"""Frames as a Rerun recording (``.rrd``), written offline for the Rerun viewer.

Entity tree (each entity's ``Transform3D`` maps it into its parent)::

    world                       right-handed, z up (the nuScenes global frame)
    world/ego                   world ← ego, per frame
    world/ego/points            lidar points (ego frame), coloured by height
    world/ego/boxes/gt          ground-truth boxes, class colours
    world/ego/boxes/predicted   predicted boxes with scores
    world/ego/<lidar>           ego ← lidar
    world/ego/<camera>          ego ← camera (with ego motion, per frame), pinhole model and JPEG image

Timelines: ``time`` (the lidar keyframe's timestamp) and ``frame`` (index in the sequence).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

import numpy as np
import rerun as rr

from calib.se3 import rotation_to_quaternion
from perception.boxes import Boxes3D
from perception.data.classes import DETECTION_CLASSES
from perception.data.frame import Frame
from perception.viz.style import class_colors, detection_label, height_colors

APPLICATION_ID = "perception"
JPEG_QUALITY = 80
POINT_RADIUS_M = 0.04


def transform(a_from_b: np.ndarray) -> rr.Transform3D:
    """A Rerun transform of a 4×4 ``a_from_b``, logged on entity b under parent a."""
    w, x, y, z = rotation_to_quaternion(a_from_b[:3, :3])
    return rr.Transform3D(translation=a_from_b[:3, 3], quaternion=rr.Quaternion(xyzw=[x, y, z, w]))


def yaw_quaternions(yaw: np.ndarray) -> np.ndarray:
    """Quaternions (M, 4) in Rerun's x, y, z, w order of rotations by ``yaw`` (M,) about +z."""
    return np.stack([np.zeros_like(yaw), np.zeros_like(yaw), np.sin(yaw / 2), np.cos(yaw / 2)], axis=1)


def rerun_boxes(boxes: Boxes3D) -> rr.Boxes3D:
    """Boxes (M, 9) in their frame as Rerun boxes: centre, half sizes along (length, width, height), yaw rotation."""
    labels = [DETECTION_CLASSES[label] for label in boxes.labels] if boxes.scores is None else \
        [detection_label(label, score) for label, score in zip(boxes.labels, boxes.scores)]
    return rr.Boxes3D(centers=boxes.boxes[:, :3], half_sizes=boxes.boxes[:, 3:6] / 2,
                      quaternions=yaw_quaternions(boxes.boxes[:, 6]), colors=class_colors(boxes.labels),
                      labels=labels)


def log_frame(stream: rr.RecordingStream, frame: Frame, predictions: Boxes3D | None) -> None:
    """Log one frame's transforms, sensors and boxes at the stream's current time."""
    stream.log("world/ego", transform(frame.global_from_ego))
    stream.log(f"world/ego/{frame.rig.lidar.name}", transform(frame.rig.lidar.ego_from_lidar))
    stream.log("world/ego/points", rr.Points3D(frame.points[:, :3], colors=height_colors(frame.points[:, 2]),
                                               radii=POINT_RADIUS_M))
    for name, boxes in (("gt", frame.boxes), ("predicted", predictions)):
        # Rerun shows the latest value at any time: a frame without boxes must clear the previous frame's.
        stream.log(f"world/ego/boxes/{name}", rr.Clear(recursive=False) if boxes is None else rerun_boxes(boxes))
    for name, camera in frame.rig.cameras.items():
        entity = f"world/ego/{name}"
        stream.log(entity, transform(camera.ego_from_camera))
        stream.log(entity, rr.Pinhole(image_from_camera=camera.intrinsics, resolution=[camera.width, camera.height],
                                      camera_xyz=rr.ViewCoordinates.RDF))
        if name in frame.images:
            stream.log(entity, rr.Image(frame.images[name], color_model="RGB").compress(jpeg_quality=JPEG_QUALITY))


class RrdFile:
    """A ``.rrd`` recording written one frame at a time under a temporary name, renamed by ``close(keep=True)``, so
    a failure leaves no partial recording."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.partial = self.path.with_name(f".{self.path.stem}.tmp{self.path.suffix}")
        self.stream = rr.RecordingStream(APPLICATION_ID)
        self.stream.save(self.partial)
        self.stream.log("world", rr.ViewCoordinates.RIGHT_HAND_Z_UP, static=True)
        self.count = 0

    def write(self, frame: Frame, predictions: Boxes3D | None) -> None:
        """One frame with its predictions (boxes in the frame's ego frame), on the ``frame`` and ``time`` timelines."""
        self.stream.set_time("frame", sequence=self.count)
        self.stream.set_time("time", timestamp=frame.timestamp)
        log_frame(self.stream, frame, predictions)
        self.count += 1

    def close(self, keep: bool) -> None:
        if keep:
            self.stream.flush()
        self.stream.disconnect()
        if keep:
            os.replace(self.partial, self.path)
        else:
            self.partial.unlink(missing_ok=True)


def export_rrd(path: str | Path, frames: Iterable[tuple[Frame, Boxes3D | None]]) -> int:
    """Write (frame, predictions or None) pairs, boxes in the frame's ego frame, to a ``.rrd`` file; returns the count.

    The file is written under a temporary name and renamed when complete, so a failure leaves no partial recording.
    """
    rrd = RrdFile(path)
    try:
        for frame, predictions in frames:
            rrd.write(frame, predictions)
    except BaseException:
        rrd.close(keep=False)
        raise
    rrd.close(keep=True)
    return rrd.count
