"""``Boxes3D``: a set of 3D boxes with labels, as ground truth or detections, in one frame."""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from calib.boxes import transform_boxes

BOX_DIM = 9
"""A box row is (x, y, z, l, w, h, yaw, vx, vy): centre, size (length along heading), yaw, velocity in m/s."""


@dataclass
class Boxes3D:
    """Boxes (M, 9) float64 with per-box metadata.

    labels: (M,) int64 index into ``DETECTION_CLASSES``; scores: (M,) for detections, None for ground truth;
    attributes: M nuScenes attribute names ('' when none); num_lidar_pts: (M,) for ground truth; tokens: M
    annotation tokens for ground truth. Velocity components are NaN where unknown (a track with one annotation).
    """

    boxes: np.ndarray
    labels: np.ndarray
    scores: np.ndarray | None = None
    attributes: list[str] = field(default_factory=list)
    num_lidar_pts: np.ndarray | None = None
    tokens: list[str] = field(default_factory=list)

    def __post_init__(self):
        self.boxes = np.asarray(self.boxes, dtype=np.float64).reshape(-1, BOX_DIM)
        self.labels = np.asarray(self.labels, dtype=np.int64).reshape(-1)
        if len(self.labels) != len(self.boxes):
            raise ValueError(f"{len(self.boxes)} boxes but {len(self.labels)} labels")
        if not self.attributes:
            self.attributes = [""] * len(self.boxes)

    @classmethod
    def empty(cls) -> "Boxes3D":
        return cls(np.zeros((0, BOX_DIM)), np.zeros(0, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.boxes)

    def select(self, mask_or_index) -> "Boxes3D":
        """The subset picked by a boolean mask or an index array."""
        index = np.arange(len(self))[mask_or_index]
        pick = lambda seq: [seq[i] for i in index] if seq else seq  # noqa: E731
        return type(self)(self.boxes[index], self.labels[index],
                       None if self.scores is None else self.scores[index], pick(self.attributes),
                       None if self.num_lidar_pts is None else self.num_lidar_pts[index], pick(self.tokens))

    def transformed(self, a_from_b: np.ndarray) -> "Boxes3D":
        """The same boxes expressed in frame a (centres, yaw and velocity)."""
        return replace(self, boxes=transform_boxes(a_from_b, self.boxes))
