"""Depth supervision of the camera branch from the lidar (BEVDepth): the keyframe sweep projected into each camera
gives, per feature cell, the depth bin of its nearest lidar return, and the predicted depth distribution is trained
towards it. A depth net learns far faster from this dense signal than from the detection loss alone."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from perception.models.camera.lift import depth_bin_centres

NO_DEPTH = -1
"""Target of a feature cell that no lidar return falls in."""


def lidar_depth_bins(points: Tensor, point_batch: Tensor, bev_aug: Tensor, intrinsics: Tensor, ego_from_camera: Tensor,
                     image_from_input: Tensor, camera_valid: Tensor, feature_hw: tuple[int, int], stride: int,
                     depth_bins: tuple[float, float, float]) -> Tensor:
    """Depth-bin index (B, N, h, w) long of the nearest keyframe return in each feature cell, ``NO_DEPTH`` elsewhere.

    points (P, 5) x, y, z, intensity, dt in the augmented ego frame (only dt == 0, the keyframe sweep, is used: older
    sweeps of moving objects would be in the wrong place); point_batch (P,); bev_aug (B, 4, 4) the augmentation applied
    to the points; intrinsics (B, N, 3, 3), ego_from_camera (B, N, 4, 4), image_from_input (B, N, 3, 3) as in
    ``DetectorInput``; camera_valid (B, N). Cells follow ``frustum_grid``: cell (v, u) spans input pixels
    [u·stride, (u+1)·stride) × [v·stride, (v+1)·stride). Bins follow ``depth_bin_centres``: bin k holds depths
    within half a step of start + k·step.
    """
    batch, cameras = intrinsics.shape[:2]
    height, width = feature_hw
    start, stop, step = depth_bins
    num_bins = len(depth_bin_centres(depth_bins))
    target = torch.full((batch * cameras * height * width,), float("inf"), device=points.device)
    keyframe = points[:, 4] == 0
    xyz, sample = points[keyframe, :3].float(), point_batch[keyframe]
    ego = torch.einsum("pij,pj->pi", torch.linalg.inv(bev_aug.float())[sample],
                       torch.cat([xyz, torch.ones_like(xyz[:, :1])], dim=1))
    # (B, N, 3, 3) map from ego-frame points to homogeneous network-input pixels, and (B, N, 3) its offset.
    camera_from_ego = torch.linalg.inv(ego_from_camera.float())
    input_from_camera = torch.linalg.inv(image_from_input.float()) @ intrinsics.float()
    linear = input_from_camera @ camera_from_ego[..., :3, :3]
    offset = (input_from_camera @ camera_from_ego[..., :3, 3:])[..., 0]
    for n in range(cameras):
        pixel = torch.einsum("pij,pj->pi", linear[sample, n], ego[:, :3]) + offset[sample, n]
        depth = (camera_from_ego[sample, n, 2, :3] * ego[:, :3]).sum(dim=1) + camera_from_ego[sample, n, 2, 3]
        u = torch.floor(pixel[:, 0] / pixel[:, 2].clamp_min(1e-6) / stride)
        v = torch.floor(pixel[:, 1] / pixel[:, 2].clamp_min(1e-6) / stride)
        keep = ((depth > start - step / 2) & (depth < stop - step / 2) & (u >= 0) & (u < width) & (v >= 0)
                & (v < height) & camera_valid[sample, n])
        cell = ((sample * cameras + n) * height + v.long()) * width + u.long()
        target.scatter_reduce_(0, cell[keep], depth[keep], reduce="amin")
    bins = torch.round((target - start) / step).clamp(0, num_bins - 1).long()
    return torch.where(torch.isfinite(target), bins, NO_DEPTH).view(batch, cameras, height, width)


def depth_loss(depth_logits: Tensor, target_bins: Tensor) -> Tensor:
    """Cross-entropy of depth logits (B, N, D, h, w) against bins (B, N, h, w), over cells with a lidar return
    (0 when there are none)."""
    logits = depth_logits.float().movedim(2, -1).reshape(-1, depth_logits.shape[2])
    return F.cross_entropy(logits, target_bins.reshape(-1), ignore_index=NO_DEPTH) \
        if bool((target_bins != NO_DEPTH).any()) else logits.sum() * 0
