"""Frames → detector tensors: image resize/crop with its pixel map, global BEV augmentation, batching."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from perception.data.frame import Frame
from perception.models.config import AugmentConfig
from perception.models.inputs import DetectorInput

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


@dataclass
class Sample:
    """One frame as tensors. images (N, 3, H, W) or None; boxes (M, 9) and labels (M,) in the augmented frame."""

    points: torch.Tensor
    bev_aug: torch.Tensor
    images: torch.Tensor | None
    intrinsics: torch.Tensor | None
    ego_from_camera: torch.Tensor | None
    image_from_input: torch.Tensor | None
    camera_valid: torch.Tensor | None
    boxes: torch.Tensor
    labels: torch.Tensor


def resize_crop(original_hw: tuple[int, int], input_hw: tuple[int, int], scale_jitter: float = 1.0,
                crop_offset: tuple[float, float] = (0.5, 1.0)) -> tuple[float, int, int]:
    """Scale (fit the input width, times jitter) and crop offsets; ``crop_offset`` is the fraction of the free
    margin taken on the left and top (default: centred horizontally, bottom-aligned so the sky is cut)."""
    scale = input_hw[1] / original_hw[1] * scale_jitter
    scaled_h, scaled_w = round(original_hw[0] * scale), round(original_hw[1] * scale)
    crop_x = int(round(max(scaled_w - input_hw[1], 0) * crop_offset[0]))
    crop_y = int(round(max(scaled_h - input_hw[0], 0) * crop_offset[1]))
    return scale, crop_x, crop_y


def transform_image(image: np.ndarray, input_hw: tuple[int, int], scale: float, crop_x: int, crop_y: int):
    """Normalised (3, H, W) float32 input and ``image_from_input`` (3, 3) mapping input pixels to original ones."""
    scaled = cv2.resize(image, (round(image.shape[1] * scale), round(image.shape[0] * scale)),
                        interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    canvas = np.zeros((*input_hw, 3), dtype=np.uint8)
    crop = scaled[crop_y:crop_y + input_hw[0], crop_x:crop_x + input_hw[1]]
    canvas[:crop.shape[0], :crop.shape[1]] = crop
    normalised = (canvas.astype(np.float32) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
    return normalised.transpose(2, 0, 1), undo_resize_crop(scale, crop_x, crop_y)


def undo_resize_crop(scale: float, crop_x: int, crop_y: int) -> np.ndarray:
    """``image_from_input`` (3, 3): network-input pixels back to original-image pixels, undoing a resize by
    ``scale`` and a crop at (crop_x, crop_y) of the resized image."""
    return np.array([[1 / scale, 0, crop_x / scale], [0, 1 / scale, crop_y / scale], [0, 0, 1]])


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


def frame_to_sample(frame: Frame, camera_names: list[str], input_hw: tuple[int, int], class_index: dict[int, int],
                    augment: AugmentConfig | None = None, rng: np.random.Generator | None = None,
                    use_cameras: bool = True, use_points: bool = True) -> Sample:
    """Tensors of one frame. ``class_index`` maps dataset labels to model labels (others are dropped).

    With ``augment``, the global transform, image scale/crop jitter and modality dropout are drawn from ``rng``.
    """
    transform = bev_augmentation(augment, rng) if augment else np.eye(4)
    if augment and rng.random() < augment.modality_dropout:
        if rng.random() < 0.5:
            use_cameras = False
        else:
            use_points = False
    points = frame.points.copy() if use_points else np.zeros((0, 5), np.float32)
    points[:, :3] = points[:, :3] @ transform[:3, :3].T.astype(np.float32) + transform[:3, 3].astype(np.float32)

    images = intrinsics = poses = pixel_maps = valid = None
    if use_cameras and camera_names and any(name in frame.images for name in camera_names):
        images, intrinsics, poses, pixel_maps, valid = [], [], [], [], []
        for name in camera_names:
            image, camera = frame.images.get(name), frame.rig.cameras.get(name)
            present = image is not None and camera is not None
            jitter = rng.uniform(*augment.image_resize) if augment else 1.0
            offset = ((0.5 + (rng.random() - 0.5) * augment.image_crop_jitter,
                       1.0 - rng.random() * augment.image_crop_jitter) if augment else (0.5, 1.0))
            if present:
                scale, crop_x, crop_y = resize_crop(image.shape[:2], input_hw, jitter, offset)
                normalised, image_from_input = transform_image(image, input_hw, scale, crop_x, crop_y)
            else:
                normalised, image_from_input = np.zeros((3, *input_hw), np.float32), np.eye(3)
            images.append(normalised)
            intrinsics.append(camera.intrinsics if present else np.eye(3))
            poses.append(camera.ego_from_camera if present else np.eye(4))
            pixel_maps.append(image_from_input)
            valid.append(present)
        images, intrinsics, poses, pixel_maps, valid = (torch.from_numpy(np.stack(x)) for x in
                                                        (images, intrinsics, poses, pixel_maps, valid))
        images, intrinsics, poses, pixel_maps = images.float(), intrinsics.float(), poses.float(), pixel_maps.float()

    boxes, labels = np.zeros((0, 9)), np.zeros(0, dtype=np.int64)
    if frame.boxes is not None and len(frame.boxes):
        gt = frame.boxes
        keep = np.array([label in class_index for label in gt.labels])
        if gt.num_lidar_pts is not None:
            keep &= gt.num_lidar_pts > 0  # what the nuScenes evaluator keeps, too
        boxes = augment_boxes(gt.boxes[keep], transform)
        labels = np.array([class_index[label] for label in gt.labels[keep]], dtype=np.int64)
    return Sample(torch.from_numpy(points).float(), torch.from_numpy(transform).float(), images, intrinsics, poses,
                  pixel_maps, valid, torch.from_numpy(boxes).float(), torch.from_numpy(labels))


def collate(samples: list[Sample]) -> tuple[DetectorInput, list[torch.Tensor], list[torch.Tensor]]:
    """Batch samples: DetectorInput plus per-sample GT boxes and labels. Cameras must match across samples."""
    points = torch.cat([s.points for s in samples])
    point_batch = torch.cat([torch.full((len(s.points),), i, dtype=torch.long) for i, s in enumerate(samples)])
    with_cameras = [s for s in samples if s.images is not None]
    batch = DetectorInput(batch_size=len(samples), points=points, point_batch=point_batch,
                          bev_aug=torch.stack([s.bev_aug for s in samples]))
    if with_cameras:
        reference = with_cameras[0]
        batch.images = stack_camera_field(samples, "images", torch.zeros_like(reference.images))
        batch.intrinsics = stack_camera_field(samples, "intrinsics", identities(reference.intrinsics))
        batch.ego_from_camera = stack_camera_field(samples, "ego_from_camera", identities(reference.ego_from_camera))
        batch.image_from_input = stack_camera_field(samples, "image_from_input",
                                                    identities(reference.image_from_input))
        batch.camera_valid = stack_camera_field(samples, "camera_valid", torch.zeros_like(reference.camera_valid))
    return batch, [s.boxes for s in samples], [s.labels for s in samples]


def identities(matrices: torch.Tensor) -> torch.Tensor:
    """Identity matrices shaped like ``matrices`` (N, k, k)."""
    return torch.eye(matrices.shape[-1]).expand_as(matrices).clone()


def stack_camera_field(samples: list[Sample], name: str, blank: torch.Tensor) -> torch.Tensor:
    """Field ``name`` of every sample stacked (B, N, ...); a sample without cameras contributes ``blank``, which
    its ``camera_valid`` of all False masks out."""
    return torch.stack([getattr(s, name) if s.images is not None else blank for s in samples])
