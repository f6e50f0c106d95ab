"""Camera branch: images → ResNet+FPN → depth distribution × context → lift to frustum → BEV pooling."""
from __future__ import annotations

import torch
from torch import nn

from perception.models.camera.backbone import ResNetFPN
from perception.models.camera.depth_supervision import lidar_depth_bins
from perception.models.camera.lift import depth_bin_centres, frustum_grid, frustum_to_ego
from perception.models.config import CameraConfig
from perception.models.inputs import DetectorInput
from perception.ops.bev_pool import GeometryCache, bev_pool, compute_bev_pool_geometry

FEATURE_STRIDE = 8


class CameraBEVEncoder(nn.Module):
    """DetectorInput with cameras → camera BEV (B, context_channels, ny, nx) on ``config.grid``."""

    def __init__(self, config: CameraConfig):
        super().__init__()
        self.config = config
        self.backbone = ResNetFPN(config.backbone, config.backbone_stages, config.fpn_channels)
        self.register_buffer("depths", depth_bin_centres(config.depth_bins), persistent=False)
        self.register_buffer("frustum", frustum_grid(config.image_size, FEATURE_STRIDE, self.depths), persistent=False)
        self.depth_context = nn.Conv2d(config.fpn_channels, len(self.depths) + config.context_channels, 1)
        self.geometry_cache = GeometryCache()

    def depth_and_context(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """images (B, N, 3, H, W) → depth logits (B, N, D, h, w), context (B, N, C, h, w)."""
        batch, cameras = images.shape[:2]
        features = self.depth_context(self.backbone(images.flatten(0, 1)))
        depth_logits, context = features[:, :len(self.depths)], features[:, len(self.depths):]
        return depth_logits.unflatten(0, (batch, cameras)), context.unflatten(0, (batch, cameras))

    def geometry(self, batch: DetectorInput):
        """Pooling geometry for the batch's calibration, computed once and cached while calibration is unchanged."""
        calibration = (batch.intrinsics, batch.ego_from_camera, batch.image_from_input, batch.bev_aug)
        return self.geometry_cache.get(calibration, self.config.grid, lambda: compute_bev_pool_geometry(
            frustum_to_ego(self.frustum, batch.intrinsics.float(), batch.ego_from_camera.float(),
                           batch.image_from_input.float(), batch.bev_aug.float()), self.config.grid))

    def forward(self, batch: DetectorInput) -> tuple[torch.Tensor, torch.Tensor]:
        """→ camera BEV (B, C, ny, nx) and the depth logits (B, N, D, h, w) it was lifted with."""
        depth_logits, context = self.depth_and_context(batch.images)
        context = context * batch.camera_valid[:, :, None, None, None].to(context.dtype)
        return bev_pool(depth_logits.softmax(dim=2), context, self.geometry(batch)), depth_logits

    def depth_targets(self, batch: DetectorInput) -> torch.Tensor:
        """Lidar depth-bin targets (B, N, h, w) for the depth logits of ``forward``."""
        return lidar_depth_bins(batch.points, batch.point_batch, batch.bev_aug, batch.intrinsics,
                                batch.ego_from_camera, batch.image_from_input, batch.camera_valid,
                                tuple(self.frustum.shape[1:3]), FEATURE_STRIDE, self.config.depth_bins)
