"""Training data: frames of a split as augmented samples, in a deterministic order that resumes mid-epoch."""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from perception.data.classes import CLASS_INDEX
from perception.data.nuscenes import NuScenesDataset
from perception.models.config import DetectorConfig
from perception.train.augment import TrainingSample, training_sample
from perception.train.config import AugmentConfig


class FrameDataset(Dataset):
    """Keyframes of ``split`` as ``TrainingSample``s, augmented when ``augment`` is given; its draws come from
    (seed, epoch, index) only, so any worker count and any resume point give the same samples."""

    def __init__(self, config: DetectorConfig, dataroot: str, version: str | None, split: str,
                 augment: AugmentConfig | None, seed: int):
        self.config, self.augment, self.seed = config, augment, seed
        self.dataset = NuScenesDataset(dataroot, version, num_sweeps=config.lidar.num_sweeps)
        self.tokens = self.dataset.all_sample_tokens(split)
        self.camera_names = self.dataset.camera_channels(self.tokens[0]) if self.tokens else []
        self.class_index = {CLASS_INDEX[name]: i for i, name in enumerate(config.classes)}
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.tokens)

    def __getitem__(self, index: int) -> TrainingSample:
        rng = np.random.default_rng([self.seed, self.epoch, index])
        frame = self.dataset.frame(self.tokens[index], load_images=self.config.camera.enabled)
        return training_sample(frame, self.camera_names if self.config.camera.enabled else [],
                               self.config.camera.image_size, self.class_index,
                               self.augment, rng,
                               use_points=self.config.lidar.enabled or self.config.camera.depth_loss_weight > 0,
                               ego_box=self.config.lidar.ego_box)


class EpochSampler(Sampler[int]):
    """A seeded permutation per epoch, split across ranks, starting ``skip`` indices in (for a resume)."""

    def __init__(self, size: int, seed: int, rank: int = 0, world_size: int = 1):
        self.size, self.seed, self.rank, self.world_size = size, seed, rank, world_size
        self.epoch, self.skip = 0, 0

    def set_position(self, epoch: int, skip: int = 0) -> None:
        self.epoch, self.skip = epoch, skip

    def indices(self) -> list[int]:
        order = torch.randperm(self.size, generator=torch.Generator().manual_seed(self.seed + self.epoch)).tolist()
        per_rank = self.size // self.world_size  # equal shares keep ranks in step under DDP
        return order[self.rank * per_rank:(self.rank + 1) * per_rank]

    def __iter__(self):
        return iter(self.indices()[self.skip:])

    def __len__(self) -> int:
        return self.size // self.world_size - self.skip
