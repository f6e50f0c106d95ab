"""Which MCAP topics and frame ids hold which sensor: a small YAML file, defaults as Foxglove's nuscenes2mcap writes.

Every key is optional::

    lidar: /LIDAR_TOP
    lidar_frame: LIDAR_TOP          # used when a point cloud has no frame_id
    cameras:                        # omit to take every /<NAME>/image_rect_compressed topic as camera <NAME>
      - {name: CAM_FRONT, image: /CAM_FRONT/image_rect_compressed, calibration: /CAM_FRONT/camera_info}
    transforms: [/tf]
    world_frame: map
    ego_frame: base_link
    detections: /detections         # output: 3D boxes (foxglove.SceneUpdate)
    ground_truth: /ground_truth     # output: annotated boxes, when the source has them

A camera's ``annotations`` topic (default ``/<NAME>/detections``) receives the boxes projected into its image.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from perception.typed_config import load_yaml_config

IMAGE_SUFFIX = "/image_rect_compressed"
CALIBRATION_SUFFIX = "/camera_info"
ANNOTATIONS_SUFFIX = "/detections"

SCHEMAS = {"lidar": ("foxglove.PointCloud",), "image": ("foxglove.CompressedImage",),
           "calibration": ("foxglove.CameraCalibration",),
           "transforms": ("foxglove.FrameTransforms", "foxglove.FrameTransform")}
"""The Foxglove schemas each kind of input topic may carry (the first is the one we write)."""


@dataclass(frozen=True)
class CameraTopics:
    """The topics of one camera; empty ones default to the nuscenes2mcap names under ``/<name>``."""

    name: str
    image: str = ""
    calibration: str = ""
    annotations: str = ""
    frame: str = ""  # used when its messages have no frame_id

    def __post_init__(self):
        if not self.name:
            raise ValueError("a camera needs a non-empty name")
        for key, default in (("image", f"/{self.name}{IMAGE_SUFFIX}"),
                             ("calibration", f"/{self.name}{CALIBRATION_SUFFIX}"),
                             ("annotations", f"/{self.name}{ANNOTATIONS_SUFFIX}"), ("frame", self.name)):
            if not getattr(self, key):
                object.__setattr__(self, key, default)


@dataclass(frozen=True)
class TopicMap:
    lidar: str = "/LIDAR_TOP"
    lidar_frame: str = "LIDAR_TOP"
    cameras: tuple[CameraTopics, ...] = ()
    transforms: tuple[str, ...] = ("/tf",)
    world_frame: str = "map"
    ego_frame: str = "base_link"
    detections: str = "/detections"
    ground_truth: str = "/ground_truth"

    def __post_init__(self):
        for key in ("lidar", "lidar_frame", "world_frame", "ego_frame", "detections", "ground_truth"):
            if not getattr(self, key):
                raise ValueError(f"'{key}' must be a non-empty string")
        if not self.transforms or not all(self.transforms):
            raise ValueError("'transforms' must list at least one non-empty topic")
        if self.world_frame == self.ego_frame:
            raise ValueError(f"world_frame and ego_frame must differ, both are '{self.ego_frame}'")
        names = [camera.name for camera in self.cameras]
        if len(set(names)) != len(names):
            raise ValueError(f"camera names must be unique, got {names}")
        inputs = [self.lidar, *self.transforms, *(t for c in self.cameras for t in (c.image, c.calibration))]
        repeated = sorted({t for t in inputs if inputs.count(t) > 1})
        if repeated:
            raise ValueError(f"each input topic may have one role; used more than once: {', '.join(repeated)}")

    def camera(self, name: str) -> CameraTopics:
        """The configured topics of camera ``name``, or its nuscenes2mcap defaults."""
        return next((c for c in self.cameras if c.name == name), CameraTopics(name))

    def role_of(self, topic: str) -> tuple[str, str] | None:
        """(kind, camera name) of an input topic: kind is 'lidar', 'transforms', 'image' or 'calibration'."""
        if topic == self.lidar:
            return "lidar", ""
        if topic in self.transforms:
            return "transforms", ""
        for camera in self.cameras:
            if topic == camera.image:
                return "image", camera.name
            if topic == camera.calibration:
                return "calibration", camera.name
        if not self.cameras:  # discovery by the nuscenes2mcap layout
            for kind, suffix in (("image", IMAGE_SUFFIX), ("calibration", CALIBRATION_SUFFIX)):
                name = topic[1:-len(suffix)] if topic.startswith("/") and topic.endswith(suffix) else ""
                if name and "/" not in name:
                    return kind, name
        return None


def load_topic_map(path: str | Path | None) -> TopicMap:
    """The topic map of a YAML file (unknown keys rejected with the closest valid one), or the defaults."""
    return TopicMap() if path is None else load_yaml_config(TopicMap, path)


SCENE_METADATA = "scene-info"
"""MCAP metadata record with the scene's ``name`` and ``description`` (as nuscenes2mcap writes it)."""
KEYFRAMES_METADATA = "nuscenes-keyframes"
"""MCAP metadata record mapping each keyframe's lidar time (ns, as text) to its nuScenes sample token."""
