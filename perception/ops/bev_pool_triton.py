"""Triton kernels for BEV pooling, in two designs behind one autograd function.

Segmented (the default): the frustum points, sorted by their target (BEV cell forward, context pixel for the
backward to the context), are cut into fixed blocks of ``BLOCK_P`` points × ``BLOCK_C`` channels, whatever the run
lengths. Each program gathers its points' weighted value rows (depth × context on the fly, so the (points, C) product
never exists in memory), sums runs of equal target with a segmented scan, and adds each run's sum at its last point
with one atomic add: runs inside a block land once, a run cut by block edges gets one partial sum per block. Work is
balanced and the gathers of a block are independent, however long or short the runs.

Intervals (the baseline, BEVPoolv2 style): one program per run × channel block walks its run point by point, so no
atomics, but run lengths vary from 1 to thousands and each step waits on its index load.

Backward to the depth is one dot product over channels per frustum point (each point owns its depth value) in both.
Accumulation is float32 for every input dtype. The kernels also run on the CPU under Triton's interpreter
(``TRITON_INTERPRET=1``), which is how the tests check them on machines without a GPU.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor

BLOCK_C = 32     # channels per program
BLOCK_P = 64     # frustum points per program in the depth backward
BLOCK_S = 128    # sorted points per program in the segmented sums


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
def _add_within_run(key_a, sum_a, key_b, sum_b):
    """Combine of the segmented scan: over sorted keys, b's range is all one run when its key equals a's last key."""
    return key_b, tl.where(key_a == key_b, sum_a + sum_b, sum_b)


@triton.jit
def _segment_sums_kernel(values_ptr, rows_ptr, weights_ptr, weight_index_ptr, order_ptr, keys_ptr, out_ptr,
                         num_points, channels, ORDERED: tl.constexpr, BLOCK_POINTS: tl.constexpr,
                         BLOCK: tl.constexpr):
    """out[keys[i], c] += Σ over sorted positions i of a run: weights[weight_index[order[i]]] ·
    values[rows[order[i]], c]; ``keys`` (num_points,) non-decreasing, ``out`` float32 and zeroed beforehand.
    ``ORDERED``: the points are already in key order (``order`` is the identity and is not read)."""
    positions = tl.program_id(0) * BLOCK_POINTS + tl.arange(0, BLOCK_POINTS)
    offsets = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    valid = positions < num_points
    mask = valid[:, None] & (offsets < channels)[None, :]
    point = positions if ORDERED else tl.load(order_ptr + positions, mask=valid, other=0)
    weight = tl.load(weights_ptr + tl.load(weight_index_ptr + point, mask=valid, other=0), mask=valid,
                     other=0.0).to(tl.float32)
    row = tl.load(rows_ptr + point, mask=valid, other=0).to(tl.int64)
    products = weight[:, None] * tl.load(values_ptr + row[:, None] * channels + offsets[None, :], mask=mask,
                                         other=0.0).to(tl.float32)
    key = tl.load(keys_ptr + positions, mask=valid, other=-1)
    _, run_sums = tl.associative_scan((tl.broadcast_to(key[:, None], (BLOCK_POINTS, BLOCK)), products), 0,
                                      _add_within_run)
    # A run ends where the next sorted key differs; the block's last point closes the block's share of its run.
    next_key = tl.load(keys_ptr + positions + 1, mask=positions + 1 < num_points, other=-1)
    last = (key != next_key) | (tl.arange(0, BLOCK_POINTS) == BLOCK_POINTS - 1)
    tl.atomic_add(out_ptr + key.to(tl.int64)[:, None] * channels + offsets[None, :], run_sums,
                  mask=mask & last[:, None])


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


def _sum_intervals(values: Tensor, rows: Tensor, weights: Tensor, weight_index: Tensor, order: Tensor,
                   starts: Tensor, lengths: Tensor, targets: Tensor, num_targets: int) -> Tensor:
    """(num_targets, C) float32: per run (sorted positions ``starts[k] : starts[k] + lengths[k]`` of the points
    ``order[...]``, target ``targets[k]``) the weighted sum of value rows; zeros where no run writes."""
    channels = values.shape[1]
    out = torch.zeros(num_targets, channels, dtype=torch.float32, device=values.device)
    if len(starts):
        grid = (len(starts), triton.cdiv(channels, BLOCK_C))
        _runs_kernel[grid](values, rows, weights, weight_index, order, starts, lengths, targets, out, channels,
                           BLOCK=BLOCK_C)
    return out


def _sum_segments(values: Tensor, rows: Tensor, weights: Tensor, weight_index: Tensor, order: Tensor | None,
                  keys: Tensor, num_targets: int) -> Tensor:
    """(num_targets, C) float32: per target, the weighted sum of the value rows of the points whose sorted ``keys``
    (P,) equal it; point i in key order is ``order[i]`` (None: the points are in key order already)."""
    channels = values.shape[1]
    out = torch.zeros(num_targets, channels, dtype=torch.float32, device=values.device)
    if len(keys):
        grid = (triton.cdiv(len(keys), BLOCK_S), triton.cdiv(channels, BLOCK_C))
        ordered = order is None
        _segment_sums_kernel[grid](values, rows, weights, weight_index,
                                   keys if ordered else order,  # a placeholder the kernel does not read if ORDERED
                                   keys, out, len(keys), channels, ORDERED=ordered, BLOCK_POINTS=BLOCK_S,
                                   BLOCK=BLOCK_C)
    return out


class BEVPoolTriton(torch.autograd.Function):
    """Same contract as the torch implementation: (depth_flat, context_flat, geometry, num_cells, segmented) →
    (num_cells, C); ``segmented`` picks the segmented kernels, else the interval (BEVPoolv2-style) ones."""

    @staticmethod
    def forward(ctx, depth_flat: Tensor, context_flat: Tensor, geometry, num_cells: int, segmented: bool) -> Tensor:
        depth_flat, context_flat = depth_flat.contiguous(), context_flat.contiguous()
        ctx.save_for_backward(depth_flat, context_flat)
        ctx.geometry, ctx.segmented = geometry, segmented
        if segmented:  # points are sorted by cell already
            return _sum_segments(context_flat, geometry.context_index, depth_flat, geometry.depth_index, None,
                                 geometry.cell_index, num_cells)
        identity = torch.arange(geometry.num_points, device=depth_flat.device)
        return _sum_intervals(context_flat, geometry.context_index, depth_flat, geometry.depth_index, identity,
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
            # grad_context[pixel] = Σ over the pixel's points of depth · grad_out[cell]: points by context pixel.
            if ctx.segmented:
                grad_context = _sum_segments(grad_out, geometry.cell_index, depth_flat, geometry.depth_index,
                                             geometry.context_order, geometry.context_sorted, context_flat.shape[0])
            else:
                grad_context = _sum_intervals(grad_out, geometry.cell_index, depth_flat, geometry.depth_index,
                                              geometry.context_order, geometry.context_starts,
                                              geometry.context_lengths, geometry.context_pixel,
                                              context_flat.shape[0])
            grad_context = grad_context.to(context_flat.dtype)
        return grad_depth, grad_context, None, None, None
