"""Decode CenterPoint outputs into boxes: heatmap peaks, regression at the peaks, score threshold, circle NMS."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from perception.ops.grid import BEVGrid
from perception.models.heads.centerpoint import HeadOutput
from perception.models.heads.direction import axis_sample_grid, pooled_direction
from perception.ops.nms import circle_nms


@dataclass
class Detections:
    boxes: torch.Tensor   # (K, 9) x, y, z, l, w, h, yaw, vx, vy in the ego frame
    scores: torch.Tensor  # (K,)
    labels: torch.Tensor  # (K,) class index


def box_centres(regression: torch.Tensor, ix: torch.Tensor, iy: torch.Tensor, grid: BEVGrid) -> torch.Tensor:
    """Ego x, y (K, 2) of the boxes regressed (K, 10) at cells (ix, iy)."""
    x = (ix + regression[:, 0]) * grid.cell + grid.x_range[0]
    y = (iy + regression[:, 1]) * grid.cell + grid.y_range[0]
    return torch.stack([x, y], dim=1)


def box_sizes(regression: torch.Tensor) -> torch.Tensor:
    """Length, width, height (K, 3) in metres of the boxes regressed (K, 10) as log sizes (capped at e^5 m)."""
    return regression[:, 3:6].clamp(max=5.0).exp()


def box_direction_logits(direction: torch.Tensor, regression: torch.Tensor, ix: torch.Tensor, iy: torch.Tensor,
                         grid: BEVGrid, points: int = 0) -> torch.Tensor:
    """Direction logits (K,) of the boxes regressed (K, 10) at cells (ix, iy) of one sample's logit map
    ``direction`` (ny, nx): at the cells themselves, or with ``points`` ≥ 2 pooled along each box's length axis
    (regression channels 6, 7 hold the axis as sin 2θ, cos 2θ)."""
    if points == 0:
        return direction[iy, ix].float()
    axis = torch.atan2(regression[:, 6], regression[:, 7]) / 2
    length = box_sizes(regression)[:, 0]
    sample_grid = axis_sample_grid(box_centres(regression, ix, iy, grid), axis, length, grid, points)
    return pooled_direction(direction[None, None], sample_grid[None])[0]


def decode_regression(regression: torch.Tensor, ix: torch.Tensor, iy: torch.Tensor, grid: BEVGrid,
                      velocity_unit: float, direction: torch.Tensor | None = None,
                      heading_from_velocity: float = 0.0) -> torch.Tensor:
    """Boxes (K, 9) from regression vectors (K, 10) at cells (ix, iy); velocity is regressed in ``velocity_unit``.
    With direction logits (K,), channels 6, 7 are the heading axis (sin 2θ, cos 2θ), turned by π where the logit
    says the heading points against it. With ``heading_from_velocity`` > 0, a box faster than that (m/s) whose
    heading points against its velocity is turned by π: road users move forwards, and the sweeps show which way an
    object moves more plainly than its shape shows which end is its front."""
    x, y = box_centres(regression, ix, iy, grid).unbind(1)
    size = box_sizes(regression)
    yaw = torch.atan2(regression[:, 6], regression[:, 7])
    if direction is not None:
        yaw = yaw / 2 + torch.pi * (direction > 0)
    velocity = regression[:, 8:10] * velocity_unit
    if heading_from_velocity > 0:
        against = (velocity[:, 0] * yaw.cos() + velocity[:, 1] * yaw.sin()) < 0
        yaw = yaw + torch.pi * (against & (velocity.norm(dim=1) > heading_from_velocity))
    yaw = torch.atan2(yaw.sin(), yaw.cos())
    return torch.stack([x, y, regression[:, 2], *size.unbind(1), yaw, *velocity.unbind(1)], dim=1)


def decode(output: HeadOutput, grid: BEVGrid, velocity_unit: float, score_threshold: float, pre_nms_top_k: int,
           max_detections: int, nms_radius: torch.Tensor, heading_from_velocity: float = 0.0,
           direction_points: int = 0) -> list[Detections]:
    """Per-sample detections; all ops stay on the device of ``output`` (no host round trips per box). Direction
    logits are read as ``box_direction_logits`` reads them with ``direction_points``."""
    heat = output.heatmap.float().sigmoid()
    # A cell is a candidate only if it is the maximum of its 3×3 neighbourhood in its class (CenterNet peaks).
    peaks = heat * (F.max_pool2d(heat, 3, stride=1, padding=1) == heat)
    batch, num_classes, ny, nx = heat.shape
    scores, flat = peaks.reshape(batch, -1).topk(min(pre_nms_top_k, num_classes * ny * nx), dim=1)
    detections = []
    for b in range(batch):
        keep = scores[b] > score_threshold
        index, score = flat[b][keep], scores[b][keep]
        label, cell = index // (ny * nx), index % (ny * nx)
        iy, ix = cell // nx, cell % nx
        regression = output.regression[b].float().reshape(output.regression.shape[1], -1)[:, cell].T
        # Circle NMS needs only the centres: the rest of each box is decoded for the survivors alone.
        centres = box_centres(regression, ix, iy, grid)
        kept = circle_nms(centres, score, label, nms_radius.to(centres.device))[:max_detections]
        regression, ix, iy = regression[kept], ix[kept], iy[kept]
        direction = None if output.direction is None else \
            box_direction_logits(output.direction[b, 0], regression, ix, iy, grid, direction_points)
        boxes = decode_regression(regression, ix, iy, grid, velocity_unit, direction, heading_from_velocity)
        detections.append(Detections(boxes, score[kept], label[kept]))
    return detections
