"""Camera → BEV pooling (the "splat" of Lift-Splat-Shoot), with geometry precomputed once per rig (BEVPoolv2 style).

Every frustum point (camera n, depth bin d, feature pixel h, w) has an ego-frame position that depends only on the
calibration and the image augmentation, not on the image. ``compute_bev_pool_geometry`` turns those positions into
index lists once; ``bev_pool`` then only gathers, multiplies and sums:

    out[b, :, iy, ix] = Σ_{points p in cell (iy, ix) of sample b} depth[p] · context[pixel of p, :]
"""
from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch import Tensor

from perception.ops.grid import BEVGrid

CHUNK_ELEMENTS = 1 << 24
"""Default bound on the elements of one (points, C) product block: 64 MiB in float32."""


@dataclass(frozen=True, eq=False)
class BEVPoolGeometry:
    """Index lists for the P frustum points that fall inside the grid, sorted by BEV cell.

    depth_index: (P,) long, flat index into depth laid out (B, N, D, H, W).
    context_index: (P,) long, flat index into context pixels laid out (B, N, H, W) (channels excluded).
    cell_index: (P,) long, flat index into the output cells laid out (B, ny, nx); non-decreasing.
    starts, lengths, interval_cell: (K,) long, the K runs of equal ``cell_index``: points
        ``starts[k] : starts[k] + lengths[k]`` all land in cell ``interval_cell[k]``.
    context_order: (P,) long, the points ordered by ``context_index``; context_sorted: (P,) long, their context
        pixels in that order (non-decreasing); context_starts, context_lengths, context_pixel: (R,) long, its runs of
        equal context pixel (what the GPU backward to the context walks).
    depth_shape: (B, N, D, H, W) the geometry was computed for; grid_shape: (ny, nx).
    """

    depth_index: Tensor
    context_index: Tensor
    cell_index: Tensor
    starts: Tensor
    lengths: Tensor
    interval_cell: Tensor
    context_order: Tensor
    context_sorted: Tensor
    context_starts: Tensor
    context_lengths: Tensor
    context_pixel: Tensor
    depth_shape: tuple[int, int, int, int, int]
    grid_shape: tuple[int, int]

    @property
    def num_points(self) -> int:
        return self.depth_index.shape[0]


def compute_bev_pool_geometry(frustum_xyz: Tensor, grid: BEVGrid) -> BEVPoolGeometry:
    """Index lists for pooling onto ``grid``.

    frustum_xyz: (B, N, D, H, W, 3) ego-frame position of every frustum point. Points outside the grid's x, y or
    z range (or not finite) are dropped. The geometry lives on frustum_xyz's device.
    """
    if frustum_xyz.dim() != 6 or frustum_xyz.shape[-1] != 3:
        raise ValueError(f"frustum_xyz must be (B, N, D, H, W, 3), got {tuple(frustum_xyz.shape)}")
    B, N, D, H, W = frustum_xyz.shape[:5]
    ny, nx = grid.shape
    xyz = frustum_xyz.reshape(-1, 3)
    ix, iy, inside = grid.cell_of(xyz[:, :2])
    z = xyz[:, 2]
    inside &= (z >= grid.z_range[0]) & (z < grid.z_range[1])

    depth_index = inside.nonzero().squeeze(1)
    pixels_per_camera = H * W
    camera = depth_index // (D * pixels_per_camera)  # flat (b, n)
    context_index = camera * pixels_per_camera + depth_index % pixels_per_camera
    batch = depth_index // (N * D * pixels_per_camera)
    cell_index = (batch * ny + iy[depth_index]) * nx + ix[depth_index]

    # A stable sort fixes the order of points within a cell, so a kernel that sums each run sequentially is
    # deterministic.
    cell_index, order = torch.sort(cell_index, stable=True)
    interval_cell, lengths = torch.unique_consecutive(cell_index, return_counts=True)
    starts = torch.cumsum(lengths, 0) - lengths
    context_index = context_index[order]
    context_sorted, context_order = torch.sort(context_index, stable=True)
    context_pixel, context_lengths = torch.unique_consecutive(context_sorted, return_counts=True)
    context_starts = torch.cumsum(context_lengths, 0) - context_lengths
    return BEVPoolGeometry(depth_index[order], context_index, cell_index, starts, lengths, interval_cell,
                           context_order, context_sorted, context_starts, context_lengths, context_pixel,
                           (B, N, D, H, W), (ny, nx))


def calibration_key(calibration: Sequence[Tensor], grid: BEVGrid) -> str:
    """A digest of the tensors' dtype, shape, device and bytes, and of the grid."""
    digest = hashlib.sha256(repr(grid).encode())
    for tensor in calibration:
        digest.update(f"{tensor.dtype}{tuple(tensor.shape)}{tensor.device}".encode())
        digest.update(tensor.detach().contiguous().reshape(-1).view(torch.uint8).cpu().numpy().tobytes())
    return digest.hexdigest()


class GeometryCache:
    """Least-recently-used store of ``BEVPoolGeometry`` keyed by calibration.

    ``calibration`` is every tensor the frustum positions depend on (camera-to-ego transforms, intrinsics,
    image-augmentation matrices, depth bins, ...). Hashing reads them back to the host: one small copy per call.
    """

    def __init__(self, max_entries: int = 8):
        if max_entries < 1:
            raise ValueError(f"max_entries must be at least 1, got {max_entries}")
        self.max_entries = max_entries
        self._entries: OrderedDict[str, BEVPoolGeometry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, calibration: Sequence[Tensor], grid: BEVGrid,
            compute: Callable[[], BEVPoolGeometry]) -> BEVPoolGeometry:
        """The cached geometry for this calibration, or ``compute()``'s result, stored for next time."""
        key = calibration_key(calibration, grid)
        if key in self._entries:
            self._entries.move_to_end(key)
            return self._entries[key]
        geometry = compute()
        self._entries[key] = geometry
        if len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return geometry


def _chunks(total: int, channels: int, chunk_elements: int):
    step = max(1, chunk_elements // max(1, channels))
    for start in range(0, total, step):
        yield slice(start, min(start + step, total))


class _BEVPoolTorch(torch.autograd.Function):
    """Chunked gather–multiply–scatter. Saves only the inputs and recomputes products in backward, so neither pass
    holds more than one (chunk, C) block of products at a time."""

    @staticmethod
    def forward(ctx, depth_flat: Tensor, context_flat: Tensor, geometry: BEVPoolGeometry, num_cells: int,
                chunk_elements: int) -> Tensor:
        # depth_flat: (B·N·D·H·W,); context_flat: (B·N·H·W, C); returns (num_cells, C) in the accumulation dtype.
        accumulate = torch.promote_types(torch.promote_types(depth_flat.dtype, context_flat.dtype), torch.float32)
        channels = context_flat.shape[1]
        out = context_flat.new_zeros(num_cells, channels, dtype=accumulate)
        for part in _chunks(geometry.num_points, channels, chunk_elements):
            weight = depth_flat[geometry.depth_index[part]].to(accumulate)
            features = context_flat[geometry.context_index[part]].to(accumulate)
            out.index_add_(0, geometry.cell_index[part], features * weight[:, None])
        ctx.save_for_backward(depth_flat, context_flat)
        ctx.geometry, ctx.chunk_elements = geometry, chunk_elements
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out: Tensor):
        depth_flat, context_flat = ctx.saved_tensors
        geometry = ctx.geometry
        accumulate = grad_out.dtype
        grad_depth = grad_context = None
        if ctx.needs_input_grad[0]:
            grad_depth = torch.zeros(depth_flat.shape, dtype=accumulate, device=depth_flat.device)
        if ctx.needs_input_grad[1]:
            grad_context = torch.zeros(context_flat.shape, dtype=accumulate, device=context_flat.device)
        for part in _chunks(geometry.num_points, context_flat.shape[1], ctx.chunk_elements):
            depth_index, context_index = geometry.depth_index[part], geometry.context_index[part]
            grad_cell = grad_out[geometry.cell_index[part]]
            if grad_depth is not None:
                features = context_flat[context_index].to(accumulate)
                grad_depth[depth_index] = (grad_cell * features).sum(1)  # each point owns one depth value
            if grad_context is not None:
                weight = depth_flat[depth_index].to(accumulate)
                grad_context.index_add_(0, context_index, grad_cell * weight[:, None])
        return (None if grad_depth is None else grad_depth.to(depth_flat.dtype),
                None if grad_context is None else grad_context.to(context_flat.dtype), None, None, None)


def bev_pool(depth: Tensor, context: Tensor, geometry: BEVPoolGeometry,
             chunk_elements: int = CHUNK_ELEMENTS, implementation: str = "auto") -> Tensor:
    """Splat depth-weighted context features onto the BEV grid.

    depth: (B, N, D, H, W) depth distribution per pixel; context: (B, N, C, H, W) features per pixel.
    Returns (B, C, ny, nx) in the promoted input dtype; sums are accumulated in at least float32.
    Differentiable in depth and context. ``implementation``: "auto" (the segmented Triton kernels for CUDA tensors,
    torch elsewhere), "triton" (segmented), "triton_intervals" (the BEVPoolv2-style baseline) or "torch".
    ``chunk_elements`` bounds the (points, C) product blocks of the torch version.
    """
    if tuple(depth.shape) != geometry.depth_shape:
        raise ValueError(f"depth has shape {tuple(depth.shape)}, the geometry expects {geometry.depth_shape}")
    B, N, D, H, W = geometry.depth_shape
    if context.dim() != 5 or (context.shape[0], context.shape[1], context.shape[3], context.shape[4]) != (B, N, H, W):
        raise ValueError(f"context must be (B, N, C, H, W) = ({B}, {N}, C, {H}, {W}), got {tuple(context.shape)}")
    ny, nx = geometry.grid_shape
    channels = context.shape[2]
    depth_flat = depth.reshape(-1)
    context_flat = context.permute(0, 1, 3, 4, 2).reshape(-1, channels)  # (B·N·H·W, C): one row per pixel
    if implementation == "auto":
        implementation = "triton" if depth.is_cuda else "torch"
    if implementation in ("triton", "triton_intervals"):
        from perception.ops.bev_pool_triton import BEVPoolTriton

        cells = BEVPoolTriton.apply(depth_flat, context_flat, geometry, B * ny * nx, implementation == "triton")
    elif implementation == "torch":
        cells = _BEVPoolTorch.apply(depth_flat, context_flat, geometry, B * ny * nx, chunk_elements)
    else:
        raise ValueError("implementation must be 'auto', 'triton', 'triton_intervals' or 'torch', "
                         f"got {implementation!r}")
    out_dtype = torch.promote_types(depth.dtype, context.dtype)
    return cells.view(B, ny, nx, channels).permute(0, 3, 1, 2).contiguous().to(out_dtype)
