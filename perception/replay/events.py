"""Decoded sensor messages of a recording, whatever file it came from (MCAP or nuScenes tables).

Times are integer nanoseconds of the sensor clock (the message's own timestamp, not the time it was logged).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from calib.se3 import make_transform, quaternion_to_rotation
from perception.boxes import Boxes3D
from perception.data.sensor_files import decode_image

NS = 1_000_000_000  # nanoseconds per second


@dataclass(eq=False)  # compared by identity: fields hold arrays
class LidarSweep:
    """One lidar sweep. points: (N, 4) float32 ``x, y, z, intensity`` in ``frame_id``.

    sample_token: the nuScenes sample this sweep is the keyframe of, '' for other sweeps. ground_truth: annotated
    boxes in the ego frame at the sweep's time, when the source has them.
    """

    time_ns: int
    frame_id: str
    points: np.ndarray
    sample_token: str = ""
    ground_truth: Boxes3D | None = None


@dataclass(eq=False)
class CameraImage:
    """An encoded image (``format``: jpeg, png, ...) of the camera ``camera``, decoded only when it is used.

    topic and log_time_ns say where it came from, for the report when it turns out to be corrupt.
    """

    time_ns: int
    camera: str
    frame_id: str
    data: bytes
    format: str
    topic: str = ""
    log_time_ns: int = 0
    _rgb: np.ndarray | None = field(default=None, repr=False, compare=False)

    def decode(self) -> np.ndarray:
        """RGB (H, W, 3) uint8 (decoded once, also when two sweeps use it); DataError when it cannot be decoded or
        is a truncated JPEG."""
        if self._rgb is None:
            self._rgb = decode_image(self.data)
        return self._rgb


@dataclass(eq=False)
class CameraInfo:
    """Intrinsics of a camera: K (3, 3), image size, OpenCV distortion (4 or 5,) or None when rectified; with
    ``fisheye``, distortion is the equidistant model's (k1, k2, k3, k4)."""

    time_ns: int
    camera: str
    frame_id: str
    intrinsics: np.ndarray
    width: int
    height: int
    distortion: np.ndarray | None = None
    fisheye: bool = False


@dataclass(eq=False)
class Transform:
    """``parent_from_child`` as a translation (3,) and a (w, x, y, z) quaternion, exactly as recorded."""

    time_ns: int
    parent: str
    child: str
    translation: np.ndarray
    rotation_wxyz: np.ndarray

    @property
    def parent_from_child(self) -> np.ndarray:
        """(4, 4) built the way nuScenes poses are (``calib.nuscenes.pose_from_record``), so both agree exactly."""
        return make_transform(quaternion_to_rotation(self.rotation_wxyz), self.translation)


SensorEvent = LidarSweep | CameraImage | CameraInfo | Transform


@dataclass
class Fault:
    """A message that could not be used: ``kind`` is 'corrupt' or 'unreadable'; log_time_ns when it was logged;
    ``messages``: how many recorded messages it stands for (a skipped chunk's fault stands for all of its own)."""

    kind: str
    topic: str
    log_time_ns: int
    reason: str
    messages: int = 1

    def as_dict(self) -> dict:
        return {"kind": self.kind, "topic": self.topic, "log_time_ns": self.log_time_ns,
                "log_time_s": round(self.log_time_ns / NS, 6), "reason": self.reason, "messages": self.messages}


@dataclass
class RawMessage:
    """An input MCAP message as stored, to pass through unchanged: its channel and schema records and bytes."""

    channel: object  # mcap.records.Channel
    schema: object   # mcap.records.Schema or None
    data: bytes


@dataclass
class Recorded:
    """One input message: the sensor events it decodes to, its log time, and either its raw bytes or a fault."""

    log_time_ns: int
    events: list[SensorEvent] = field(default_factory=list)
    raw: RawMessage | None = None
    fault: Fault | None = None
