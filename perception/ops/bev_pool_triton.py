"""Triton kernels for BEV pooling: one program per (run of points sharing a BEV cell, block of channels).

No atomics anywhere. Forward walks each cell's run (``starts``/``lengths`` of the geometry) and multiplies depth ×
context on the fly, so the (points, C) product never exists in memory. Backward to the context walks runs of points
sharing a context pixel (a second ordering kept in the geometry); backward to the depth is one dot product over
channels per frustum point (each point owns its depth value). Accumulation is float32 for every input dtype.

The kernels also run on the CPU under Triton's interpreter (``TRITON_INTERPRET=1``), which is how the tests check
them on machines without a GPU.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor

BLOCK_C = 32     # channels per program
BLOCK_P = 64     # frustum points per program in the depth backward


@triton.jit
def _runs_kernel(values_ptr, rows_ptr, weights_ptr, weight_index_ptr, order_ptr, starts_ptr, lengths_ptr,
                 target_ptr, out_ptr, channels, BLOCK: tl.constexpr):
    """out[target[k], c] = Σ_{i in run k} weights[weight_index[order[i]]] · values[rows[order[i]], c]."""
    run = tl.program_id(0)
    offsets = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    valid = offsets < channels
    start = tl.load(starts_ptr + run)
    length = tl.load(lengths_ptr + run)
    total = tl.zeros([BLOCK], dtype=tl.float32)
    for i in range(0, length):
        point = tl.load(order_ptr + start + i)
        weight = tl.load(weights_ptr + tl.load(weight_index_ptr + point)).to(tl.float32)
        row = tl.load(rows_ptr + point).to(tl.int64)
        total += weight * tl.load(values_ptr + row * channels + offsets, mask=valid, other=0.0).to(tl.float32)
    target = tl.load(target_ptr + run).to(tl.int64)
    tl.store(out_ptr + target * channels + offsets, total, mask=valid)


@triton.jit
def _depth_grad_kernel(grad_out_ptr, context_ptr, cell_ptr, context_index_ptr, depth_index_ptr, grad_depth_ptr,
                       num_points, channels, BLOCK_POINTS: tl.constexpr, BLOCK: tl.constexpr):
    """grad_depth[depth_index[p]] = Σ_c grad_out[cell[p], c] · context[context_index[p], c]."""
    points = tl.program_id(0) * BLOCK_POINTS + tl.arange(0, BLOCK_POINTS)
    valid_points = points < num_points
    cells = tl.load(cell_ptr + points, mask=valid_points, other=0).to(tl.int64)
    rows = tl.load(context_index_ptr + points, mask=valid_points, other=0).to(tl.int64)
    total = tl.zeros([BLOCK_POINTS], dtype=tl.float32)
    for first in range(0, channels, BLOCK):
        offsets = first + tl.arange(0, BLOCK)
        mask = valid_points[:, None] & (offsets < channels)[None, :]
        grad = tl.load(grad_out_ptr + cells[:, None] * channels + offsets[None, :], mask=mask, other=0.0)
        feature = tl.load(context_ptr + rows[:, None] * channels + offsets[None, :], mask=mask, other=0.0)
        total += tl.sum(grad.to(tl.float32) * feature.to(tl.float32), axis=1)
    depth_index = tl.load(depth_index_ptr + points, mask=valid_points, other=0)
    tl.store(grad_depth_ptr + depth_index, total, mask=valid_points)


def _sum_runs(values: Tensor, rows: Tensor, weights: Tensor, weight_index: Tensor, order: Tensor, starts: Tensor,
              lengths: Tensor, targets: Tensor, num_targets: int) -> Tensor:
    """(num_targets, C) float32: per run, the weighted sum of value rows (zeros where no run writes)."""
    channels = values.shape[1]
    out = torch.zeros(num_targets, channels, dtype=torch.float32, device=values.device)
    if len(starts):
        grid = (len(starts), triton.cdiv(channels, BLOCK_C))
        _runs_kernel[grid](values, rows, weights, weight_index, order, starts, lengths, targets, out, channels,
                           BLOCK=BLOCK_C)
    return out


class BEVPoolTriton(torch.autograd.Function):
    """Same contract as the torch implementation: (depth_flat, context_flat, geometry, num_cells) → (num_cells, C)."""

    @staticmethod
    def forward(ctx, depth_flat: Tensor, context_flat: Tensor, geometry, num_cells: int) -> Tensor:
        depth_flat, context_flat = depth_flat.contiguous(), context_flat.contiguous()
        ctx.save_for_backward(depth_flat, context_flat)
        ctx.geometry = geometry
        # Points are already sorted by cell, so the run order is the identity permutation.
        identity = torch.arange(geometry.num_points, device=depth_flat.device)
        return _sum_runs(context_flat, geometry.context_index, depth_flat, geometry.depth_index, identity,
                         geometry.starts, geometry.lengths, geometry.interval_cell, num_cells)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out: Tensor):
        depth_flat, context_flat = ctx.saved_tensors
        geometry = ctx.geometry
        grad_out = grad_out.contiguous()
        grad_depth = grad_context = None
        if ctx.needs_input_grad[0]:
            grad_depth = torch.zeros(depth_flat.shape, dtype=torch.float32, device=depth_flat.device)
            if geometry.num_points:
                grid = (triton.cdiv(geometry.num_points, BLOCK_P),)
                _depth_grad_kernel[grid](grad_out, context_flat, geometry.cell_index, geometry.context_index,
                                         geometry.depth_index, grad_depth, geometry.num_points,
                                         context_flat.shape[1], BLOCK_POINTS=BLOCK_P, BLOCK=BLOCK_C)
            grad_depth = grad_depth.to(depth_flat.dtype)
        if ctx.needs_input_grad[1]:
            # grad_context[pixel] = Σ over the pixel's points of depth · grad_out[cell]: runs by context pixel.
            grad_context = _sum_runs(grad_out, geometry.cell_index, depth_flat, geometry.depth_index,
                                     geometry.context_order, geometry.context_starts, geometry.context_lengths,
                                     geometry.context_pixel, context_flat.shape[0]).to(context_flat.dtype)
        return grad_depth, grad_context, None, None
