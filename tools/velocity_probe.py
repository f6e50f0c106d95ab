"""Does a velocity recipe generalise? Train the test suite's tiny model, lidar only, on a training split for a few
hundred steps and score the velocity it predicts at the ground-truth centres of validation frames.

    .venv/bin/python -m tools.velocity_probe --dataroot data/synth-train-v2 --occupancy --velocity-beta 1 \
        --velocity-weight 4 --steps 600

Prints, every 100 steps, the training losses and, over every fifth validation keyframe, the mean velocity error
of the moving objects (faster than 1 m/s) as a share of their mean speed (1.0 = a head that predicts no motion)
and the mean predicted speed of the still ones. One thread, fixed seeds: the same figures on any machine, in about
ten minutes for 600 steps on one core.
"""
from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np
import torch

from perception.models.detector import FusionDetector
from perception.models.heads.targets import build_targets
from perception.train.augment import collate_training
from perception.train.config import load_train_config
from perception.train.data import FrameDataset
from tests.model_configs import DEMO, tiny_config
from tools.weights_diagnostics import MOVING_M_S, centre_velocities


def probe_config(occupancy: bool, velocity_beta: float, velocity_weight: float):
    """The tiny test model (±25.6 m, 0.8 m cells) with the camera off, 3 past sweeps and the velocity settings."""
    base = tiny_config()
    weights = (*base.head.regression_code_weights[:8], velocity_weight, velocity_weight)
    return replace(base, camera=replace(base.camera, enabled=False),
                   lidar=replace(base.lidar, num_sweeps=3, sweep_occupancy=occupancy),
                   head=replace(base.head, velocity_beta=velocity_beta, regression_code_weights=weights))


@torch.no_grad()
def velocity_at_centres(model: FusionDetector, frames: FrameDataset) -> tuple[float, float]:
    """(mean velocity error of moving objects / their mean speed, mean predicted speed of still ones) at the
    ground-truth centre cells of every fifth frame of ``frames``."""
    config, head = model.config, model.config.head
    errors, speeds, still = [], [], []
    model.eval()
    for index in range(0, len(frames), 5):
        batch, boxes, labels = collate_training([frames[index]])
        targets = build_targets(boxes, labels, config.bev, len(config.classes), head.gaussian_overlap,
                                head.min_radius, head.velocity_unit, head.direction_classifier)
        predicted, truth = centre_velocities(model(batch).regression, targets, head.velocity_unit)
        moving = truth.norm(dim=1) > MOVING_M_S
        errors.append((predicted[moving] - truth[moving]).norm(dim=1))
        speeds.append(truth[moving].norm(dim=1))
        still.append(predicted[~moving].norm(dim=1))
    model.train()
    return float(torch.cat(errors).mean() / torch.cat(speeds).mean()), float(torch.cat(still).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataroot", required=True, help="synthetic training set with synth_train and synth_val")
    parser.add_argument("--occupancy", action="store_true", help="lidar.sweep_occupancy on")
    parser.add_argument("--velocity-beta", type=float, default=0.0, help="head.velocity_beta (0: L1)")
    parser.add_argument("--velocity-weight", type=float, default=1.0, help="code weight of vx and vy")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--batch-size", type=int, default=4)
    args = parser.parse_args()

    torch.set_num_threads(1)
    torch.manual_seed(0)
    config = probe_config(args.occupancy, args.velocity_beta, args.velocity_weight)
    augment = replace(load_train_config(DEMO).augment, modality_dropout=0.0, keyframe_only=0.0)
    train = FrameDataset(config, args.dataroot, None, "synth_train", augment, seed=0)
    val = FrameDataset(config, args.dataroot, None, "synth_val", None, seed=0)
    model = FusionDetector(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.01)
    draws = np.random.default_rng(0)
    start = time.perf_counter()
    for step in range(1, args.steps + 1):
        train.epoch = step  # a fresh augmentation draw per step
        batch, boxes, labels = collate_training([train[int(i)] for i in draws.integers(0, len(train),
                                                                                         args.batch_size)])
        losses = model.loss(model(batch), batch, boxes, labels)
        optimizer.zero_grad()
        losses["total"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        optimizer.step()
        if step % 100 == 0:
            error, still = velocity_at_centres(model, val)
            print(f"step {step} ({time.perf_counter() - start:.0f} s): "
                  + " ".join(f"{k} {v.item():.3f}" for k, v in losses.items())
                  + f" | moving: error / speed {error:.3f} | still: predicted speed {still:.2f} m/s", flush=True)


if __name__ == "__main__":
    main()
