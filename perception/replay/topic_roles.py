"""The role of each topic of a recording: by the ``TopicMap``'s names first, else found from ROS 2 schemas.

ROS 2 bags name their topics freely, so a topic the map does not name gets its role from its schema: the one
``PointCloud2`` topic is the lidar, every ``TFMessage`` topic (``/tf``, ``/tf_static``) holds transforms, a
``CameraInfo`` topic names a camera after its namespace (``/cam/front/camera_info`` → ``cam_front``) and an
``Image`` or ``CompressedImage`` topic under that namespace is its image. A camera image without a CameraInfo is
skipped with a warning.
"""
from __future__ import annotations

import logging
import posixpath

from perception.errors import DataError
from perception.replay.topics import SCHEMAS, TopicMap

log = logging.getLogger(__name__)

ROS2_SCHEMAS = {"lidar": ("sensor_msgs/msg/PointCloud2",),
                "image": ("sensor_msgs/msg/CompressedImage", "sensor_msgs/msg/Image"),
                "calibration": ("sensor_msgs/msg/CameraInfo",), "transforms": ("tf2_msgs/msg/TFMessage",)}
"""The ROS 2 schemas each kind of input topic may carry."""
ENCODING_SCHEMAS = {"protobuf": SCHEMAS, "cdr": ROS2_SCHEMAS}

Role = tuple[str, str]  # (kind, camera name)


def accepts(kind: str, encoding: str, schema_name: str) -> bool:
    """Whether a topic of role ``kind`` may hold ``schema_name`` messages in ``encoding``."""
    return schema_name in ENCODING_SCHEMAS.get(encoding, {}).get(kind, ())


def expected_schemas(kind: str) -> str:
    return " or ".join(f"{' or '.join(schemas[kind])} in {encoding}" for encoding, schemas in ENCODING_SCHEMAS.items())


def ros2_kind(schema_name: str) -> str | None:
    return next((kind for kind, names in ROS2_SCHEMAS.items() if schema_name in names), None)


def camera_name(namespace: str) -> str:
    """``/cam/front`` → ``cam_front``."""
    return namespace.strip("/").replace("/", "_")


class TopicRoles:
    """Roles of the topics listed up front (a file's summary) and of those met later, one at a time."""

    def __init__(self, topics: TopicMap, channels: list[tuple[str, str]]):
        """channels: (topic, schema name) of the file's summary; empty when it has none."""
        self.topics = topics
        self._roles: dict[str, Role | None] = {}
        self._cameras: dict[str, str] = {}  # CameraInfo namespace → camera name
        self._image_of: dict[str, str] = {}  # camera → its image topic
        by_name = {topic: topics.role_of(topic) for topic, _ in channels}
        self._lidar_named = any(role and role[0] == "lidar" for role in by_name.values())
        clouds = sorted(t for t, schema in channels if ros2_kind(schema) == "lidar" and not by_name[t])
        if not self._lidar_named and len(clouds) > 1:
            raise DataError(f"several point cloud topics ({', '.join(clouds)}); name the lidar in --topics YAML "
                            "(lidar: TOPIC)")
        for order in ("calibration", "other"):  # cameras first, so their images find them
            for topic, schema in sorted(channels):
                if (ros2_kind(schema) == "calibration") == (order == "calibration"):
                    self.role_of(topic, schema)
        for topic, schema in channels:
            if ros2_kind(schema) == "image" and self._roles.get(topic) is None and not by_name[topic]:
                log.warning("camera topic %s has no CameraInfo topic in its namespace: skipped", topic)

    def role_of(self, topic: str, schema_name: str) -> Role | None:
        if topic not in self._roles:
            role = self.topics.role_of(topic) or self._schema_role(topic, schema_name)
            if role and role[0] == "calibration":
                self._cameras[posixpath.dirname(topic)] = role[1]
            self._roles[topic] = role
        return self._roles[topic]

    def _schema_role(self, topic: str, schema_name: str) -> Role | None:
        kind = ros2_kind(schema_name)
        if kind == "transforms":
            return kind, ""
        if kind == "lidar" and not self._lidar_named:
            self._lidar_named = True
            return kind, ""
        if kind == "calibration":
            return kind, camera_name(posixpath.dirname(topic)) or camera_name(topic)
        if kind == "image":
            owners = [ns for ns in self._cameras if topic.startswith(ns.rstrip("/") + "/")]
            if not owners:
                return None
            camera = self._cameras[max(owners, key=len)]
            if self._image_of.setdefault(camera, topic) != topic:
                log.warning("camera %s already reads %s: its other image topic %s is skipped", camera,
                            self._image_of[camera], topic)
                return None
            return kind, camera
        return None
