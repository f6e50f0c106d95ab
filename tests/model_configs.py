"""Tiny detector configs for CPU tests, derived from configs/demo.yaml so every key stays exercised."""
from dataclasses import replace
from pathlib import Path

from perception.models.config import DetectorConfig, load_config
from perception.ops.grid import BEVGrid
from perception.train.config import TrainConfig, load_train_config

DEMO = Path(__file__).resolve().parents[1] / "configs" / "demo.yaml"


def tiny_config() -> DetectorConfig:
    """A ±25.6 m fused grid at 0.8 m (64×64), 96×176 images, one ResNet stage, small channels."""
    base = load_config(DEMO)
    fine = BEVGrid((-25.6, 25.6), (-25.6, 25.6), (-5.0, 3.0), 0.4)
    return replace(
        base,
        bev=BEVGrid((-25.6, 25.6), (-25.6, 25.6), (-5.0, 3.0), 0.8),
        camera=replace(base.camera, image_size=(96, 176), fpn_channels=32, depth_bins=(1.0, 30.0, 1.0),
                       context_channels=16, grid=fine, bev_channels=16),
        lidar=replace(base.lidar, num_sweeps=2, grid=fine, pillar_channels=(16,), bev_channels=16),
        decoder=replace(base.decoder, fuser_channels=32, block_layers=(1, 1), block_channels=(32, 64),
                        upsample_channels=32),
        head=replace(base.head, channels=32),
    )


def tiny_train_config(dataroot: Path | str = "", **overrides) -> TrainConfig:
    """The demo's training settings on ``dataroot`` with batch 2, no loader workers, logs and checkpoints often, from
    random weights."""
    return replace(load_train_config(DEMO), dataroot=str(dataroot), batch_size=2, num_workers=0, log_every=1,
                   checkpoint_every=2, init_from="", **overrides)
