"""Sensor events and detections → ROS 2 messages (dicts ``mcap_ros2`` serialises to CDR with the full schema texts of
``ros2_msgdefs``).

Lidar points go out as ``PointCloud2`` (x, y, z, intensity float32, 16-byte points), images as
``CompressedImage`` with the file's bytes, intrinsics as ``CameraInfo``, ego poses (parent → ego) on ``/tf`` and
sensor mounts once on ``/tf_static``; detections as a ``visualization_msgs/MarkerArray`` of cubes and labels.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from mcap_ros2._dynamic import serialize_dynamic

from calib.se3 import rotation_to_quaternion, yaw_rotation
from perception.boxes import Boxes3D
from perception.data.classes import DETECTION_CLASSES
from perception.replay.events import NS, CameraImage, CameraInfo, LidarSweep, SensorEvent, Transform
from perception.replay.ros2_msgdefs import SCHEMAS
from perception.replay.topics import TopicMap
from perception.viz.style import CLASS_COLORS, detection_label

FLOAT32 = 7
POINT_FIELDS = ("x", "y", "z", "intensity")
TF_TOPIC, TF_STATIC_TOPIC = "/tf", "/tf_static"
MARKER_CUBE, MARKER_TEXT, MARKER_DELETE_ALL = 1, 9, 3
BOX_ALPHA, LABEL_LIFT_M, LABEL_HEIGHT_M = 0.4, 0.5, 0.6


class Ros2Serializer:
    """``serialize(schema_name, message) -> bytes`` (CDR), with one encoder per schema built on first use."""

    def __init__(self):
        self._encoders: dict[str, Callable] = {}

    def serialize(self, schema_name: str, message: dict) -> bytes:
        if schema_name not in self._encoders:
            self._encoders[schema_name] = serialize_dynamic(schema_name, SCHEMAS[schema_name])[schema_name]
        return self._encoders[schema_name](message)


def header(time_ns: int, frame_id: str) -> dict:
    return {"stamp": {"sec": time_ns // NS, "nanosec": time_ns % NS}, "frame_id": frame_id}


def quaternion(wxyz) -> dict:
    w, x, y, z = (float(v) for v in wxyz)
    return {"x": x, "y": y, "z": z, "w": w}


def vector3(xyz) -> dict:
    return dict(zip("xyz", (float(v) for v in xyz)))


def point_cloud2(sweep: LidarSweep) -> dict:
    """The sweep's (N, 4) float32 points as little-endian float32 ``x, y, z, intensity``."""
    n, step = len(sweep.points), 4 * len(POINT_FIELDS)
    fields = [{"name": name, "offset": 4 * i, "datatype": FLOAT32, "count": 1} for i, name in enumerate(POINT_FIELDS)]
    return {"header": header(sweep.time_ns, sweep.frame_id), "height": 1, "width": n, "fields": fields,
            "is_bigendian": False, "point_step": step, "row_step": step * n, "is_dense": True,
            "data": np.ascontiguousarray(sweep.points[:, :4], dtype="<f4").tobytes()}


def compressed_image(image: CameraImage) -> dict:
    return {"header": header(image.time_ns, image.frame_id), "format": image.format, "data": image.data}


def camera_info(info: CameraInfo) -> dict:
    """K, the rectified-image R = I and P = [K | 0]; D (plumb_bob) only when the image is distorted."""
    k = [float(v) for v in info.intrinsics.reshape(9)]
    distortion = [] if info.distortion is None else [float(v) for v in info.distortion]
    model = ("equidistant" if info.fisheye else "plumb_bob") if distortion else ""
    return {"header": header(info.time_ns, info.frame_id), "height": info.height, "width": info.width,
            "distortion_model": model, "d": distortion, "k": k, "r": [1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0],
            "p": [*k[0:3], 0.0, *k[3:6], 0.0, *k[6:9], 0.0]}


def tf_message(transforms: list[Transform]) -> dict:
    return {"transforms": [{"header": header(t.time_ns, t.parent), "child_frame_id": t.child,
                            "transform": {"translation": vector3(t.translation),
                                          "rotation": quaternion(t.rotation_wxyz)}} for t in transforms]}


def color(name: str, alpha: float = 1.0) -> dict:
    r, g, b = CLASS_COLORS[name]
    return {"r": r / 255, "g": g / 255, "b": b / 255, "a": alpha}


MARKER_ARRAY = "visualization_msgs/msg/MarkerArray"
MARKERS_SUFFIX = "/markers"  # the MarkerArray topic is the SceneUpdate topic with this suffix


def marker_array(boxes: Boxes3D, time_ns: int, frame_id: str, namespace: str = "detections") -> dict:
    """The boxes (M, 9) of one sweep as cubes and floating labels (class and score; ground truth: class), after a
    DELETEALL of the previous sweep's."""
    stamp = header(time_ns, frame_id)
    markers = [{"header": stamp, "ns": namespace, "action": MARKER_DELETE_ALL}]
    scores = [None] * len(boxes.boxes) if boxes.scores is None else boxes.scores
    for i, (row, label, score) in enumerate(zip(boxes.boxes, boxes.labels, scores)):
        name = DETECTION_CLASSES[label]
        x, y, z, length, width, height, yaw = (float(v) for v in row[:7])
        markers.append({"header": stamp, "ns": namespace, "id": 2 * i, "type": MARKER_CUBE,
                        "pose": {"position": vector3((x, y, z)),
                                 "orientation": quaternion(rotation_to_quaternion(yaw_rotation(yaw)))},
                        "scale": vector3((length, width, height)), "color": color(name, BOX_ALPHA)})
        markers.append({"header": stamp, "ns": namespace, "id": 2 * i + 1, "type": MARKER_TEXT,
                        "pose": {"position": vector3((x, y, z + height / 2 + LABEL_LIFT_M)),
                                 "orientation": quaternion((1.0, 0.0, 0.0, 0.0))},
                        "scale": vector3((0.0, 0.0, LABEL_HEIGHT_M)), "color": color(name),
                        "text": name if score is None else detection_label(int(label), float(score))})
    return {"markers": markers}


class Ros2Events:
    """(topic, schema name, message) triples of one input message's events; sensor mounts go to /tf_static the
    first time each is seen, ego poses to /tf, a sweep's ground truth to ``topics.ground_truth`` (MarkerArray)."""

    def __init__(self, topics: TopicMap):
        self.topics = topics
        self._mounted: set[str] = set()

    def encode(self, events: list[SensorEvent]) -> list[tuple[str, str, dict]]:
        poses = [e for e in events if isinstance(e, Transform) and e.child == self.topics.ego_frame]
        mounts = [e for e in events if isinstance(e, Transform) and e.child != self.topics.ego_frame
                  and e.child not in self._mounted]
        self._mounted.update(m.child for m in mounts)
        out = [(topic, "tf2_msgs/msg/TFMessage", tf_message(group))
               for topic, group in ((TF_STATIC_TOPIC, mounts), (TF_TOPIC, poses)) if group]
        for event in events:
            if isinstance(event, LidarSweep):
                out.append((self.topics.lidar, "sensor_msgs/msg/PointCloud2", point_cloud2(event)))
                if event.ground_truth is not None:
                    out.append((self.topics.ground_truth, MARKER_ARRAY, marker_array(
                        event.ground_truth, event.time_ns, self.topics.ego_frame, "ground_truth")))
            elif isinstance(event, CameraInfo):
                out.append((self.topics.camera(event.camera).calibration, "sensor_msgs/msg/CameraInfo",
                            camera_info(event)))
            elif isinstance(event, CameraImage):
                out.append((self.topics.camera(event.camera).image, "sensor_msgs/msg/CompressedImage",
                            compressed_image(event)))
        return out
