"""Which end of a box is its front: the direction logit pooled along the box's length axis.

Read at the centre cell alone, the direction logit of a 12 m bus or trailer has to come from features 6 m from
either end, where the cues are (a windscreen, landing legs, rear lights and plates). Averaging the logit over points
spread along the length lets the cells near the ends speak; trained and decoded through the same pooling, the
network learns where along the object to put its evidence. A pedestrian's points all fall within a cell or two, so
small objects read as before.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from perception.ops.grid import BEVGrid

AXIS_REACH = 0.4
"""Points span ±0.4 lengths from the centre: on the object even with its length a little off, near its ends."""


def axis_sample_grid(centre: torch.Tensor, axis: torch.Tensor, length: torch.Tensor, grid: BEVGrid,
                     points: int) -> torch.Tensor:
    """``grid_sample`` coordinates (K, points, 2) in [-1, 1] of ``points`` points evenly spread along each box's
    length axis: centre (K, 2) ego x, y in metres, axis (K,) yaw of the axis (either end), length (K,) metres."""
    reach = torch.linspace(-AXIS_REACH, AXIS_REACH, points, device=centre.device, dtype=centre.dtype)
    along = reach[None, :] * length[:, None]
    x = centre[:, :1] + along * axis.cos()[:, None]
    y = centre[:, 1:] + along * axis.sin()[:, None]
    # align_corners=False: -1 and 1 are the outer edges of the first and last cells, as the metre ranges are.
    u = 2 * (x - grid.x_range[0]) / (grid.x_range[1] - grid.x_range[0]) - 1
    v = 2 * (y - grid.y_range[0]) / (grid.y_range[1] - grid.y_range[0]) - 1
    return torch.stack([u, v], dim=-1)


def pooled_direction(direction: torch.Tensor, sample_grid: torch.Tensor) -> torch.Tensor:
    """Mean direction logit (B, K) of maps ``direction`` (B, 1, ny, nx) at the points ``sample_grid`` (B, K, P, 2)
    of ``axis_sample_grid``, bilinearly interpolated."""
    sampled = F.grid_sample(direction.float(), sample_grid.float(), mode="bilinear", padding_mode="border",
                            align_corners=False)
    return sampled[:, 0].mean(dim=-1)
