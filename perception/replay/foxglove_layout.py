"""A Foxglove layout for a recording we write: a 3D panel (lidar, ground truth, detections, following the ego
frame) beside the camera images with their box annotations, saved next to the MCAP as ``<name>.layout.json``
(import it in Foxglove: Layouts → Import from file)."""
from __future__ import annotations

import json
from pathlib import Path

from calib.atomic import atomic_write_bytes
from perception.replay.events import CameraImage, LidarSweep, Recorded
from perception.replay.topics import TopicMap

THREE_D = "3D!replay"


def layout_path(mcap_path: str | Path) -> Path:
    path = Path(mcap_path)
    return path.with_name(f"{path.stem}.layout.json")


def image_panel_id(camera: str) -> str:
    return f"Image!{camera.lower()}"


def mosaic(panels: list[str], direction: str):
    """The panels split evenly along ``direction`` ('row' or 'column'), as Foxglove's nested binary layout tree."""
    if len(panels) == 1:
        return panels[0]
    return {"first": panels[0], "second": mosaic(panels[1:], direction), "direction": direction,
            "splitPercentage": 100 / len(panels)}


def foxglove_layout(topics: TopicMap, lidar_topic: str, image_topics: dict[str, str]) -> dict:
    """The layout's JSON: 3D panel on the left (60 %), one image panel per camera (name → image topic) stacked on
    the right."""
    three_d = {"followTf": topics.ego_frame, "followMode": "follow-pose",
               "topics": {lidar_topic: {"visible": True, "colorField": "intensity", "pointSize": 2},
                          topics.ground_truth: {"visible": True}, topics.detections: {"visible": True}},
               "layers": {"grid": {"layerId": "foxglove.Grid", "visible": True, "frameId": topics.ego_frame}}}
    config = {THREE_D: three_d}
    for camera, image_topic in sorted(image_topics.items()):
        annotations = topics.camera(camera).annotations
        config[image_panel_id(camera)] = {"imageMode": {"imageTopic": image_topic,
                                                        "annotations": {annotations: {"visible": True}}}}
    images = [image_panel_id(camera) for camera in sorted(image_topics)]
    tree = THREE_D if not images else {"first": THREE_D, "second": mosaic(images, "column"), "direction": "row",
                                       "splitPercentage": 60}
    return {"configById": config, "globalVariables": {}, "userNodes": {}, "playbackConfig": {"speed": 1.0},
            "layout": tree}


class LayoutRecorder:
    """Notes the lidar and image topics of the messages written (a recording's own names, also when found from
    ROS 2 schemas), then writes the layout for them."""

    def __init__(self, topics: TopicMap):
        self.topics, self.lidar_topic = topics, topics.lidar
        self.image_topics: dict[str, str] = {}

    def observe(self, recorded: Recorded) -> None:
        for event in recorded.events:
            if isinstance(event, LidarSweep) and recorded.raw is not None:
                self.lidar_topic = recorded.raw.channel.topic
            elif isinstance(event, CameraImage):
                self.image_topics[event.camera] = event.topic or self.topics.camera(event.camera).image

    def write(self, mcap_path: str | Path) -> Path:
        """Write the layout next to the MCAP file; returns its path."""
        path = layout_path(mcap_path)
        layout = foxglove_layout(self.topics, self.lidar_topic, self.image_topics)
        atomic_write_bytes(path, json.dumps(layout, indent=1).encode())
        return path
