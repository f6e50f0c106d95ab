"""Dynamic voxelization: every kept point belongs to exactly one voxel, with no per-voxel point cap.

Runs on the points' device with a sort-based ``torch.unique``; no compiled extension.
"""
from __future__ import annotations

import warnings
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
    batch_size = int(batch_index.max()) + 1 if len(batch_index) else 1
    voxel_key, point_voxel = unique_keys(key, batch_size * nz * ny * nx)
    coords = torch.stack([voxel_key // (nz * ny * nx), voxel_key // (ny * nx) % nz, voxel_key // nx % ny,
                          voxel_key % nx], dim=1)
    return Voxels(coords, point_voxel, kept)


warnings.filterwarnings("ignore", message=r"index_reduce\(\) is in beta")  # stable in use since torch 2.0

DENSE_KEYS = 1 << 24
"""Key spaces up to this size (16 MiB of flags) are deduplicated by marking occupied keys, larger ones by sorting."""


def unique_keys(key: Tensor, key_space: int) -> tuple[Tensor, Tensor]:
    """``torch.unique(key, sorted=True, return_inverse=True)`` for keys (N,) in [0, key_space): the sorted distinct
    keys (V,) and each key's row among them (N,). A small key space is marked in a flag array instead of sorting
    the keys: O(N + key_space), the same result."""
    if key_space > DENSE_KEYS:
        return torch.unique(key, sorted=True, return_inverse=True)
    occupied = torch.zeros(key_space, dtype=torch.bool, device=key.device)
    occupied[key] = True
    row = torch.cumsum(occupied, dim=0) - 1
    return occupied.nonzero().squeeze(1), row[key]


def scatter_mean(values: Tensor, index: Tensor, num_groups: int) -> Tensor:
    """Mean of the rows of values (M, ...) per group index (M,) → (num_groups, ...); 0 for empty groups (a sum by
    ``index_add_`` over the group sizes: about twice as fast on a CPU as ``scatter_reduce``'s mean)."""
    sums = values.new_zeros((num_groups, *values.shape[1:])).index_add_(0, index, values)
    counts = torch.bincount(index, minlength=num_groups).clamp(min=1).to(values.dtype)
    return sums / counts.view(-1, *([1] * (values.dim() - 1)))


def scatter_max(values: Tensor, index: Tensor, num_groups: int) -> Tensor:
    """Element-wise max of the rows of values (M, ...) per group index (M,) → (num_groups, ...); 0 if empty
    (``index_reduce_``: no index expanded to the values' shape, about twice as fast on a CPU as ``scatter_reduce``)."""
    out = values.new_zeros((num_groups, *values.shape[1:]))
    return out.index_reduce_(0, index, values, "amax", include_self=False)
