"""ConvFuser: concatenate the camera and lidar BEV maps, then conv + BN + ReLU (BEVFusion)."""
from __future__ import annotations

import itertools

import torch
from torch import nn


class ConvFuser(nn.Module):
    """Maps {branch: (B, C_branch, ny, nx) or None} → (B, out_channels, ny, nx).

    A missing branch (sensor dropout, no cameras, an empty sweep) contributes zeros, which is also what training
    with modality dropout shows the fuser, so the other branch alone still yields boxes.
    """

    WEIGHT = "fuse.0.weight"  # the conv whose input channels are the concatenated branches

    def __init__(self, in_channels: dict[str, int], out_channels: int):
        super().__init__()
        self.in_channels = in_channels
        self.fuse = nn.Sequential(nn.Conv2d(sum(in_channels.values()), out_channels, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))

    def forward(self, features: dict[str, torch.Tensor | None], batch_size: int, shape: tuple[int, int]) -> torch.Tensor:
        """With no branch present at all (no usable sensor), the all-zero input still yields a (box-free) map."""
        device = next(self.parameters()).device
        maps = [features.get(name) if features.get(name) is not None
                else torch.zeros(batch_size, channels, *shape, device=device)
                for name, channels in self.in_channels.items()]
        return self.fuse(torch.cat(maps, dim=1))


def rearrange_branches(weight: torch.Tensor, source: dict[str, int], target: dict[str, int]) -> torch.Tensor:
    """The fuse conv's weight (out, sum(source), k, k) of a fuser over the branches ``source`` laid out for the
    branches ``target`` (same channels per shared branch): a shared branch keeps its input columns, a branch only
    ``target`` has starts at zero (it first changes nothing), a branch only ``source`` has is left out."""
    offsets = dict(zip(source, itertools.accumulate([0, *source.values()])))
    out = weight.new_zeros(weight.shape[0], sum(target.values()), *weight.shape[2:])
    for (name, channels), start in zip(target.items(), itertools.accumulate([0, *target.values()])):
        if name in source:
            out[:, start:start + channels] = weight[:, offsets[name]:offsets[name] + channels]
    return out
