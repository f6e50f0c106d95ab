"""The training configuration: the ``train`` section of a model's YAML file (data, optimisation, augmentation).

It is kept apart from the model's ``DetectorConfig`` so that a shipped checkpoint carries the network only, not a
training dataroot.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from perception.typed_config import load_yaml_config


@dataclass(frozen=True)
class AugmentConfig:
    rotation: tuple[float, float]   # global yaw range, radians
    scale: tuple[float, float]
    flip_x: bool
    flip_y: bool
    image_resize: tuple[float, float]  # image scale jitter around the fit-to-input scale
    image_crop_jitter: float        # fraction of the free margin used for random crop offsets
    modality_dropout: float         # probability of dropping all cameras, and separately all points
    keyframe_only: float = 0.0      # probability of keeping only the keyframe sweep (a rig or a start without history)


@dataclass(frozen=True)
class TrainConfig:
    dataroot: str
    version: str
    train_split: str
    val_split: str
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    schedule: Literal["one_cycle", "cosine"]
    grad_clip: float
    amp: bool
    num_workers: int
    seed: int
    log_every: int
    checkpoint_every: int           # steps between checkpoints (and at every epoch end)
    augment: AugmentConfig
    init_from: str = ""             # weights a new run starts from (``checkpoint.initial_weights``); "" = random
    init_camera_from: str = ""      # weights whose camera branch then replaces it (``checkpoint.branch_weights``)

    def __post_init__(self):
        for key in ("epochs", "batch_size", "log_every", "checkpoint_every"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key}: must be >= 1, got {getattr(self, key)}")
        if self.num_workers < 0:
            raise ValueError(f"num_workers: must be >= 0, got {self.num_workers}")
        if self.lr <= 0:
            raise ValueError(f"lr: must be > 0, got {self.lr}")


def load_train_config(path: str | Path) -> TrainConfig:
    """The ``train`` section of a model YAML file."""
    return load_yaml_config(TrainConfig, path, section="train")
