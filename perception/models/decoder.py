"""BEV decoder: SECOND-style blocks at increasing strides and an FPN that brings them back to stride 1."""
from __future__ import annotations

import torch
from torch import nn

from perception.models.config import DecoderConfig


def conv_block(in_channels: int, out_channels: int, stride: int, layers: int) -> nn.Sequential:
    modules = [nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
               nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True)]
    for _ in range(layers):
        modules += [nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
                    nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True)]
    return nn.Sequential(*modules)


class SECONDDecoder(nn.Module):
    """fused (B, fuser_channels, ny, nx) → (B, len(blocks) × upsample_channels, ny, nx)."""

    def __init__(self, config: DecoderConfig):
        super().__init__()
        if not len(config.block_layers) == len(config.block_channels) == len(config.block_strides):
            raise ValueError("decoder block_layers, block_channels and block_strides need the same length")
        self.blocks, self.upsample = nn.ModuleList(), nn.ModuleList()
        in_channels, total_stride = config.fuser_channels, 1
        for layers, channels, stride in zip(config.block_layers, config.block_channels, config.block_strides):
            self.blocks.append(conv_block(in_channels, channels, stride, layers))
            total_stride *= stride
            self.upsample.append(nn.Sequential(
                nn.ConvTranspose2d(channels, config.upsample_channels, total_stride, stride=total_stride, bias=False),
                nn.BatchNorm2d(config.upsample_channels), nn.ReLU(inplace=True)))
            in_channels = channels
        self.out_channels = config.upsample_channels * len(self.blocks)

    def forward(self, bev: torch.Tensor) -> torch.Tensor:
        outputs = []
        for block, upsample in zip(self.blocks, self.upsample):
            bev = block(bev)
            outputs.append(upsample(bev))
        return torch.cat(outputs, dim=1)
