"""Frame → detector input: image resize/crop with its pixel map, camera matrices, points, batching.

Geometry only: no augmentation and no ground truth (training wraps this in ``perception.train.augment``).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from perception.data.frame import Frame
from perception.models.inputs import DetectorInput

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)

ImageCrop = tuple[float, tuple[float, float]]
"""(scale jitter, crop offset) of one camera's input; see ``resize_crop``."""
CENTRED_CROP: ImageCrop = (1.0, (0.5, 1.0))


@dataclass
class Sample:
    """One frame as tensors: points (P, 5), bev_aug (4, 4); images (N, 3, H, W), intrinsics (N, 3, 3),
    ego_from_camera (N, 4, 4), image_from_input (N, 3, 3) and camera_valid (N,), or None without cameras."""

    points: torch.Tensor
    bev_aug: torch.Tensor
    images: torch.Tensor | None
    intrinsics: torch.Tensor | None
    ego_from_camera: torch.Tensor | None
    image_from_input: torch.Tensor | None
    camera_valid: torch.Tensor | None


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


def recent_sweeps(points: np.ndarray, num_sweeps: int) -> np.ndarray:
    """The points (P, 5) of the keyframe and its ``num_sweeps`` most recent past sweeps (by their ``dt``): a frame
    loaded with more history than a model was trained on gives that model the input it knows."""
    ages = np.unique(points[:, 4])
    if len(ages) <= num_sweeps + 1:
        return points
    return points[points[:, 4] <= ages[num_sweeps]]


def without_ego_returns(points: np.ndarray, ego_box: tuple[float, ...]) -> np.ndarray:
    """The points (P, 5) outside ``ego_box`` (x, y, z min then max, ego frame): a lidar on a car's roof sees the
    roof and body around it, a quarter of a real nuScenes cloud, which would otherwise look like an object."""
    if not ego_box:
        return points
    xyz = points[:, :3]
    inside = np.all((xyz >= np.asarray(ego_box[:3])) & (xyz <= np.asarray(ego_box[3:])), axis=1)
    return points[~inside]


def frame_to_sample(frame: Frame, camera_names: list[str], input_hw: tuple[int, int], use_points: bool = True,
                    bev_transform: np.ndarray | None = None, image_crops: list[ImageCrop] | None = None,
                    ego_box: tuple[float, ...] = ()) -> Sample:
    """Tensors of one frame: the named cameras (absent ones zero and marked invalid; none when the frame has none
    of them) and its points outside ``ego_box``, both under ``bev_transform`` (4, 4; identity by default).
    ``image_crops``: one (scale jitter, crop offset) per camera name, centred crops when None."""
    transform = np.eye(4) if bev_transform is None else bev_transform
    points = without_ego_returns(frame.points, ego_box).copy() if use_points else np.zeros((0, 5), np.float32)
    points[:, :3] = points[:, :3] @ transform[:3, :3].T.astype(np.float32) + transform[:3, 3].astype(np.float32)

    images = intrinsics = poses = pixel_maps = valid = None
    if camera_names and any(name in frame.images for name in camera_names):
        images, intrinsics, poses, pixel_maps, valid = [], [], [], [], []
        for i, name in enumerate(camera_names):
            image, camera = frame.images.get(name), frame.rig.cameras.get(name)
            present = image is not None and camera is not None
            jitter, offset = image_crops[i] if image_crops else CENTRED_CROP
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
    return Sample(torch.from_numpy(points).float(), torch.from_numpy(transform).float(), images, intrinsics, poses,
                  pixel_maps, valid)


def collate(samples: list[Sample]) -> DetectorInput:
    """Batch samples into one ``DetectorInput``. Cameras must match across samples."""
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
    return batch


def identities(matrices: torch.Tensor) -> torch.Tensor:
    """Identity matrices shaped like ``matrices`` (N, k, k)."""
    return torch.eye(matrices.shape[-1]).expand_as(matrices).clone()


def stack_camera_field(samples: list[Sample], name: str, blank: torch.Tensor) -> torch.Tensor:
    """Field ``name`` of every sample stacked (B, N, ...); a sample without cameras contributes ``blank``, which
    its ``camera_valid`` of all False masks out."""
    return torch.stack([getattr(s, name) if s.images is not None else blank for s in samples])
