"""The fusion detector: encoders → fuser → decoder → head. Composition only; each part lives in its module."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from perception.models.camera.depth_supervision import depth_loss
from perception.models.camera.encoder import CameraBEVEncoder
from perception.models.config import DetectorConfig
from perception.models.decoder import SECONDDecoder
from perception.models.fuser import ConvFuser
from perception.models.heads.centerpoint import CenterPointHead, HeadOutput
from perception.models.heads.decode import Detections, decode
from perception.models.heads.losses import detection_loss
from perception.models.heads.targets import build_targets
from perception.models.inputs import DetectorInput
from perception.models.lidar.encoder import LidarBEVEncoder
from perception.ops.grid import BEVGrid


@dataclass
class DetectorOutput(HeadOutput):
    """The head's maps and, when the camera branch ran, its depth logits (B, N, D, h, w) for depth supervision."""

    depth_logits: torch.Tensor | None = None


def to_fused_grid(in_channels: int, out_channels: int, branch: BEVGrid, fused: BEVGrid) -> nn.Sequential:
    """Conv block taking a branch's BEV map onto the fused grid (same extent, cell an integer multiple)."""
    stride = round(fused.cell / branch.cell)
    if abs(stride * branch.cell - fused.cell) > 1e-6 or branch.shape != (fused.ny * stride, fused.nx * stride):
        raise ValueError(f"branch grid {branch} must cover the fused grid {fused} with an integer cell ratio")
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


def fuser_branches(config: DetectorConfig) -> dict[str, int]:
    """BEV channels of each enabled branch, in the order the fuser concatenates them."""
    branches = {}
    if config.camera.enabled:
        branches["camera"] = config.camera.bev_channels
    if config.lidar.enabled:
        branches["lidar"] = config.lidar.bev_channels
    return branches


def branch_modules(branch: str) -> tuple[str, str]:
    """The names of a branch's modules in ``FusionDetector``: its encoder and its conv onto the fused grid."""
    return branch, f"{branch}_to_bev"


class FusionDetector(nn.Module):
    """Camera + lidar BEV fusion with a CenterPoint head. Either branch may be disabled or absent at inference."""

    def __init__(self, config: DetectorConfig):
        super().__init__()
        self.config = config
        if config.camera.enabled:
            self.camera = CameraBEVEncoder(config.camera)
            self.camera_to_bev = to_fused_grid(config.camera.context_channels, config.camera.bev_channels,
                                               config.camera.grid, config.bev)
        if config.lidar.enabled:
            self.lidar = LidarBEVEncoder(config.lidar)
            self.lidar_to_bev = to_fused_grid(self.lidar.out_channels, config.lidar.bev_channels,
                                              config.lidar.grid, config.bev)
        self.fuser = ConvFuser(fuser_branches(config), config.decoder.fuser_channels)
        self.decoder = SECONDDecoder(config.decoder)
        self.head = CenterPointHead(self.decoder.out_channels, config.head.channels, len(config.classes),
                                    config.head.direction_classifier)
        self.register_buffer("code_weights", torch.tensor(config.head.regression_code_weights), persistent=False)
        self.register_buffer("nms_radius", torch.tensor(config.head.nms_radius), persistent=False)

    def branch_features(self, batch: DetectorInput) -> tuple[dict[str, torch.Tensor | None], torch.Tensor | None]:
        """BEV maps on the fused grid of the branches that have input (None for an absent sensor), and the camera
        branch's depth logits (B, N, D, h, w) when it ran."""
        features, depth_logits = {}, None
        if self.config.camera.enabled:
            features["camera"] = None
            if batch.has_cameras:
                camera_bev, depth_logits = self.camera(batch)
                features["camera"] = self.camera_to_bev(camera_bev)
        if self.config.lidar.enabled:
            features["lidar"] = self.lidar_to_bev(self.lidar(batch)) if len(batch.points) else None
        return features, depth_logits

    def forward(self, batch: DetectorInput) -> DetectorOutput:
        features, depth_logits = self.branch_features(batch)
        head = self.head(self.decoder(self.fuser(features, batch.batch_size, self.config.bev.shape)))
        return DetectorOutput(head.heatmap, head.regression, head.direction, depth_logits)

    def loss(self, output: DetectorOutput, batch: DetectorInput, boxes: list[torch.Tensor],
             labels: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        """Detection losses and, when the config supervises depth, the lidar depth loss of the camera branch (0 for
        a batch without cameras or points: the keys depend on the config only, as DDP's loss averaging needs);
        ``total`` is their weighted sum."""
        head = self.config.head
        targets = build_targets(boxes, labels, self.config.bev, len(self.config.classes), head.gaussian_overlap,
                                head.min_radius, head.velocity_unit, head.direction_classifier,
                                head.direction_points, head.direction_class_balance)
        losses = detection_loss(output, targets, self.code_weights, head.heatmap_weight, head.regression_weight,
                                head.direction_weight, head.velocity_beta)
        weight = self.config.camera.depth_loss_weight
        if self.config.camera.enabled and weight > 0:
            supervised = output.depth_logits is not None and len(batch.points) > 0
            losses["depth"] = depth_loss(output.depth_logits, self.camera.depth_targets(batch)) if supervised \
                else losses["total"].new_zeros(())
            losses["total"] = losses["total"] + weight * losses["depth"]
        return losses

    @torch.no_grad()
    def predict(self, batch: DetectorInput) -> list[Detections]:
        return self.decode(self(batch))

    def decode(self, output: HeadOutput) -> list[Detections]:
        """Boxes of the head's maps: peaks above the score threshold, top-k, circle NMS (see ``heads.decode``)."""
        head = self.config.head
        return decode(output, self.config.bev, head.velocity_unit, head.score_threshold, head.pre_nms_top_k,
                      head.max_detections, self.nms_radius, head.heading_from_velocity, head.direction_points)
