"""The nuScenes detection classes and attributes, in the devkit's order."""
from __future__ import annotations

from nuscenes.eval.detection.constants import ATTRIBUTE_NAMES, DETECTION_NAMES
from nuscenes.eval.detection.utils import category_to_detection_name

DETECTION_CLASSES: tuple[str, ...] = tuple(DETECTION_NAMES)
CLASS_INDEX = {name: i for i, name in enumerate(DETECTION_CLASSES)}
ATTRIBUTES: tuple[str, ...] = tuple(ATTRIBUTE_NAMES)

# The nuScenes category each detection class is written as when we create data (its most common category).
CLASS_CATEGORY = {
    "car": "vehicle.car",
    "truck": "vehicle.truck",
    "bus": "vehicle.bus.rigid",
    "trailer": "vehicle.trailer",
    "construction_vehicle": "vehicle.construction",
    "pedestrian": "human.pedestrian.adult",
    "motorcycle": "vehicle.motorcycle",
    "bicycle": "vehicle.bicycle",
    "traffic_cone": "movable_object.trafficcone",
    "barrier": "movable_object.barrier",
}


def detection_class_of(category: str) -> str | None:
    """The detection class of a nuScenes category name, or None for categories outside the 10 classes."""
    return category_to_detection_name(category)

_VEHICLE, _PEDESTRIAN, _CYCLE = ("vehicle.moving", "vehicle.parked"), ("pedestrian.moving", "pedestrian.standing"), \
    ("cycle.with_rider", "cycle.without_rider")
MOVING_AND_STILL_ATTRIBUTE: dict[str, tuple[str, str] | None] = {
    "car": _VEHICLE, "truck": _VEHICLE, "bus": ("vehicle.moving", "vehicle.stopped"), "trailer": _VEHICLE,
    "construction_vehicle": _VEHICLE, "pedestrian": _PEDESTRIAN, "motorcycle": _CYCLE, "bicycle": _CYCLE,
    "traffic_cone": None, "barrier": None}
"""Per class: the attribute of a moving box and of a still one (None: cones and barriers carry none). A bus that
stands still is stopped (at a stop), not parked, as mmdetection3d and CenterPoint write nuScenes results."""

ATTRIBUTE_GROUP: dict[str, str | None] = {
    name: pair[0].split(".")[0] if pair else None for name, pair in MOVING_AND_STILL_ATTRIBUTE.items()}
"""The attribute family (prefix of its nuScenes attribute names) of each class; cones and barriers have none."""
