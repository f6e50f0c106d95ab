"""Dynamic voxelization: every kept point belongs to exactly one voxel, with no per-voxel point cap.

Runs on the points' device with a sort-based ``torch.unique``; no compiled extension.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from perception.ops.grid import BEVGrid


@dataclass(frozen=True, eq=False)
class Voxels:
    """The occupied voxels of a batch of point clouds.

    coords: (V, 4) long [b, iz, iy, ix], sorted lexicographically (so by sample first).
    point_voxel: (N_kept,) long, the voxel (row of coords) of each kept point, in the order of points[kept].
    kept: (N,) bool, True for points inside the grid (x, y, z ranges) with all features finite.
    """

    coords: Tensor
    point_voxel: Tensor
    kept: Tensor

    @property
    def num_voxels(self) -> int:
        return self.coords.shape[0]


def num_z_bins(grid: BEVGrid, voxel_z: float | None) -> int:
    """Voxel layers over the grid's z range: 1 for pillars (voxel_z None)."""
    if voxel_z is None:
        return 1
    extent = grid.z_range[1] - grid.z_range[0]
    count = round(extent / voxel_z)
    if voxel_z <= 0 or count < 1 or abs(count * voxel_z - extent) > 1e-6 * max(1.0, extent):
        raise ValueError(f"z_range extent {extent} m is not a whole number of voxel_z = {voxel_z} m layers")
    return count


def voxelize(points: Tensor, batch_index: Tensor, grid: BEVGrid, voxel_z: float | None = None) -> Voxels:
    """Assign points to voxels of ``grid`` (x, y cells) × ``voxel_z`` layers, or to pillars when voxel_z is None.

    points: (N, F) float with x, y, z in the first three columns (ego frame); batch_index: (N,) long sample of each
    point. Points out of range or with any non-finite feature are dropped (see ``Voxels.kept``).
    """
    if points.dim() != 2 or points.shape[1] < 3:
        raise ValueError(f"points must be (N, F >= 3), got {tuple(points.shape)}")
    if batch_index.shape != points.shape[:1]:
        raise ValueError(f"batch_index must be ({points.shape[0]},), got {tuple(batch_index.shape)}")
    ny, nx = grid.shape
    nz = num_z_bins(grid, voxel_z)
    ix, iy, inside = grid.cell_of(points[:, :2])
    fz = (points[:, 2] - grid.z_range[0]) / (grid.z_range[1] - grid.z_range[0]) * nz
    kept = inside & (fz >= 0) & (fz < nz) & torch.isfinite(points).all(dim=1)

    iz = fz[kept].floor().long()
    key = ((batch_index[kept].long() * nz + iz) * ny + iy[kept]) * nx + ix[kept]
    voxel_key, point_voxel = torch.unique(key, sorted=True, return_inverse=True)
    coords = torch.stack([voxel_key // (nz * ny * nx), voxel_key // (ny * nx) % nz, voxel_key // nx % ny,
                          voxel_key % nx], dim=1)
    return Voxels(coords, point_voxel, kept)


def _expand_index(index: Tensor, values: Tensor) -> Tensor:
    return index.view(-1, *([1] * (values.dim() - 1))).expand_as(values)


def scatter_mean(values: Tensor, index: Tensor, num_groups: int) -> Tensor:
    """Mean of the rows of values (M, ...) per group index (M,) → (num_groups, ...); 0 for empty groups."""
    out = values.new_zeros((num_groups, *values.shape[1:]))
    return out.scatter_reduce(0, _expand_index(index, values), values, reduce="mean", include_self=False)


def scatter_max(values: Tensor, index: Tensor, num_groups: int) -> Tensor:
    """Element-wise max of the rows of values (M, ...) per group index (M,) → (num_groups, ...); 0 if empty."""
    out = values.new_zeros((num_groups, *values.shape[1:]))
    return out.scatter_reduce(0, _expand_index(index, values), values, reduce="amax", include_self=False)
