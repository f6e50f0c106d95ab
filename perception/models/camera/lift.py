"""Lift: image-feature frustum points with candidate depths, placed in the (augmented) ego frame.

Pixel coordinates follow the network input; ``image_from_input`` maps them back to the original image, whose
intrinsics the rig gives. ``bev_aug`` (the global training augmentation, identity at inference) is applied last.
"""
from __future__ import annotations

import torch


def depth_bin_centres(depth_bins: tuple[float, float, float]) -> torch.Tensor:
    """Candidate depths (D,): start, start+step, ... below stop (LSS/BEVFusion style bins)."""
    start, stop, step = depth_bins
    return torch.arange(start, stop - 1e-6, step, dtype=torch.float32)


def frustum_grid(input_size: tuple[int, int], stride: int, depths: torch.Tensor) -> torch.Tensor:
    """Frustum (D, h, w, 3) of (u, v, depth): feature-cell centres in network-input pixels × candidate depths."""
    height, width = input_size
    us = (torch.arange(width // stride, dtype=torch.float32) + 0.5) * stride
    vs = (torch.arange(height // stride, dtype=torch.float32) + 0.5) * stride
    d, v, u = torch.meshgrid(depths, vs, us, indexing="ij")
    return torch.stack([u, v, d], dim=-1)


def frustum_to_ego(frustum: torch.Tensor, intrinsics: torch.Tensor, ego_from_camera: torch.Tensor,
                   image_from_input: torch.Tensor, bev_aug: torch.Tensor) -> torch.Tensor:
    """Ego-frame points (B, N, D, h, w, 3) of the frustum for each camera.

    frustum: (D, h, w, 3); intrinsics: (B, N, 3, 3); ego_from_camera: (B, N, 4, 4); image_from_input: (B, N, 3, 3)
    affine map from network-input pixels to original pixels; bev_aug: (B, 4, 4).
    """
    uv1 = torch.cat([frustum[..., :2], torch.ones_like(frustum[..., :1])], dim=-1)  # (D, h, w, 3)
    pixels = torch.einsum("bnij,dhwj->bndhwi", image_from_input, uv1)
    rays = torch.einsum("bnij,bndhwj->bndhwi", torch.linalg.inv(intrinsics), pixels)
    points_cam = rays / rays[..., 2:3] * frustum[..., 2:3]
    transform = bev_aug[:, None] @ ego_from_camera  # (B, N, 4, 4)
    return torch.einsum("bnij,bndhwj->bndhwi", transform[..., :3, :3], points_cam) + \
        transform[:, :, None, None, None, :3, 3]
