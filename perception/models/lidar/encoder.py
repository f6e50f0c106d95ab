"""Lidar branch: dynamic voxelization on the points' device, pillar feature net, scatter to BEV."""
from __future__ import annotations

import torch
from torch import nn

from perception.models.config import LidarConfig
from perception.models.inputs import DetectorInput
from perception.ops.pillar_encoder import PillarFeatureNet


class LidarBEVEncoder(nn.Module):
    """DetectorInput → lidar BEV (B, pillar_channels[-1], ny, nx) on ``config.grid``."""

    def __init__(self, config: LidarConfig):
        super().__init__()
        self.pillars = PillarFeatureNet(config.grid, in_features=5, channels=config.pillar_channels)
        self.out_channels = self.pillars.out_channels

    def forward(self, batch: DetectorInput) -> torch.Tensor:
        return self.pillars(batch.points, batch.point_batch, batch.batch_size)
