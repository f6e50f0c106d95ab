"""``Detections``: what a detector found in one frame, with class names and the nuScenes results entries."""
from __future__ import annotations

import numpy as np

from perception.boxes import Boxes3D
from perception.data.classes import DETECTION_CLASSES, MOVING_AND_STILL_ATTRIBUTE
from perception.data.frame import Frame
from perception.data.results import boxes_to_results

MOVING_SPEED_M_S = 1.5
"""Above this predicted speed a detection gets its class's moving attribute (the head does not predict attributes).
Still objects get predicted speeds of up to about 1 m/s from the demo weights; of 0.3, 0.5, 1.0 and 1.5 m/s, 1.5
scored best on the validation scenes (NDS 0.632 against 0.597 at 0.3, `docs/training.md`)."""


class Detections(Boxes3D):
    """Boxes (N, 9) ``x, y, z, l, w, h, yaw, vx, vy`` in the frame's ego frame, scores (N,), labels (N,) indices
    into ``DETECTION_CLASSES``, and a nuScenes attribute per box derived from its predicted motion."""

    @classmethod
    def from_arrays(cls, boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray) -> "Detections":
        return cls(boxes, labels, scores=scores, attributes=attributes_from_motion(boxes, labels))

    @property
    def class_names(self) -> list[str]:
        return [DETECTION_CLASSES[label] for label in self.labels]

    def to_results(self, frame: Frame) -> list[dict]:
        """nuScenes results entries (global frame) of these detections in ``frame``."""
        return boxes_to_results(self, frame.global_from_ego, frame.token)


def attributes_from_motion(boxes: np.ndarray, labels: np.ndarray) -> list[str]:
    """nuScenes attribute per box (M, 9) from its predicted speed; '' for cones and barriers."""
    speeds = np.hypot(boxes[:, 7], boxes[:, 8])
    attributes = []
    for speed, label in zip(speeds, labels):
        moving_and_still = MOVING_AND_STILL_ATTRIBUTE[DETECTION_CLASSES[label]]
        attributes.append(moving_and_still[0 if speed > MOVING_SPEED_M_S else 1] if moving_and_still else "")
    return attributes
