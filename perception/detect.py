"""``perception detect``: run a detector on one keyframe; write its nuScenes results JSON and a camera-ring render."""
from __future__ import annotations

import argparse
from pathlib import Path

from perception.cli_args import add_dataset_arguments, add_device_argument, keyframe_arg

DEFAULT_DATA = Path("data/synth-default")
RESULTS_NAME, RENDER_NAME = "results.json", "detections.jpg"


def add_detect_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", default="demo",
                        help="weights: 'demo' (shipped), a .json/.safetensors file or a training run folder")
    add_dataset_arguments(parser, dataroot_default=DEFAULT_DATA, index=True)
    parser.add_argument("--min-score", type=float, default=0.0,
                        help="detections below this score are left out of the results and the render")
    parser.add_argument("--out", type=Path, default=Path("outputs/detect"),
                        help=f"folder for {RESULTS_NAME} (nuScenes results, readable by eval and viz) and "
                             f"{RENDER_NAME}")
    add_device_argument(parser)


def run_detect(args: argparse.Namespace) -> None:
    from perception.data.nuscenes import NuScenesDataset
    from perception.data.results import write_results
    from perception.inference import load_detector
    from perception.viz.camera_view import camera_ring
    from perception.viz.images import write_image

    detector = load_detector(args.checkpoint, args.device)
    dataset = NuScenesDataset(args.dataroot, args.version, num_sweeps=detector.config.lidar.num_sweeps)
    scene, token = keyframe_arg(dataset, args)
    frame = dataset.frame(token)
    detections = detector.detect(frame)
    detections = detections.select(detections.scores >= args.min_score)
    write_results(args.out / RESULTS_NAME, {token: detections.to_results(frame)},
                  use_camera=detector.config.camera.enabled, use_lidar=detector.config.lidar.enabled)
    rendered = ""
    if frame.images:
        write_image(args.out / RENDER_NAME, camera_ring(frame, with_points=False, predictions=detections))
        rendered = f" and {RENDER_NAME}"
    print(f"{scene} keyframe {args.index}: {len(detections)} boxes (score >= {args.min_score}) -> "
          f"{args.out / RESULTS_NAME}{rendered}")
