"""What a checkpoint has learned beyond mAP, on every keyframe of a split (no augmentation):

- depth: the share of camera feature cells with a keyframe lidar return whose predicted depth bin (argmax) is within
  one bin of the lidar's;
- velocity: the mean predicted speed at the centre cells of moving (> 1 m/s) and of still ground-truth actors, and
  per class the moving ones' mean predicted and true speed;
- heading: the share of ground-truth boxes, per class, whose heading decoded at their centre cell (the direction
  logit read as the config's ``head.direction_points`` says) is off by more than 150° (a flipped box), over all
  boxes, apart for moving and still ones, and for boxes heading within 20° of ±90° (the direction classifier's
  target changes where cos θ = 0).

python tools/weights_diagnostics.py CHECKPOINT --dataroot DIR --version VERSION --split SPLIT [--every N]
"""
import argparse
import math
from collections.abc import Iterator
from pathlib import Path

import torch

from perception.inference.weights import load_model
from perception.models.camera.depth_supervision import NO_DEPTH
from perception.models.heads.decode import box_direction_logits, decode_regression
from perception.models.heads.targets import HeadTargets, build_targets
from perception.train.augment import collate_training
from perception.train.data import FrameDataset

MOVING_M_S = 1.0
FLIPPED_RAD = math.radians(150.0)
ACROSS_COS = math.sin(math.radians(20.0))  # |cos θ| below this: heading within 20° of ±90°


def centre_velocities(regression: torch.Tensor, targets: HeadTargets,
                      velocity_unit: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Predicted and true velocities (M, 2) in m/s at the centre cells of the boxes of sample 0 whose velocity is
    known; regression (B, 10, ny, nx) as the head outputs it."""
    known = targets.weight[0, :, 8] > 0
    predicted = regression[0, 8:10].reshape(2, -1)[:, targets.cell[0, known]].T * velocity_unit
    return predicted, targets.regression[0, known, 8:10] * velocity_unit


def split_arguments(description: str, every: int) -> argparse.ArgumentParser:
    """The command line of a tool that runs a checkpoint over the keyframes of a split."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--dataroot", type=Path, required=True)
    parser.add_argument("--version", default="v1.0-synth")
    parser.add_argument("--split", default="synth_val")
    parser.add_argument("--every", type=int, default=every, help="use every N-th keyframe")
    return parser


def keyframes_with_targets(config, args: argparse.Namespace) -> Iterator[tuple]:
    """(batch, boxes, labels, head targets) of every ``args.every``-th keyframe of the split, unaugmented."""
    dataset = FrameDataset(config, str(args.dataroot), args.version, args.split, augment=None, seed=0)
    head = config.head
    for index in range(0, len(dataset), args.every):
        batch, boxes, labels = collate_training([dataset[index]])
        yield batch, boxes, labels, build_targets(boxes, labels, config.bev, len(config.classes),
                                                  head.gaussian_overlap, head.min_radius, head.velocity_unit)


def main(args: argparse.Namespace) -> None:
    model, config = load_model(args.checkpoint)
    head = config.head
    depth_hits, depth_cells, still_speeds = 0, 0, []
    moving_of = {name: [] for name in config.classes}  # (predicted, true) speeds of the moving actors per class
    flipped = {kind: {name: [] for name in config.classes} for kind in ("all", "moving", "still", "across")}
    with torch.no_grad():
        for batch, boxes, labels, targets in keyframes_with_targets(config, args):
            output = model(batch)
            if output.depth_logits is not None:
                target = model.camera.depth_targets(batch)
                known = target != NO_DEPTH
                depth_hits += int(((output.depth_logits.argmax(2) - target).abs() <= 1)[known].sum())
                depth_cells += int(known.sum())
            predicted, truth = (v.norm(dim=1) for v in centre_velocities(output.regression, targets,
                                                                         head.velocity_unit))
            known = targets.weight[0, :len(boxes[0]), 8] > 0  # the boxes centre_velocities returns
            fast = truth > MOVING_M_S
            for label, pair in zip(labels[0][known][fast].tolist(), torch.stack([predicted, truth], 1)[fast].tolist()):
                moving_of[config.classes[label]].append(pair)
            still_speeds += predicted[~fast].tolist()
            on_grid = targets.weight[0, :len(boxes[0]), 0] > 0
            cells = targets.cell[0, :len(boxes[0])][on_grid]
            ix, iy = cells % config.bev.nx, cells // config.bev.nx
            regression = output.regression[0].reshape(output.regression.shape[1], -1)[:, cells].T
            direction = None if output.direction is None else box_direction_logits(
                output.direction[0, 0], regression, ix, iy, config.bev, head.direction_points)
            yaw = decode_regression(regression, ix, iy, config.bev, head.velocity_unit, direction)[:, 6]
            error = torch.remainder(yaw - boxes[0][on_grid, 6] + math.pi, 2 * math.pi) - math.pi
            moving = (boxes[0][on_grid, 7:9].norm(dim=1) > MOVING_M_S).tolist()
            across = (boxes[0][on_grid, 6].cos().abs() < ACROSS_COS).tolist()
            for label, off, is_moving, is_across in zip(labels[0][on_grid].tolist(),
                                                        (error.abs() > FLIPPED_RAD).tolist(), moving, across):
                groups = ("all", "moving" if is_moving else "still") + (("across",) if is_across else ())
                for group in groups:
                    flipped[group][config.classes[label]].append(off)
    if depth_cells:
        print(f"depth within ±1 bin of the lidar: {100 * depth_hits / depth_cells:.1f} % of {depth_cells} cells")
    moving_pairs = [pair for pairs in moving_of.values() for pair in pairs]
    for kind, values in (("moving", [p for p, _ in moving_pairs]), ("still", still_speeds)):
        if values:
            print(f"mean predicted speed of {kind} actors: {sum(values) / len(values):.2f} m/s ({len(values)} actors)")
    if moving_pairs:
        print(f"mean true speed of moving actors: {sum(t for _, t in moving_pairs) / len(moving_pairs):.2f} m/s")
        print("moving actors, mean predicted / true speed: " + ", ".join(
            f"{name} {sum(p for p, _ in pairs) / len(pairs):.2f} / {sum(t for _, t in pairs) / len(pairs):.2f} m/s "
            f"({len(pairs)})" for name, pairs in moving_of.items() if pairs))
    for kind, boxes_of in flipped.items():
        shares = ", ".join(f"{name} {100 * sum(v) / len(v):.0f} % of {len(v)}" for name, v in boxes_of.items() if v)
        print(f"heading off by more than 150° at the centre cell ({kind} boxes): {shares or 'none'}")


if __name__ == "__main__":
    main(split_arguments(__doc__.splitlines()[0], every=1).parse_args())
