"""How far the direction classifier looks: for ground-truth boxes of each class, the share of the gradient of the
direction logit at the box's centre cell (w.r.t. the fused BEV map the decoder reads) that comes from cells at
least 0.4 box lengths from that cell (the box's ends and beyond) and from beyond 6 m.

Which end of a box is its front shows at its ends; a centre cell whose logit draws little from there can only
guess for long vehicles.

python -m tools.heading_reach CHECKPOINT --dataroot DIR [--split SPLIT] [--every N] [--per-class M]
(from the repository root)
"""
import argparse

import torch

from perception.inference.weights import load_model
from tools.weights_diagnostics import keyframes_with_targets, split_arguments

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
    shares: dict[str, list[tuple[float, float, float]]] = {name: [] for name in config.classes}
    for batch, boxes, labels, targets in keyframes_with_targets(config, args):
        fused = fused_map(model, batch)
        direction = model.head(model.decoder(fused)).direction
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
    parser = split_arguments(__doc__.splitlines()[0], every=10)
    parser.add_argument("--per-class", type=int, default=12, help="boxes of each class at most")
    main(parser.parse_args())
