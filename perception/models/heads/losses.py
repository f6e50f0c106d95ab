"""CenterPoint losses: gaussian focal loss on heatmaps, weighted L1 on regression at object centres."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from perception.models.heads.centerpoint import HeadOutput
from perception.models.heads.direction import pooled_direction
from perception.models.heads.targets import HeadTargets


def gaussian_focal_loss(logits: torch.Tensor, target: torch.Tensor, alpha: float = 2.0, beta: float = 4.0):
    """CenterNet focal loss (B, K, ny, nx) → scalar, normalised by the number of centres."""
    prob = logits.float().sigmoid().clamp(1e-4, 1 - 1e-4)
    positive = target.eq(1).float()
    pos_loss = -(1 - prob).pow(alpha) * prob.log() * positive
    neg_loss = -(1 - target).pow(beta) * prob.pow(alpha) * (1 - prob).log() * (1 - positive)
    return (pos_loss.sum() + neg_loss.sum()) / positive.sum().clamp_min(1)


def regression_l1_loss(regression: torch.Tensor, targets: HeadTargets, code_weights: torch.Tensor,
                       velocity_beta: float = 0.0):
    """Weighted L1 per channel (10,) between predicted (B, 10, ny, nx) at the target cells and the encoded boxes,
    per object; the regression loss is its sum. With ``velocity_beta`` > 0 the velocity channels cost smooth L1
    (quadratic below ``velocity_beta``).

    Why smooth L1 for velocity: most objects stand still, and under L1 each of them pulls the prediction towards 0
    as hard as a moving one pulls away, however small its error; the L1 optimum for a head that cannot yet tell
    moving from still is the median, 0, and the demo weights predicted 0.02 m/s for actors moving at 5 m/s. Under
    smooth L1 a still object's nearly right prediction pulls with the size of its error, so the moving objects'
    large errors drive the features that tell motion."""
    batch, channels = regression.shape[:2]
    flat = regression.float().reshape(batch, channels, -1)
    predicted = torch.gather(flat, 2, targets.cell[:, None, :].expand(-1, channels, -1)).transpose(1, 2)
    weight = targets.weight * code_weights
    error = (predicted - targets.regression).abs()
    if velocity_beta > 0:
        velocity = error[..., 8:]
        smooth = torch.where(velocity < velocity_beta, 0.5 * velocity ** 2 / velocity_beta,
                             velocity - 0.5 * velocity_beta)
        error = torch.cat([error[..., :8], smooth], dim=-1)
    return (error * weight).sum(dim=(0, 1)) / targets.weight[..., 0].sum().clamp_min(1)


def direction_loss(direction: torch.Tensor, targets: HeadTargets) -> torch.Tensor:
    """Binary cross-entropy of the direction logits (B, 1, ny, nx) at the target cells, or pooled along each box
    where the targets carry ``direction_grid``, over the objects whose heading is known, each weighted by
    ``direction_weight`` where the targets carry it."""
    batch = direction.shape[0]
    if targets.direction_grid is not None:
        predicted = pooled_direction(direction, targets.direction_grid)
    else:
        predicted = torch.gather(direction.float().reshape(batch, -1), 1, targets.cell)
    weight = targets.weight[..., 6]
    if targets.direction_weight is not None:
        weight = weight * targets.direction_weight
    loss = F.binary_cross_entropy_with_logits(predicted, targets.direction, reduction="none") * weight
    return loss.sum() / weight.sum().clamp_min(1)


def detection_loss(output: HeadOutput, targets: HeadTargets, code_weights: torch.Tensor, heatmap_weight: float,
                   regression_weight: float, direction_weight: float = 0.0,
                   velocity_beta: float = 0.0) -> dict[str, torch.Tensor]:
    """Heatmap and regression losses, and the direction loss when the head classifies directions; ``total`` is
    their weighted sum. ``velocity``, the velocity share of the regression loss, is reported, not added again."""
    heatmap = gaussian_focal_loss(output.heatmap, targets.heatmap)
    per_channel = regression_l1_loss(output.regression, targets, code_weights, velocity_beta)
    regression = per_channel.sum()
    losses = {"heatmap": heatmap, "regression": regression, "velocity": per_channel[8:].sum(),
              "total": heatmap_weight * heatmap + regression_weight * regression}
    if output.direction is not None:
        losses["direction"] = direction_loss(output.direction, targets)
        losses["total"] = losses["total"] + direction_weight * losses["direction"]
    return losses
