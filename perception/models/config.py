"""The detector's typed configuration: one YAML file per model, every value visible in it."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from perception.ops.grid import BEVGrid
from perception.typed_config import load_yaml_config


@dataclass(frozen=True)
class CameraConfig:
    """Camera branch: ResNet + FPN at stride 8, depth distribution × context, lifted and pooled to BEV."""

    enabled: bool
    backbone: Literal["resnet18", "resnet34", "resnet50"]
    backbone_stages: int            # ResNet stages feeding the FPN: 2 (C3 only) .. 4 (C3-C5)
    image_size: tuple[int, int]     # network input (height, width) after resize and crop
    fpn_channels: int
    depth_bins: tuple[float, float, float]  # start, stop (exclusive), step in metres
    depth_loss_weight: float        # lidar depth supervision of the depth distribution in training (0: none)
    context_channels: int
    grid: BEVGrid                # the camera BEV grid
    bev_channels: int               # channels after the camera BEV downsampling block

    def __post_init__(self):
        if min(self.image_size) <= 0:
            raise ValueError(f"image_size: (height, width) must both be > 0, got {self.image_size}")
        start, stop, step = self.depth_bins
        if step <= 0:
            raise ValueError(f"depth_bins: step must be > 0, got {step}")
        if start < 0 or stop <= start:
            raise ValueError(f"depth_bins: (start, stop, step) needs 0 <= start < stop, got {self.depth_bins}")


@dataclass(frozen=True)
class LidarConfig:
    """Lidar branch: dynamic voxelization, a pillar feature net or a sparse 3D CNN, to BEV."""

    enabled: bool
    num_sweeps: int                 # past sweeps accumulated with the keyframe
    encoder: Literal["pillars", "sparse"]  # sparse: spconv 3D CNN, an optional extra
    grid: BEVGrid                # the pillar grid (the x-y cells of sparse voxels)
    pillar_channels: tuple[int, ...]  # pillars: per-point MLP widths
    voxel_z: float                  # sparse: voxel height in metres
    sparse_channels: tuple[int, ...]  # sparse: stage widths; the height layers halve between stages
    bev_channels: int
    ego_box: tuple[float, ...]      # returns of the ego vehicle dropped: x, y, z min then max (ego frame); [] keeps all
    normalize_points: bool = False  # pillars: point features scaled before the MLP (see ops.pillar_encoder)
    sweep_occupancy: bool = False   # pillars: per-cell point counts of each sweep age beside the MLP's features

    def __post_init__(self):
        if self.num_sweeps < 0:
            raise ValueError(f"num_sweeps: must be >= 0, got {self.num_sweeps}")
        if self.ego_box and (len(self.ego_box) != 6 or any(lo >= hi for lo, hi in
                                                           zip(self.ego_box[:3], self.ego_box[3:]))):
            raise ValueError(f"ego_box: expected [] or [x_min, y_min, z_min, x_max, y_max, z_max] with each min < max, "
                             f"got {list(self.ego_box)}")
        if self.voxel_z <= 0:
            raise ValueError(f"voxel_z: must be > 0, got {self.voxel_z}")
        if self.sweep_occupancy and self.encoder != "pillars":
            raise ValueError(f"sweep_occupancy: the {self.encoder} encoder has no occupancy channels; use pillars")


@dataclass(frozen=True)
class DecoderConfig:
    """SECOND-style BEV backbone (blocks at increasing strides) and FPN back to stride 1 of the fused grid."""

    fuser_channels: int
    block_layers: tuple[int, ...]
    block_channels: tuple[int, ...]
    block_strides: tuple[int, ...]
    upsample_channels: int


@dataclass(frozen=True)
class HeadConfig:
    """CenterPoint head: class heatmaps and box regression at every cell of the decoder output."""

    channels: int
    gaussian_overlap: float
    min_radius: int
    heatmap_weight: float
    regression_weight: float
    regression_code_weights: tuple[float, ...]  # offset x2, z, log size x3, sin, cos, velocity x2
    velocity_unit: float            # m/s per unit of regressed velocity: targets of order 1, like the other channels
    score_threshold: float
    max_detections: int
    pre_nms_top_k: int
    nms_radius: tuple[float, ...]   # circle-NMS radius per class in metres (0 disables)
    direction_classifier: bool = False  # regress the heading axis (sin 2θ, cos 2θ), classify its sign (SECOND)
    direction_weight: float = 0.2   # weight of the direction classifier's cross-entropy
    direction_points: int = 0       # ≥ 2: direction logit averaged at this many points along the box (0: centre cell)
    direction_class_balance: float = 0.0  # p: an object's direction loss weighs n^-p, n its class's count in the batch
    heading_from_velocity: float = 0.0  # m/s: a box predicted faster than this faces where it moves (0: off)
    velocity_beta: float = 0.0      # velocity errors below this (velocity units) cost quadratically (smooth L1); 0: L1

    def __post_init__(self):
        if self.direction_points == 1 or self.direction_points < 0:
            raise ValueError(f"direction_points: 0 (the centre cell) or at least 2, got {self.direction_points}")
        if self.direction_points and not self.direction_classifier:
            raise ValueError("direction_points: pools the direction classifier's logit; set direction_classifier")
        if not 0 <= self.direction_class_balance <= 1:
            raise ValueError(f"direction_class_balance: 0 (plain mean) to 1 (every class alike), got "
                             f"{self.direction_class_balance}")
        if self.direction_class_balance and not self.direction_classifier:
            raise ValueError("direction_class_balance: weighs the direction classifier's loss; set direction_classifier")


@dataclass(frozen=True)
class DetectorConfig:
    classes: tuple[str, ...]
    bev: BEVGrid                 # the fused grid the decoder and head work on
    camera: CameraConfig
    lidar: LidarConfig
    decoder: DecoderConfig
    head: HeadConfig

    def __post_init__(self):
        if len(self.head.nms_radius) != len(self.classes):
            raise ValueError(f"head.nms_radius needs one value per class ({len(self.classes)})")
        if not (self.camera.enabled or self.lidar.enabled):
            raise ValueError("camera.enabled and lidar.enabled are both false: enable at least one")


def load_config(path: str | Path) -> DetectorConfig:
    """The model part of a config file: every top-level section except ``train`` (see ``perception.train.config``),
    which a detector does not need and a shipped checkpoint does not carry."""
    return load_yaml_config(DetectorConfig, path, section=None, ignore=("train",))
