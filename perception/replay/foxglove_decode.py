"""Decoded Foxglove protobuf messages → sensor events, rejecting malformed ones with ``CorruptMessage``.

The messages are the classes ``mcap_protobuf`` builds from the schema stored in the recording, so any recording
with Foxglove's protobuf schemas reads without generated code.
"""
from __future__ import annotations

import numpy as np

from calib.se3 import transform_points
from perception.replay.events import NS, CameraImage, CameraInfo, LidarSweep, Transform

# foxglove.PackedElementField.NumericType → numpy little-endian type
NUMERIC_TYPES = {1: "u1", 2: "i1", 3: "<u2", 4: "<i2", 5: "<u4", 6: "<i4", 7: "<f4", 8: "<f8"}


class CorruptMessage(ValueError):
    """A message whose content cannot be used; the message says what is wrong."""


def time_ns(message, log_time_ns: int) -> int:
    """The message's own timestamp, or its log time when it has none."""
    stamp = message.timestamp  # google.protobuf.Timestamp
    return stamp.seconds * NS + stamp.nanos if (stamp.seconds or stamp.nanos) else log_time_ns


def wxyz(orientation) -> np.ndarray:
    return np.array([orientation.w, orientation.x, orientation.y, orientation.z], dtype=np.float64)


def xyz(vector) -> np.ndarray:
    return np.array([vector.x, vector.y, vector.z], dtype=np.float64)


def point_dtype(fields: list[tuple[str, int, str | None]], point_step: int) -> np.dtype:
    """A structured dtype of one ``point_step``-byte point from (name, byte offset, numpy type or None when the type
    is unknown) per field; a repeated name keeps its first field. A field that has no type or does not fit raises."""
    names, formats, offsets = [], [], []
    for name, offset, type_name in fields:
        itemsize = np.dtype(type_name).itemsize if type_name else 0
        if not itemsize or offset + itemsize > point_step:
            raise CorruptMessage(f"point cloud field '{name}' ({type_name or 'unknown type'}, offset {offset}) "
                                 f"does not fit a {point_step}-byte point")
        if name not in names:
            names.append(name)
            formats.append(type_name)
            offsets.append(offset)
    return np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": point_step})


def xyzi_points(packed: np.ndarray) -> np.ndarray:
    """(N, 4) float32 ``x, y, z, intensity`` (0 when absent) of structured points, rows with NaN or inf coordinates
    dropped (as the nuScenes loader does)."""
    points = np.zeros((len(packed), 4), np.float32)
    for column, name in enumerate(("x", "y", "z", "intensity")):
        if name in packed.dtype.names:
            points[:, column] = packed[name]
    return points[np.isfinite(points[:, :3]).all(axis=1)]


def lidar_sweep(message, log_time_ns: int, default_frame: str) -> LidarSweep:
    """Points (N, 4) float32 ``x, y, z, intensity`` (0 when absent) from a ``foxglove.PointCloud`` in its frame.

    Rows with NaN or inf coordinates are dropped (as the nuScenes loader does); the cloud's ``pose`` is applied.
    """
    fields = {field.name: field for field in message.fields}
    stride, data = message.point_stride, message.data
    missing = [name for name in ("x", "y", "z") if name not in fields]
    if missing:
        raise CorruptMessage(f"point cloud lacks the field(s) {', '.join(missing)}")
    if stride <= 0 or len(data) % stride:
        raise CorruptMessage(f"point cloud data of {len(data)} bytes is not a whole number of {stride}-byte points")
    used = [(name, fields[name].offset, NUMERIC_TYPES.get(fields[name].type)) for name in ("x", "y", "z", "intensity")
            if name in fields]
    points = xyzi_points(np.frombuffer(data, point_dtype(used, stride)))
    if message.HasField("pose"):
        cloud_pose = Transform(0, "", "", xyz(message.pose.position), wxyz(message.pose.orientation))
        if np.linalg.norm(cloud_pose.rotation_wxyz) > 0 and not np.allclose(cloud_pose.parent_from_child, np.eye(4)):
            points[:, :3] = transform_points(cloud_pose.parent_from_child, points[:, :3].astype(np.float64))
    return LidarSweep(time_ns(message, log_time_ns), message.frame_id or default_frame, points)


def camera_image(message, log_time_ns: int, camera: str, default_frame: str, topic: str) -> CameraImage:
    if not message.data:
        raise CorruptMessage("image has no data")
    return CameraImage(time_ns(message, log_time_ns), camera, message.frame_id or default_frame, bytes(message.data),
                       message.format, topic=topic, log_time_ns=log_time_ns)


def camera_info(message, log_time_ns: int, camera: str, default_frame: str) -> CameraInfo:
    """K, size and distortion of a ``foxglove.CameraCalibration`` (only the plumb_bob / rational models' first five
    coefficients are read; an all-zero D means a rectified image)."""
    if len(message.K) != 9 or message.width <= 0 or message.height <= 0:
        raise CorruptMessage(f"camera calibration needs 9 K values and a positive size, got {len(message.K)} K "
                             f"values and {message.width}x{message.height}")
    distortion = np.asarray(message.D[:5], dtype=np.float64)
    return CameraInfo(time_ns(message, log_time_ns), camera, message.frame_id or default_frame,
                      np.asarray(message.K, dtype=np.float64).reshape(3, 3), int(message.width), int(message.height),
                      distortion if len(distortion) >= 4 and distortion.any() else None)


def transforms(message, log_time_ns: int) -> list[Transform]:
    """The transforms of a ``foxglove.FrameTransform`` or ``foxglove.FrameTransforms``."""
    items = message.transforms if hasattr(message, "transforms") else [message]
    out = []
    for item in items:
        rotation = wxyz(item.rotation)
        if not item.parent_frame_id or not item.child_frame_id or not np.isfinite(rotation).all() \
                or np.linalg.norm(rotation) < 1e-9 or not np.isfinite(xyz(item.translation)).all():
            raise CorruptMessage(f"transform '{item.parent_frame_id}'→'{item.child_frame_id}' needs both frame ids, "
                                 "a finite translation and a non-zero quaternion")
        out.append(Transform(time_ns(item, log_time_ns), item.parent_frame_id, item.child_frame_id,
                             xyz(item.translation), rotation))
    return out
