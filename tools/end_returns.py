"""What the lidar shows of a still object's two ends: per class, over the still ground-truth boxes (speed ≤ 1 m/s)
of every N-th keyframe of a split, the keyframe returns in a 1 m slab at the front and at the rear of the box, their
mean intensity and their height extent (highest minus lowest return). An end the network can tell from the other
differs in some of these; a direction classifier cannot learn a front that the sensor does not show.

python tools/end_returns.py --dataroot DIR [--version VERSION] [--split SPLIT] [--every N] [--classes bus,truck]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from calib.boxes import points_in_boxes
from perception.data.classes import DETECTION_CLASSES
from perception.data.nuscenes import NuScenesDataset

SLAB_M = 1.0
STILL_M_S = 1.0


def end_slabs(boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Front and rear slabs (M, 7): the box's last and first ``SLAB_M`` metres along its heading."""
    shift = (boxes[:, 3] - SLAB_M) / 2
    heading = np.stack([np.cos(boxes[:, 6]), np.sin(boxes[:, 6])], axis=1)
    slabs = []
    for sign in (1, -1):
        slab = boxes[:, :7].copy()
        slab[:, :2] += sign * shift[:, None] * heading
        slab[:, 3] = SLAB_M
        slabs.append(slab)
    return slabs[0], slabs[1]


def end_features(points: np.ndarray, slab: np.ndarray) -> tuple[int, float, float]:
    """(returns, mean intensity, height extent) of points (N, ≥4) inside one slab (7,); NaN where it holds none."""
    inside = points[points_in_boxes(points, slab[None])[0]]
    if len(inside) == 0:
        return 0, float("nan"), float("nan")
    return len(inside), float(inside[:, 3].mean()), float(np.ptp(inside[:, 2]))


def main(args: argparse.Namespace) -> None:
    dataset = NuScenesDataset(args.dataroot, args.version, num_sweeps=0)
    tokens = dataset.all_sample_tokens(args.split)
    classes = args.classes.split(",")
    rows = {name: [] for name in classes}  # (front returns, rear, front intensity, rear, front extent, rear)
    for token in tokens[::args.every]:
        frame = dataset.frame(token, load_images=False)
        boxes, labels = frame.boxes.boxes, frame.boxes.labels
        still = np.hypot(boxes[:, 7], boxes[:, 8]) <= STILL_M_S  # NaN (unknown velocity) is not still
        front, rear = end_slabs(boxes)
        for m in np.flatnonzero(still):
            name = DETECTION_CLASSES[labels[m]]
            if name in rows:
                ends = end_features(frame.points, front[m]), end_features(frame.points, rear[m])
                rows[name].append([value for pair in zip(*ends) for value in pair])
    print(f"keyframe returns in the front / rear {SLAB_M:g} m of still boxes (mean over boxes; every {args.every}. "
          f"keyframe of {args.split})")
    for name, values in rows.items():
        if not values:
            print(f"{name}: no still boxes")
            continue
        v = np.array(values, dtype=float)
        mean = np.nanmean(v, axis=0)
        print(f"{name}: {len(v)} boxes; returns {mean[0]:.1f} / {mean[1]:.1f}, intensity {mean[2]:.1f} / "
              f"{mean[3]:.1f}, height extent {mean[4]:.2f} / {mean[5]:.2f} m")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataroot", type=Path, required=True)
    parser.add_argument("--version", default="v1.0-synth")
    parser.add_argument("--split", default="synth_train")
    parser.add_argument("--every", type=int, default=10, help="use every N-th keyframe")
    parser.add_argument("--classes", default="car,truck,bus,trailer,construction_vehicle,motorcycle")
    main(parser.parse_args())
