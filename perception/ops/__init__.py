"""Tensor ops of the BEV-fusion detector: the BEV grid, camera → BEV pooling, voxelization, pillar encoding, NMS."""
from perception.ops.bev_pool import (BEVPoolGeometry, GeometryCache, bev_pool, calibration_key,
                                     compute_bev_pool_geometry)
from perception.ops.grid import BEVGrid
from perception.ops.nms import circle_nms
from perception.ops.pillar_encoder import PillarFeatureNet
from perception.ops.voxelize import Voxels, num_z_bins, scatter_max, scatter_mean, voxelize

__all__ = [
    "BEVGrid",
    "BEVPoolGeometry", "GeometryCache", "bev_pool", "calibration_key", "compute_bev_pool_geometry",
    "Voxels", "num_z_bins", "scatter_max", "scatter_mean", "voxelize",
    "PillarFeatureNet",
    "circle_nms",
]
