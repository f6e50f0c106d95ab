"""Training targets for the CenterPoint head: gaussian centre heatmaps and regression at centre cells."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from perception.ops.grid import BEVGrid
from perception.models.heads.centerpoint import REGRESSION_CHANNELS
from perception.models.heads.direction import axis_sample_grid


@dataclass
class HeadTargets:
    heatmap: torch.Tensor     # (B, K, ny, nx) in [0, 1], exactly 1 at object centres
    cell: torch.Tensor        # (B, M) flat index y * nx + x of each object's centre cell
    regression: torch.Tensor  # (B, M, 10) encoded as the head predicts it
    weight: torch.Tensor      # (B, M, 10) 0 for padding and for unknown (NaN) velocities
    direction: torch.Tensor | None = None  # (B, M) 1 where the heading points against its axis (cos θ < 0)
    direction_grid: torch.Tensor | None = None  # (B, M, P, 2) where the direction logit is pooled (heads.direction)
    direction_weight: torch.Tensor | None = None  # (B, M) each object's share of the direction loss (class balance)


def gaussian_radius(length_cells: float, width_cells: float, min_overlap: float) -> float:
    """CenterNet's radius: the largest centre shift keeping IoU ≥ ``min_overlap`` with the true box."""
    h, w = length_cells, width_cells
    b1, c1 = h + w, w * h * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + math.sqrt(b1 ** 2 - 4 * c1)) / 2
    b2, c2 = 2 * (h + w), (1 - min_overlap) * w * h
    r2 = (b2 + math.sqrt(b2 ** 2 - 16 * c2)) / 2
    a3, b3, c3 = 4 * min_overlap, -2 * min_overlap * (h + w), (min_overlap - 1) * w * h
    r3 = (b3 + math.sqrt(b3 ** 2 - 4 * a3 * c3)) / 2
    return min(r1, r2, r3)


def draw_gaussian(heatmap: torch.Tensor, cx: int, cy: int, radius: int) -> None:
    """Max-blend a gaussian of ``radius`` cells centred at (cx, cy) into heatmap (ny, nx)."""
    sigma = (2 * radius + 1) / 6
    ys = torch.arange(-radius, radius + 1, dtype=heatmap.dtype, device=heatmap.device)
    kernel = torch.exp(-(ys[:, None] ** 2 + ys[None, :] ** 2) / (2 * sigma ** 2))
    ny, nx = heatmap.shape
    x0, x1, y0, y1 = max(cx - radius, 0), min(cx + radius + 1, nx), max(cy - radius, 0), min(cy + radius + 1, ny)
    patch = kernel[y0 - cy + radius:y1 - cy + radius, x0 - cx + radius:x1 - cx + radius]
    torch.maximum(heatmap[y0:y1, x0:x1], patch, out=heatmap[y0:y1, x0:x1])


def encode_boxes(boxes: torch.Tensor, grid: BEVGrid, velocity_unit: float,
                 axis_only: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Cell (ix, iy) (M, 2) long, inside (M,) bool and regression (M, 10) of boxes (M, 9) on ``grid``; velocity is
    encoded in units of ``velocity_unit`` m/s, the heading θ as (sin θ, cos θ), or with ``axis_only`` as the axis
    (sin 2θ, cos 2θ) that a direction classifier completes."""
    fx = (boxes[:, 0] - grid.x_range[0]) / grid.cell
    fy = (boxes[:, 1] - grid.y_range[0]) / grid.cell
    ix, iy = fx.floor(), fy.floor()
    inside = (ix >= 0) & (ix < grid.nx) & (iy >= 0) & (iy < grid.ny)
    angle = 2 * boxes[:, 6] if axis_only else boxes[:, 6]
    regression = torch.stack([fx - ix, fy - iy, boxes[:, 2], *boxes[:, 3:6].clamp_min(1e-3).log().unbind(1),
                              angle.sin(), angle.cos(), *(boxes[:, 7:9] / velocity_unit).unbind(1)], dim=1)
    return torch.stack([ix, iy], dim=1).long(), inside, regression


def build_targets(boxes: list[torch.Tensor], labels: list[torch.Tensor], grid: BEVGrid, num_classes: int,
                  min_overlap: float, min_radius: int, velocity_unit: float,
                  direction_classifier: bool = False, direction_points: int = 0,
                  direction_class_balance: float = 0.0) -> HeadTargets:
    """Targets for a batch: boxes[b] (M_b, 9) in the (augmented) ego frame, labels[b] (M_b,) class indices; with
    ``direction_classifier`` the heading is encoded as its axis plus a direction target, read at the centre cell or,
    with ``direction_points`` ≥ 2, pooled along the box's length axis. With ``direction_class_balance`` p > 0 each
    object's direction term is weighted by n^-p, n the number of objects of its class in the batch."""
    ny, nx = grid.shape
    device = boxes[0].device if boxes else torch.device("cpu")
    batch, most = len(boxes), max([1, *(len(b) for b in boxes)])
    heatmap = torch.zeros(batch, num_classes, ny, nx, device=device)
    cell = torch.zeros(batch, most, dtype=torch.long, device=device)
    regression = torch.zeros(batch, most, REGRESSION_CHANNELS, device=device)
    weight = torch.zeros(batch, most, REGRESSION_CHANNELS, device=device)
    direction = torch.zeros(batch, most, device=device) if direction_classifier else None
    pooled = direction_classifier and direction_points > 0
    direction_grid = torch.zeros(batch, most, direction_points, 2, device=device) if pooled else None
    for b, (sample_boxes, sample_labels) in enumerate(zip(boxes, labels)):
        cells, inside, encoded = encode_boxes(sample_boxes.float(), grid, velocity_unit, direction_classifier)
        if direction is not None:
            direction[b, :len(sample_boxes)] = (sample_boxes[:, 6].float().cos() < 0).float()
        if direction_grid is not None:
            direction_grid[b, :len(sample_boxes)] = axis_sample_grid(
                sample_boxes[:, :2].float(), sample_boxes[:, 6].float(), sample_boxes[:, 3].float(), grid,
                direction_points)
        for m in torch.nonzero(inside).flatten().tolist():
            ix, iy = cells[m].tolist()
            length, width = (sample_boxes[m, 3:5] / grid.cell).tolist()
            radius = max(min_radius, int(gaussian_radius(length, width, min_overlap)))
            draw_gaussian(heatmap[b, int(sample_labels[m])], ix, iy, radius)
            cell[b, m] = iy * nx + ix
            known = torch.isfinite(encoded[m])
            regression[b, m] = torch.where(known, encoded[m], torch.zeros_like(encoded[m]))
            weight[b, m] = known.float()
    direction_weight = None
    if direction is not None and direction_class_balance > 0:
        direction_weight = class_balance_weights(labels, most, num_classes, direction_class_balance).to(device)
    return HeadTargets(heatmap, cell, regression, weight, direction, direction_grid, direction_weight)


def class_balance_weights(labels: list[torch.Tensor], most: int, num_classes: int, power: float) -> torch.Tensor:
    """(B, most) weight n_c^-power of each object, n_c the batch's count of its class; 0 for padding. Why: a rare
    class's few objects (a bus among forty cars) otherwise hardly move a loss averaged over objects."""
    counts = torch.bincount(torch.cat([*labels, torch.zeros(0, dtype=torch.long)]).cpu().long(),
                            minlength=num_classes).float()
    weights = torch.zeros(len(labels), most)
    for b, sample_labels in enumerate(labels):
        weights[b, :len(sample_labels)] = counts[sample_labels.cpu().long()].pow(-power)
    return weights
