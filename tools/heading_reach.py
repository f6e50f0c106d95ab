"""How far the direction classifier looks: for ground-truth boxes of each class, the share of the gradient of the
direction logit at the box's centre cell (w.r.t. the fused BEV map the decoder reads) that comes from cells at
least 0.4 box lengths from that cell (the box's ends and beyond) and from beyond 6 m.

Which end of a box is its front shows at its ends; a centre cell whose logit draws little from there can only
guess for long vehicles.

python tools/heading_reach.py CHECKPOINT --dataroot DIR [--split SPLIT] [--every N] [--per-class M]
"""
import argparse
from pathlib import Path

import torch

from perception.inference.weights import load_model
from perception.models.heads.targets import build_targets
from perception.train.augment import collate_training
from perception.train.data import FrameDataset

END_SHARE_OF_LENGTH = 0.4
FAR_M = 6.0


def fused_map(model, batch) -> torch.Tensor:
    """The fused BEV map (1, C, ny, nx) the decoder reads, as a leaf to differentiate against."""
    with torch.no_grad():
        features, _ = model.branch_features(batch)
        fused = model.fuser(features, batch.batch_size, model.config.bev.shape)
    return fused.requires_grad_(True)


def gradient_shares(fused: torch.Tensor, direction: torch.Tensor, cell: int, length_m: float,
                    cell_m: float) -> tuple[float, float]:
    """(share from ≥ 0.4 lengths, share from beyond 6 m) of |∂ direction[cell] / ∂ fused| summed over channels;
    direction (1, 1, ny, nx) computed from ``fused``."""
    gradient, = torch.autograd.grad(direction[0, 0].reshape(-1)[cell], fused, retain_graph=True)
    magnitude = gradient[0].abs().sum(0)  # (ny, nx)
    ny, nx = magnitude.shape
    iy, ix = torch.meshgrid(torch.arange(ny), torch.arange(nx), indexing="ij")
    distance = torch.hypot((iy - cell // nx).float(), (ix - cell % nx).float()) * cell_m
    total = magnitude.sum()
    return (float(magnitude[distance >= END_SHARE_OF_LENGTH * length_m].sum() / total),
            float(magnitude[distance > FAR_M].sum() / total))


def main(args: argparse.Namespace) -> None:
    model, config = load_model(args.checkpoint)
    model.requires_grad_(False)
    if not config.head.direction_classifier:
        raise SystemExit(f"{args.checkpoint}: the head has no direction classifier")
    dataset = FrameDataset(config, str(args.dataroot), args.version, args.split, augment=None, seed=0)
    head = config.head
    shares: dict[str, list[tuple[float, float, float]]] = {name: [] for name in config.classes}
    for index in range(0, len(dataset), args.every):
        batch, boxes, labels = collate_training([dataset[index]])
        fused = fused_map(model, batch)
        direction = model.head(model.decoder(fused)).direction
        targets = build_targets(boxes, labels, config.bev, len(config.classes), head.gaussian_overlap,
                                head.min_radius, head.velocity_unit)
        for m, label in enumerate(labels[0].tolist()):
            name = config.classes[label]
            if len(shares[name]) >= args.per_class or targets.weight[0, m, 0] <= 0:
                continue
            length = float(boxes[0][m, 3])
            shares[name].append((length, *gradient_shares(fused, direction, int(targets.cell[0, m]), length,
                                                          config.bev.cell)))
    for name, rows in shares.items():
        if rows:
            n = len(rows)
            print(f"{name}: {n} boxes, mean length {sum(r[0] for r in rows) / n:.1f} m; gradient share from "
                  f"≥ {END_SHARE_OF_LENGTH} lengths {sum(r[1] for r in rows) / n:.3f}, "
                  f"beyond {FAR_M:.0f} m {sum(r[2] for r in rows) / n:.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--dataroot", type=Path, required=True)
    parser.add_argument("--version", default="v1.0-synth")
    parser.add_argument("--split", default="synth_val")
    parser.add_argument("--every", type=int, default=10, help="use every N-th keyframe")
    parser.add_argument("--per-class", type=int, default=12, help="boxes of each class at most")
    main(parser.parse_args())
