"""``perception viz``: render a nuScenes(-format) keyframe or scene, with ground truth and optional predictions.

Stills (--bev, --ring, --fused, --open3d, --show) show keyframe --index of the scene; --video and --rrd cover the
whole scene.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from perception.cli_args import add_dataset_arguments, keyframe_arg, open_dataset_arg, scene_arg
from perception.errors import DataError
from perception.viz.style import DEFAULT_MIN_SCORE


def add_viz_arguments(parser: argparse.ArgumentParser) -> None:
    add_dataset_arguments(parser, index=True)
    source = parser.add_argument_group("source")
    source.add_argument("--sweeps", type=int, default=0, help="past lidar sweeps accumulated per frame")
    source.add_argument("--results", type=Path, default=None, help="nuScenes results JSON with predictions")
    source.add_argument("--min-score", type=float, default=DEFAULT_MIN_SCORE,
                        help="predictions below this score are not drawn")
    outputs = parser.add_argument_group("outputs (at least one)")
    outputs.add_argument("--bev", type=Path, metavar="IMAGE", help="BEV panel of the keyframe (.png/.jpg)")
    outputs.add_argument("--ring", type=Path, metavar="IMAGE", help="camera ring of the keyframe")
    outputs.add_argument("--fused", type=Path, metavar="IMAGE", help="camera ring + BEV panel of the keyframe")
    outputs.add_argument("--open3d", type=Path, metavar="IMAGE", help="3D scene of the keyframe, rendered offscreen")
    outputs.add_argument("--show", action="store_true", help="open the keyframe's 3D scene in a window")
    outputs.add_argument("--video", type=Path, metavar="MP4", help="fused frames of the whole scene")
    outputs.add_argument("--fps", type=float, default=2.0, help="video frame rate (2 = real time for keyframes)")
    outputs.add_argument("--rrd", type=Path, metavar="FILE", help="Rerun recording of the whole scene")


def run_viz(args) -> None:
    from perception.boxes import Boxes3D
    from perception.data.results import read_results, results_to_boxes
    from perception.viz import scene3d
    from perception.viz.bev import BEVView, render_bev
    from perception.viz.camera_view import camera_ring
    from perception.viz.fused import fused_frame
    from perception.viz.images import write_image

    stills = {"bev": args.bev, "ring": args.ring, "fused": args.fused, "open3d": args.open3d}
    if not (any(stills.values()) or args.show or args.video or args.rrd):
        raise DataError("choose at least one output: --bev, --ring, --fused, --open3d, --show, --video, --rrd")
    dataset = open_dataset_arg(args, num_sweeps=args.sweeps)
    scene = scene_arg(dataset, args)
    tokens = dataset.sample_tokens(scene)
    results = read_results(args.results)["results"] if args.results else None

    def predictions_of(frame) -> Boxes3D | None:
        if results is None:
            return None
        boxes = results_to_boxes(results.get(frame.token, []), frame.global_from_ego)
        return boxes.select(boxes.scores >= args.min_score)

    def frames_with_predictions():
        for token in tokens:  # one frame in memory at a time: a scene's images would not fit
            frame = dataset.frame(token)
            yield frame, predictions_of(frame)

    if any(stills.values()) or args.show:
        frame = dataset.frame(keyframe_arg(dataset, args)[1])
        predictions = predictions_of(frame)
        images = {"bev": lambda: render_bev(BEVView(), frame.points, frame.boxes, predictions),
                  "ring": lambda: camera_ring(frame, predictions=predictions),
                  "fused": lambda: fused_frame(frame, predictions)}
        for name, render in images.items():  # rendered only when asked for
            if stills[name]:
                write_image(stills[name], render())
                print(f"{name}: {stills[name]}")
        try:
            if args.open3d:
                scene3d.render_png(args.open3d, frame, predictions)
                print(f"open3d: {args.open3d}")
            if args.show:
                scene3d.show(frame, predictions)
        except scene3d.RenderError as error:
            raise DataError(str(error)) from None

    if args.video:
        from perception.viz.video import write_scene_video

        count = write_scene_video(args.video, frames_with_predictions(), fps=args.fps)
        print(f"video: {args.video} ({count} frames)")
    if args.rrd:
        from perception.viz.rerun_export import export_rrd

        count = export_rrd(args.rrd, frames_with_predictions())
        print(f"rerun: {args.rrd} ({count} frames)")
