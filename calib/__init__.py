"""Sensor rig geometry (numpy only): SE(3) transforms, cameras, lidars, rigs, box projection."""
from .boxes import box_corners, points_in_boxes, transform_boxes
from .errors import CalibrationError
from .projection import project_boxes
from .rig import Rig, load_rig, save_rig
from .sensors import Camera, Lidar

__all__ = ["Camera", "Lidar", "Rig", "CalibrationError", "load_rig", "save_rig", "box_corners", "points_in_boxes",
           "transform_boxes", "project_boxes"]
