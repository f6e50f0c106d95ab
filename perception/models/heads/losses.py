"""CenterPoint losses: gaussian focal loss on heatmaps, weighted L1 on regression at object centres."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from perception.models.heads.centerpoint import HeadOutput
from perception.models.heads.targets import HeadTargets


def gaussian_focal_loss(logits: torch.Tensor, target: torch.Tensor, alpha: float = 2.0, beta: float = 4.0):
    """CenterNet focal loss (B, K, ny, nx) → scalar, normalised by the number of centres."""
    prob = logits.float().sigmoid().clamp(1e-4, 1 - 1e-4)
    positive = target.eq(1).float()
    pos_loss = -(1 - prob).pow(alpha) * prob.log() * positive
    neg_loss = -(1 - target).pow(beta) * prob.pow(alpha) * (1 - prob).log() * (1 - positive)
    return (pos_loss.sum() + neg_loss.sum()) / positive.sum().clamp_min(1)


def regression_l1_loss(regression: torch.Tensor, targets: HeadTargets, code_weights: torch.Tensor):
    """L1 between predicted (B, 10, ny, nx) at the target cells and the encoded boxes, per valid component."""
    batch, channels = regression.shape[:2]
    flat = regression.float().reshape(batch, channels, -1)
    predicted = torch.gather(flat, 2, targets.cell[:, None, :].expand(-1, channels, -1)).transpose(1, 2)
    weight = targets.weight * code_weights
    loss = (predicted - targets.regression).abs() * weight
    return loss.sum() / targets.weight[..., 0].sum().clamp_min(1)


def direction_loss(direction: torch.Tensor, targets: HeadTargets) -> torch.Tensor:
    """Binary cross-entropy of the direction logits (B, 1, ny, nx) at the target cells, over the objects whose
    heading is known."""
    batch = direction.shape[0]
    predicted = torch.gather(direction.float().reshape(batch, -1), 1, targets.cell)
    weight = targets.weight[..., 6]
    loss = F.binary_cross_entropy_with_logits(predicted, targets.direction, reduction="none") * weight
    return loss.sum() / weight.sum().clamp_min(1)


def detection_loss(output: HeadOutput, targets: HeadTargets, code_weights: torch.Tensor, heatmap_weight: float,
                   regression_weight: float, direction_weight: float = 0.0) -> dict[str, torch.Tensor]:
    """Heatmap and regression losses, and the direction loss when the head classifies directions; ``total`` is
    their weighted sum."""
    heatmap = gaussian_focal_loss(output.heatmap, targets.heatmap)
    regression = regression_l1_loss(output.regression, targets, code_weights)
    losses = {"heatmap": heatmap, "regression": regression,
              "total": heatmap_weight * heatmap + regression_weight * regression}
    if output.direction is not None:
        losses["direction"] = direction_loss(output.direction, targets)
        losses["total"] = losses["total"] + direction_weight * losses["direction"]
    return losses
