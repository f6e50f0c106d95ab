"""Image backbone: a torchvision ResNet with an FPN neck that returns one feature map at stride 8."""
from __future__ import annotations

from collections import OrderedDict

import torch
import torchvision
from torch import nn
from torchvision.ops import FeaturePyramidNetwork

STAGE_CHANNELS = {"resnet18": (64, 128, 256, 512), "resnet34": (64, 128, 256, 512),
                  "resnet50": (256, 512, 1024, 2048)}


class ResNetFPN(nn.Module):
    """images (B, 3, H, W) normalised → features (B, out_channels, H/8, W/8).

    ``stages`` ResNet stages feed the FPN (2: C3 only, at stride 8; 4: C3-C5, strides 8-32); the FPN merges C3.. top-down
    and the stride-8 level is returned. Weights start random: no download happens at run time.
    """

    def __init__(self, name: str, stages: int, out_channels: int):
        super().__init__()
        if not 2 <= stages <= 4:  # the stem and layer1 always run; stage k is ResNet layer k
            raise ValueError(f"backbone_stages must be 2, 3 or 4, got {stages}")
        resnet = getattr(torchvision.models, name)(weights=None)
        self.stem = nn.Sequential(resnet.conv1, resnet.bn1, resnet.relu, resnet.maxpool, resnet.layer1)
        self.stages = nn.ModuleList([getattr(resnet, f"layer{i}") for i in range(2, stages + 1)])
        self.fpn = FeaturePyramidNetwork(list(STAGE_CHANNELS[name][1:stages]), out_channels)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.stem(images)
        levels = OrderedDict()
        for i, stage in enumerate(self.stages):
            x = stage(x)
            levels[f"c{i + 3}"] = x
        return self.fpn(levels)["c3"]
