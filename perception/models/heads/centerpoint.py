"""CenterPoint head: per-class centre heatmaps and per-cell box regression on the decoder's BEV map."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

REGRESSION_CHANNELS = 10
"""offset x, offset y (within the cell, 0..1), z, log l, log w, log h, sin yaw, cos yaw, vx, vy."""


@dataclass
class HeadOutput:
    heatmap: torch.Tensor     # (B, K, ny, nx) logits
    regression: torch.Tensor  # (B, 10, ny, nx)
    direction: torch.Tensor | None = None  # (B, 1, ny, nx) logit of "heading opposite to its axis", or None


def conv_bn_relu(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


class CenterPointHead(nn.Module):
    """bev (B, C, ny, nx) → HeadOutput; with ``direction_classifier`` also the heading direction logit, whose
    regression channels 6, 7 then hold sin 2θ, cos 2θ (the box axis, which looks the same from both ends)."""

    def __init__(self, in_channels: int, channels: int, num_classes: int, direction_classifier: bool = False):
        super().__init__()
        self.shared = conv_bn_relu(in_channels, channels)
        self.heatmap = nn.Sequential(conv_bn_relu(channels, channels), nn.Conv2d(channels, num_classes, 1))
        self.regression = nn.Sequential(conv_bn_relu(channels, channels), nn.Conv2d(channels, REGRESSION_CHANNELS, 1))
        self.direction = nn.Conv2d(channels, 1, 1) if direction_classifier else None
        # Start from a 0.1 prior for centres so the focal loss is not swamped by easy negatives (CenterNet).
        nn.init.constant_(self.heatmap[-1].bias, -2.19)

    def forward(self, bev: torch.Tensor) -> HeadOutput:
        shared = self.shared(bev)
        direction = self.direction(shared) if self.direction is not None else None
        return HeadOutput(self.heatmap(shared), self.regression(shared), direction)
