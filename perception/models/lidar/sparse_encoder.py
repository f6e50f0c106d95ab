"""Optional lidar encoder: voxels through a sparse 3D CNN (SECOND style) with spconv, height folded into channels.

spconv is an optional extra (``pip install -e '.[sparse]'``: its CPU build; on GPU install the ``spconv-cuXXX`` build
matching your CUDA instead). Pillars need nothing beyond torch and stay the default. spconv's backward pass asks for a
CUDA stream even for CPU tensors, so this encoder trains on GPU only; on the CPU it runs inference.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from perception.errors import MissingExtra
from perception.ops.grid import BEVGrid
from perception.ops.voxelize import num_z_bins, scatter_mean, voxelize


def import_spconv():
    """``spconv.pytorch``, or a ``MissingExtra`` error that says how to install it."""
    try:
        import spconv.pytorch as spconv
    except ImportError as error:
        raise MissingExtra("lidar.encoder 'sparse' needs the optional spconv package: pip install -e '.[sparse]' "
                          "(CPU), or the spconv-cuXXX build matching your CUDA; or use encoder 'pillars'") from error
    return spconv


def halved(layers: int) -> int:
    """Layers left after a stride-2, kernel-3, padding-1 convolution along z."""
    return (layers - 1) // 2 + 1


class SparseVoxelEncoder(nn.Module):
    """points (N, F) → BEV (B, channels[-1] · nz_out, ny, nx) on ``grid``.

    Each voxel (``grid`` cell × ``voxel_z`` layer) holds the mean of its points' features. Every stage is two
    submanifold 3×3×3 convolutions (BN, ReLU); between stages a strided convolution halves the number of height
    layers, keeping the BEV resolution of ``grid``. The remaining height layers are stacked as channels.
    """

    def __init__(self, grid: BEVGrid, voxel_z: float, channels: tuple[int, ...], in_features: int = 5):
        super().__init__()
        if not channels:
            raise ValueError("sparse_channels must name at least one stage width")
        spconv = import_spconv()
        self.grid, self.voxel_z = grid, voxel_z
        self.layers_in = num_z_bins(grid, voxel_z)
        modules, width_in, layers = [], in_features, self.layers_in
        for stage, width in enumerate(channels):
            for first in (True, False):
                modules += [spconv.SubMConv3d(width_in if first else width, width, 3, padding=1, bias=False,
                                              indice_key=f"stage{stage}"),
                            nn.BatchNorm1d(width, eps=1e-3, momentum=0.01), nn.ReLU(inplace=True)]
            if stage < len(channels) - 1:
                modules += [spconv.SparseConv3d(width, width, (3, 1, 1), stride=(2, 1, 1), padding=(1, 0, 0),
                                                bias=False),
                            nn.BatchNorm1d(width, eps=1e-3, momentum=0.01), nn.ReLU(inplace=True)]
                layers = halved(layers)
            width_in = width
        self.net = spconv.SparseSequential(*modules)
        self.spconv = spconv
        self.out_channels = channels[-1] * layers

    def forward(self, points: Tensor, batch_index: Tensor, batch_size: int) -> Tensor:
        """points (N, F), batch_index (N,) long in [0, batch_size) → BEV (batch_size, out_channels, ny, nx)."""
        if self.training and torch.is_grad_enabled() and not points.is_cuda:
            raise RuntimeError("the sparse lidar encoder trains on GPU only (spconv's backward needs CUDA); "
                               "train on a GPU, or use lidar.encoder 'pillars' on the CPU")
        voxels = voxelize(points, batch_index, self.grid, self.voxel_z)
        features = scatter_mean(points[voxels.kept], voxels.point_voxel, voxels.num_voxels)
        ny, nx = self.grid.shape
        sparse = self.spconv.SparseConvTensor(features, voxels.coords.int(), [self.layers_in, ny, nx], batch_size)
        dense = self.net(sparse).dense()  # (B, C, layers, ny, nx)
        return dense.flatten(1, 2).contiguous()
