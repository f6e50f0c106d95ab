"""Triton vs torch BEV pooling parity (values and gradients) on random geometry; run as a script.

Used by tests/test_bev_pool_triton.py under Triton's CPU interpreter (TRITON_INTERPRET=1) and on CUDA directly.
Prints the largest differences and exits non-zero when they exceed the tolerance of the dtype.
"""
import sys

import torch

from perception.ops.bev_pool import bev_pool, compute_bev_pool_geometry
from perception.ops.grid import BEVGrid

TOLERANCE = {torch.float32: 1e-4, torch.bfloat16: 2e-2, torch.float16: 2e-3}


GRIDS = {"1 m cells, runs of about 8 points": 1.0, "4 m cells, runs of hundreds of points": 4.0}
"""Runs shorter than a segmented block (many runs per block, cut at block edges) and runs spanning several blocks."""


def max_differences(device: str, dtype: torch.dtype, implementation: str, cell: float, shape=(2, 3, 7, 4, 6),
                    channels: int = 40) -> list[float]:
    """Relative max |triton − torch| of the output and both gradients."""
    generator = torch.Generator().manual_seed(0)
    grid = BEVGrid((-4.0, 4.0), (-4.0, 4.0), (-2.0, 2.0), cell)
    xyz = torch.rand(*shape, 3, generator=generator) * torch.tensor([10.0, 10.0, 5.0]) - torch.tensor([5.0, 5, 2.5])
    geometry = compute_bev_pool_geometry(xyz.to(device), grid)
    batch, cameras, _, height, width = shape
    depth = torch.rand(*shape, generator=generator).to(device, dtype).requires_grad_()
    context = torch.randn(batch, cameras, channels, height, width, generator=generator).to(device, dtype)
    context.requires_grad_()
    weight = torch.randn(batch, channels, grid.ny, grid.nx, generator=generator).to(device)
    results = []
    for name in ("torch", implementation):
        out = bev_pool(depth, context, geometry, implementation=name)
        grads = torch.autograd.grad((out.float() * weight).sum(), [depth, context])
        results.append([out.float(), *(g.float() for g in grads)])
    return [((a - b).abs().max() / b.abs().max().clamp_min(1e-6)).item() for a, b in zip(*results)]


if __name__ == "__main__":
    device = sys.argv[1]
    failed = False
    for implementation in ("triton", "triton_intervals"):
        for grid_name, cell in GRIDS.items():
            for dtype in (torch.float32, torch.bfloat16, torch.float16):
                differences = max_differences(device, dtype, implementation, cell)
                print(implementation, grid_name, dtype, " ".join(f"{d:.2e}" for d in differences))
                failed |= any(d > TOLERANCE[dtype] for d in differences)
    sys.exit(1 if failed else 0)
