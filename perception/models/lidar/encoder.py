"""Lidar branch: dynamic voxelization on the points' device, a voxel encoder (pillars or sparse 3D), to BEV."""
from __future__ import annotations

import torch
from torch import nn

from perception.models.config import LidarConfig
from perception.models.inputs import DetectorInput
from perception.models.lidar.sparse_encoder import SparseVoxelEncoder
from perception.ops.pillar_encoder import PillarFeatureNet


class LidarBEVEncoder(nn.Module):
    """DetectorInput → lidar BEV (B, out_channels, ny, nx) on ``config.grid``."""

    def __init__(self, config: LidarConfig):
        super().__init__()
        self.encoder = config.encoder
        if config.encoder == "sparse":
            self.sparse = SparseVoxelEncoder(config.grid, config.voxel_z, config.sparse_channels, in_features=5)
        else:
            self.pillars = PillarFeatureNet(config.grid, in_features=5, channels=config.pillar_channels,
                                            normalize=config.normalize_points,
                                            occupancy_bins=config.num_sweeps + 1 if config.sweep_occupancy else 0)
        self.out_channels = getattr(self, self.encoder).out_channels

    def forward(self, batch: DetectorInput) -> torch.Tensor:
        return getattr(self, self.encoder)(batch.points, batch.point_batch, batch.batch_size)
