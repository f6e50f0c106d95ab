"""``PillarFeatureNet``: PointPillars-style encoder of dynamic pillars into a dense lidar BEV map."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from perception.ops.grid import BEVGrid
from perception.ops.voxelize import Voxels, scatter_max, scatter_mean, voxelize

DECORATION_FEATURES = 5
"""Features added per point: offset from its pillar's point mean (x, y, z) and from the pillar centre (x, y)."""


class PointLinearBNReLU(nn.Module):
    """Linear (no bias) + BatchNorm1d + ReLU over points (M, in) → (M, out).

    With fewer than two points in training, batch statistics are undefined; the running statistics are used instead
    (and not updated) for that call.
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.linear = nn.Linear(in_channels, out_channels, bias=False)
        self.norm = nn.BatchNorm1d(out_channels, eps=1e-3, momentum=0.01)

    def forward(self, x: Tensor) -> Tensor:
        x = self.linear(x)
        use_batch_stats = self.training and x.shape[0] > 1
        norm = self.norm
        x = F.batch_norm(x, norm.running_mean, norm.running_var, norm.weight, norm.bias, use_batch_stats,
                         norm.momentum, norm.eps)
        return F.relu(x)


POINT_FEATURE_UNITS = (255.0, 0.5)
"""Units of the point features after x, y, z when ``normalize`` is on: intensity (0..255) and dt (seconds; ten
20 Hz sweeps span 0.5 s)."""


def feature_units(grid: BEVGrid, in_features: int) -> torch.Tensor:
    """Units (in_features + 5,) dividing the decorated point features: x, y stay in metres, z is divided by half
    the grid's height, intensity and dt by ``POINT_FEATURE_UNITS``, the offsets within the pillar by the cell size.

    Raw, intensity spans 0..255 while dt spans 0..0.15 s and the offsets ±0.2 m: under Adam, which moves every
    weight by about the learning rate per step, the sweep age (what velocity is read from) and the shape within a
    pillar stay faint next to intensity for thousands of steps. Scaling x and y as well (to ±1) cost the
    localisation in the overfitting test (42 % of boxes matched instead of 100 %), so they keep their metres.
    """
    extras = (*POINT_FEATURE_UNITS, *[1.0] * in_features)[:in_features - 3]
    return torch.tensor([1.0, 1.0, (grid.z_range[1] - grid.z_range[0]) / 2, *extras,
                         *[grid.cell] * DECORATION_FEATURES])


SWEEP_PERIOD_S = 0.05
"""Width of the occupancy time bins: one 20 Hz sweep (nuScenes); a 10 Hz rig fills every other bin."""


def sweep_occupancy(dt: Tensor, cell: Tensor, num_cells: int, bins: int) -> Tensor:
    """Points per BEV cell and sweep age, log-scaled: dt (N,) seconds, cell (N,) flat cell index in
    [0, num_cells) → (num_cells, bins), bin k holding log(1 + points aged k sweep periods; the oldest bin takes
    everything older).

    A moving object leaves its older sweeps' points behind its newest ones, so comparing neighbouring cells across
    bins shows motion; the max over a pillar's point features keeps no such per-sweep counts.
    """
    age = (dt / SWEEP_PERIOD_S).round().long().clamp(0, bins - 1)
    counts = dt.new_zeros(num_cells * bins).index_add_(0, cell * bins + age, torch.ones_like(dt))
    return counts.view(num_cells, bins).log1p()


class PillarFeatureNet(nn.Module):
    """Encode lidar points into a BEV map on ``grid``: per-point MLP, then max over each pillar.

    in_features: point features, x, y, z first (the lidar convention is x, y, z, intensity, dt);
    channels: output widths of the MLP layers, e.g. (64,) or (64, 64); the last is the BEV channel count;
    normalize: divide the decorated features by ``feature_units`` before the MLP;
    occupancy_bins: when > 0, that many ``sweep_occupancy`` channels follow the MLP's (dt is the fifth feature).
    """

    def __init__(self, grid: BEVGrid, in_features: int = 5, channels: tuple[int, ...] = (64,),
                 normalize: bool = False, occupancy_bins: int = 0):
        super().__init__()
        if not channels:
            raise ValueError("channels must name at least one layer width")
        if occupancy_bins and in_features < 5:
            raise ValueError(f"sweep occupancy needs dt as the fifth point feature, got {in_features} features")
        self.grid = grid
        self.occupancy_bins = occupancy_bins
        self.out_channels = channels[-1] + occupancy_bins
        widths = (in_features + DECORATION_FEATURES, *channels)
        self.layers = nn.Sequential(*(PointLinearBNReLU(a, b) for a, b in zip(widths[:-1], widths[1:])))
        units = feature_units(grid, in_features) if normalize else torch.ones(widths[0])
        self.register_buffer("feature_units", units, persistent=False)

    def decorate(self, points: Tensor, voxels: Voxels) -> Tensor:
        """Kept points (M, F) → (M, F + 5): features, offsets from the pillar's point mean (xyz) and centre (xy)."""
        xyz = points[:, :3]
        mean = scatter_mean(xyz, voxels.point_voxel, voxels.num_voxels)
        centre = self.grid.centre_of(voxels.coords[:, 3], voxels.coords[:, 2]).to(points.dtype)
        return torch.cat([points, xyz - mean[voxels.point_voxel], xyz[:, :2] - centre[voxels.point_voxel]], dim=1)

    def pillar_features(self, points: Tensor, batch_index: Tensor) -> tuple[Tensor, Voxels]:
        """points (N, F), batch_index (N,) → features (V, C) of the V occupied pillars, and the pillars."""
        voxels = voxelize(points, batch_index, self.grid, voxel_z=None)
        per_point = self.layers(self.decorate(points[voxels.kept], voxels) / self.feature_units.to(points.dtype))
        return scatter_max(per_point, voxels.point_voxel, voxels.num_voxels), voxels

    def forward(self, points: Tensor, batch_index: Tensor, batch_size: int) -> Tensor:
        """points (N, F), batch_index (N,) long in [0, batch_size) → BEV (batch_size, C, ny, nx), 0 where empty."""
        ny, nx = self.grid.shape
        features, voxels = self.pillar_features(points, batch_index)
        b, iy, ix = voxels.coords[:, 0], voxels.coords[:, 2], voxels.coords[:, 3]
        cell = (b * ny + iy) * nx + ix  # one pillar per cell, so a copy (not a sum) is exact
        num_cells = batch_size * ny * nx
        bev = features.new_zeros(num_cells, features.shape[1]).index_copy(0, cell, features)
        if self.occupancy_bins:
            occupancy = sweep_occupancy(points[voxels.kept, 4], cell[voxels.point_voxel], num_cells,
                                        self.occupancy_bins)
            bev = torch.cat([bev, occupancy.to(bev.dtype)], dim=1)
        return bev.view(batch_size, ny, nx, self.out_channels).permute(0, 3, 1, 2).contiguous()
