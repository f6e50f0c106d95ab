"""Decoded ROS 2 messages (``mcap_ros2``'s dynamic classes, CDR) → sensor events, rejecting malformed ones with
``CorruptMessage``.

The functions mirror ``foxglove_decode``'s, so a recording reads the same whichever schemas it holds. Frame ids
lose a leading '/' (ROS 1 style), as tf2 does.
"""
from __future__ import annotations

import cv2
import numpy as np

from perception.replay.events import NS, CameraImage, CameraInfo, LidarSweep, Transform
from perception.replay.foxglove_decode import CorruptMessage, point_dtype, xyzi_points
from perception.replay.ros2_msgdefs import POINT_FIELD_TYPES

POINT_TIME_FIELDS = ("time", "t", "timestamp")
"""Names under which lidar drivers store each point's capture time (seconds; relative to the stamp, or absolute)."""
READ_FIELDS = ("x", "y", "z", "intensity", *POINT_TIME_FIELDS)  # other fields (ring, ...) are not parsed
ABSOLUTE_TIME_S = 1e6  # point times above this are seconds since the epoch, not offsets from the stamp
IMAGE_ENCODINGS = {"rgb8": (3, None), "bgr8": (3, cv2.COLOR_BGR2RGB), "mono8": (1, cv2.COLOR_GRAY2RGB)}
"""``sensor_msgs/Image`` encoding → (channels, OpenCV conversion to RGB)."""
PINHOLE_MODELS = ("plumb_bob", "rational_polynomial", "")
FISHEYE_MODEL = "equidistant"


def frame_id(name: str) -> str:
    return name.lstrip("/")


def stamp_ns(header, log_time_ns: int) -> int:
    """The header's stamp, or the log time when it is zero."""
    stamp = header.stamp.sec * NS + header.stamp.nanosec
    return stamp if stamp else log_time_ns


def cloud_dtype(message) -> np.dtype:
    """A structured dtype of one point with the cloud's fields we read (``READ_FIELDS``; offsets as given, byte
    order from ``is_bigendian``; a field with count > 1 is read as its first element)."""
    order = ">" if message.is_bigendian else "<"
    return point_dtype([(f.name, f.offset, order + POINT_FIELD_TYPES[f.datatype] if f.datatype in POINT_FIELD_TYPES
                         else None) for f in message.fields if f.name in READ_FIELDS], message.point_step)


def packed_points(message) -> np.ndarray:
    """The cloud's points (height · width,) as a structured array (rows padded beyond ``row_step`` are cut)."""
    width, height, step = message.width, message.height, message.point_step
    data = bytes(message.data)
    if step <= 0 or message.row_step < width * step or len(data) < height * message.row_step:
        raise CorruptMessage(f"point cloud of {height}x{width} points of {step} bytes, rows of {message.row_step} "
                             f"bytes, does not fit its {len(data)} bytes of data")
    rows = np.frombuffer(data, np.uint8, height * message.row_step).reshape(height, message.row_step)
    return np.ascontiguousarray(rows[:, :width * step]).reshape(-1).view(cloud_dtype(message))


def sweep_time_ns(packed: np.ndarray, stamp: int) -> int:
    """The sweep's time: its newest point's when the points carry times, else the header stamp."""
    name = next((n for n in POINT_TIME_FIELDS if n in packed.dtype.names), None)
    if name is None or not len(packed):
        return stamp
    times = packed[name].astype(np.float64)
    if not np.isfinite(times).any():
        return stamp
    newest = float(times[np.isfinite(times)].max())
    return round(newest * NS) if newest > ABSOLUTE_TIME_S else stamp + round(newest * NS)


def lidar_sweep(message, log_time_ns: int, default_frame: str) -> LidarSweep:
    """Points (N, 4) float32 ``x, y, z, intensity`` (0 when absent) from a ``sensor_msgs/PointCloud2`` in its frame.

    Any field layout and point_step are read; rows with NaN or inf coordinates are dropped. Per-point times set the
    sweep's time (``sweep_time_ns``); the sweep's ``dt`` stays constant, its age, as for every source.
    """
    names = [field.name for field in message.fields]
    missing = [name for name in ("x", "y", "z") if name not in names]
    if missing:
        raise CorruptMessage(f"point cloud lacks the field(s) {', '.join(missing)} (has {', '.join(names) or 'none'})")
    packed = packed_points(message)
    time_ns = sweep_time_ns(packed, stamp_ns(message.header, log_time_ns))
    return LidarSweep(time_ns, frame_id(message.header.frame_id) or default_frame, xyzi_points(packed))


def compressed_image(message, log_time_ns: int, camera: str, default_frame: str, topic: str) -> CameraImage:
    """A ``sensor_msgs/CompressedImage``; its format ('jpeg', 'png', or 'bgr8; jpeg compressed bgr8') names the
    codec last."""
    if not message.data:
        raise CorruptMessage("image has no data")
    codec = message.format.split()[-1] if message.format.strip() else "jpeg"
    return CameraImage(stamp_ns(message.header, log_time_ns), camera,
                       frame_id(message.header.frame_id) or default_frame, bytes(message.data), codec, topic=topic,
                       log_time_ns=log_time_ns)


def raw_image(message, log_time_ns: int, camera: str, default_frame: str, topic: str) -> CameraImage:
    """A ``sensor_msgs/Image`` (rgb8, bgr8 or mono8), already decoded: its RGB (H, W, 3) uint8 is set."""
    if message.encoding not in IMAGE_ENCODINGS:
        raise CorruptMessage(f"image encoding '{message.encoding}' is not one of {', '.join(IMAGE_ENCODINGS)}")
    channels, conversion = IMAGE_ENCODINGS[message.encoding]
    height, width, step, data = message.height, message.width, message.step, bytes(message.data)
    if height <= 0 or width <= 0 or step < width * channels or len(data) < height * step:
        raise CorruptMessage(f"{message.encoding} image of {width}x{height} with rows of {step} bytes does not fit "
                             f"its {len(data)} bytes")
    rows = np.frombuffer(data, np.uint8, height * step).reshape(height, step)
    pixels = np.ascontiguousarray(rows[:, :width * channels].reshape(height, width, channels))
    rgb = pixels if conversion is None else cv2.cvtColor(pixels, conversion)
    return CameraImage(stamp_ns(message.header, log_time_ns), camera,
                       frame_id(message.header.frame_id) or default_frame, data, message.encoding, topic=topic,
                       log_time_ns=log_time_ns, _rgb=rgb)


def camera_image(message, log_time_ns: int, camera: str, default_frame: str, topic: str) -> CameraImage:
    """A ``sensor_msgs/CompressedImage`` or ``sensor_msgs/Image``."""
    if hasattr(message, "encoding"):
        return raw_image(message, log_time_ns, camera, default_frame, topic)
    return compressed_image(message, log_time_ns, camera, default_frame, topic)


def camera_info(message, log_time_ns: int, camera: str, default_frame: str) -> CameraInfo:
    """K, size and distortion of a ``sensor_msgs/CameraInfo``: plumb_bob / rational_polynomial (first five
    coefficients) or equidistant (fisheye k1..k4, ``fisheye`` set); an all-zero D means a rectified image."""
    k = np.asarray(message.k, dtype=np.float64)
    if len(k) != 9 or message.width <= 0 or message.height <= 0:
        raise CorruptMessage(f"camera info needs 9 K values and a positive size, got {len(k)} K values and "
                             f"{message.width}x{message.height}")
    if not (k[0] > 0 and k[4] > 0 and np.isfinite(k).all()):
        raise CorruptMessage(f"camera info has a zero, negative or non-finite focal length (fx {k[0]}, fy {k[4]})")
    model = message.distortion_model
    if model not in (*PINHOLE_MODELS, FISHEYE_MODEL):
        raise CorruptMessage(f"distortion model '{model}' is not one of {', '.join(PINHOLE_MODELS[:2])}, "
                             f"{FISHEYE_MODEL}")
    coefficients = np.asarray(message.d[:4 if model == FISHEYE_MODEL else 5], dtype=np.float64)
    distorted = len(coefficients) >= 4 and coefficients.any()
    return CameraInfo(stamp_ns(message.header, log_time_ns), camera,
                      frame_id(message.header.frame_id) or default_frame, k.reshape(3, 3), int(message.width),
                      int(message.height), coefficients if distorted else None,
                      fisheye=bool(distorted and model == FISHEYE_MODEL))


def transforms(message, log_time_ns: int) -> list[Transform]:
    """The transforms of a ``tf2_msgs/TFMessage`` (each ``parent_from_child``)."""
    out = []
    for item in message.transforms:
        t, q = item.transform.translation, item.transform.rotation
        translation, rotation = np.array([t.x, t.y, t.z]), np.array([q.w, q.x, q.y, q.z])
        parent, child = frame_id(item.header.frame_id), frame_id(item.child_frame_id)
        if not parent or not child or not np.isfinite(rotation).all() or np.linalg.norm(rotation) < 1e-9 \
                or not np.isfinite(translation).all():
            raise CorruptMessage(f"transform '{parent}'→'{child}' needs both frame ids, a finite translation and a "
                                 "non-zero quaternion")
        out.append(Transform(stamp_ns(item.header, log_time_ns), parent, child, translation, rotation))
    return out
