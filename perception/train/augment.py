"""Training samples: the inference geometry of a frame under a random global transform, image scale/crop jitter and
modality dropout, with its ground-truth boxes in the augmented frame."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

from perception.data.frame import Frame
from perception.inference.preprocess import Sample, collate, frame_to_sample, recent_sweeps
from perception.models.inputs import DetectorInput
from perception.train.config import AugmentConfig


@dataclass
class TrainingSample:
    """A ``Sample`` and its ground truth: boxes (M, 9) and model labels (M,) in the augmented frame."""

    sample: Sample
    boxes: torch.Tensor
    labels: torch.Tensor


def bev_augmentation(config: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """A random global transform (4, 4): rotation about z, isotropic scale, optional mirror flips."""
    angle = rng.uniform(*config.rotation)
    scale = rng.uniform(*config.scale)
    c, s = np.cos(angle), np.sin(angle)
    flip = np.diag([-1.0 if config.flip_x and rng.random() < 0.5 else 1.0,
                    -1.0 if config.flip_y and rng.random() < 0.5 else 1.0, 1.0])
    transform = np.eye(4)
    transform[:3, :3] = flip @ (scale * np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]))
    return transform


def augment_boxes(boxes: np.ndarray, transform: np.ndarray) -> np.ndarray:
    """Boxes (M, 9) under a similarity transform with possible mirroring: centres, sizes, yaw and velocity."""
    linear = transform[:3, :3]
    scale = abs(np.linalg.det(linear)) ** (1 / 3)
    out = boxes.copy()
    out[:, :3] = boxes[:, :3] @ linear.T + transform[:3, 3]
    out[:, 3:6] *= scale
    heading = np.stack([np.cos(boxes[:, 6]), np.sin(boxes[:, 6])], axis=1) @ linear[:2, :2].T
    out[:, 6] = np.arctan2(heading[:, 1], heading[:, 0])
    out[:, 7:9] = boxes[:, 7:9] @ linear[:2, :2].T
    return out


def training_sample(frame: Frame, camera_names: list[str], input_hw: tuple[int, int], class_index: dict[int, int],
                    augment: AugmentConfig | None = None, rng: np.random.Generator | None = None,
                    use_cameras: bool = True, use_points: bool = True,
                    ego_box: tuple[float, ...] = ()) -> TrainingSample:
    """Tensors and ground truth of one frame. ``class_index`` maps dataset labels to model labels (others are
    dropped, as are boxes without lidar points, which the nuScenes evaluator drops too); points inside ``ego_box``
    (the ego vehicle's own returns) are dropped as at inference.

    With ``augment``, the global transform, modality dropout, keyframe-only draw (when its probability is not 0)
    and per-camera scale/crop jitter are drawn from ``rng`` in that order.
    """
    transform = bev_augmentation(augment, rng) if augment else np.eye(4)
    if augment and rng.random() < augment.modality_dropout:
        if rng.random() < 0.5:
            use_cameras = False
        else:
            use_points = False
    if augment and augment.keyframe_only > 0 and rng.random() < augment.keyframe_only:
        frame = dataclasses.replace(frame, points=recent_sweeps(frame.points, 0))
    crops = None
    if augment and use_cameras:
        jitter = augment.image_crop_jitter
        crops = [(rng.uniform(*augment.image_resize),
                  (0.5 + (rng.random() - 0.5) * jitter, 1.0 - rng.random() * jitter)) for _ in camera_names]
    sample = frame_to_sample(frame, camera_names if use_cameras else [], input_hw, use_points, transform, crops,
                             ego_box)

    boxes, labels = np.zeros((0, 9)), np.zeros(0, dtype=np.int64)
    if frame.boxes is not None and len(frame.boxes):
        gt = frame.boxes
        keep = np.array([label in class_index for label in gt.labels])
        if gt.num_lidar_pts is not None:
            keep &= gt.num_lidar_pts > 0
        boxes = augment_boxes(gt.boxes[keep], transform)
        labels = np.array([class_index[label] for label in gt.labels[keep]], dtype=np.int64)
    return TrainingSample(sample, torch.from_numpy(boxes).float(), torch.from_numpy(labels))


def collate_training(samples: list[TrainingSample]) -> tuple[DetectorInput, list[torch.Tensor], list[torch.Tensor]]:
    """A batch and its per-sample boxes and labels."""
    return collate([s.sample for s in samples]), [s.boxes for s in samples], [s.labels for s in samples]
