"""``perception replay`` and ``perception data to-mcap``: arguments and commands."""
from __future__ import annotations

import argparse
from pathlib import Path

from calib.atomic import check_writable_folder
from perception.cli_args import (add_dataset_arguments, add_device_argument, deprecated_alias, open_dataset_arg,
                                 scene_arg)
from perception.errors import DataError
from perception.replay.sync import DEFAULT_TOLERANCE_MS

DEFAULT_OUT = Path("outputs/replay")


def add_replay_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", choices=("nuscenes", "mcap", "kitti"), default=None,
                        help="a scene of a nuScenes-format dataset, an MCAP recording (Foxglove schemas or a ROS 2 "
                             "bag), or a KITTI folder (raw drive or object layout); required unless --recordings")
    parser.add_argument("--input", type=Path, default=None,
                        help="--source mcap: the recording; --source kitti: a raw drive folder "
                             "(velodyne_points, image_02, oxts) or the object layout (training/velodyne, ...)")
    nuscenes = parser.add_argument_group("--source nuscenes")
    nuscenes.add_argument("--dataroot", type=Path, default=None, help="nuScenes-format dataset root")
    nuscenes.add_argument("--version", default=None,
                          help="version folder of the tables (default: the only one under --dataroot)")
    nuscenes.add_argument("--scene", default=None, help="scene name (default: the first)")
    parser.add_argument("--topics", type=Path, default=None,
                        help="YAML naming the recording's topics and frames (default: nuscenes2mcap's names)")
    parser.add_argument("--checkpoint", default="demo",
                        help="weights: 'demo' (shipped), a .json/.safetensors file or a training run folder")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="folder for detections.mcap, results.json, replay.mp4 and summary.json")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="playback speed: 1.0 paces to recording time and drops late frames, 0 runs as fast as "
                             "possible")
    parser.add_argument("--detect-on", choices=("keyframes", "all"), default=None,
                        help="detect on keyframes only or on every lidar sweep (default: keyframes for nuscenes, "
                             "all for mcap)")
    deprecated_alias(parser, "--sweeps", "--detect-on", "detect_on", choices=("keyframes", "all"))
    parser.add_argument("--tolerance-ms", type=float, default=DEFAULT_TOLERANCE_MS,
                        help="the farthest in time a camera image may be from its sweep")
    parser.add_argument("--video", action="store_true", help="also write replay.mp4 (camera ring with boxes, H.264)")
    parser.add_argument("--rrd", action="store_true", help="also write replay.rrd, a Rerun recording of the drive")
    add_device_argument(parser)
    fleet = parser.add_argument_group("a fleet of recordings on Ray (pip install -e '.[fleet]')")
    fleet.add_argument("--recordings", type=Path, nargs="+", default=None, metavar="PATH",
                       help="MCAP files, nuScenes-format dataset roots (every scene) or folders of them: one Ray "
                            "task each, into --out/<name>/, with --out/fleet.json and a merged --out/results.json")
    fleet.add_argument("--workers", type=int, default=2, help="CPUs of the local Ray cluster (one task each)")
    fleet.add_argument("--ray-address", default=None,
                       help="an existing Ray cluster to run on instead of a local one (e.g. 'auto')")
    parser.add_argument("--eager", action="store_true",
                        help="run the model as trained, without folding its batch norms (slower, same detections "
                             "within float rounding)")


def open_source(args: argparse.Namespace, topics, keyframes_only: bool, num_sweeps: int):
    from perception.replay.kitti_source import KittiSource
    from perception.replay.mcap_source import McapSource
    from perception.replay.nuscenes_source import NuScenesSource

    if args.source in ("mcap", "kitti") and args.input is None:
        raise DataError(f"--source {args.source} needs --input "
                        f"{'RECORDING.mcap' if args.source == 'mcap' else 'FOLDER'}")
    if args.source == "mcap":
        return McapSource(args.input, topics)
    if args.source == "kitti":
        return KittiSource(args.input, topics)
    if args.dataroot is None:
        raise DataError("--source nuscenes needs --dataroot (and optionally --version, --scene)")
    dataset = open_dataset_arg(args)
    return NuScenesSource(dataset, scene_arg(dataset, args), topics, keyframes_only, num_sweeps)


def run_replay(args: argparse.Namespace) -> dict:
    """Replay the source through the detector; print one line of results and return the summary."""
    from perception.inference import load_detector
    from perception.replay.pipeline import ReplaySettings, replay
    from perception.replay.topics import load_topic_map

    if args.rate < 0 or args.tolerance_ms <= 0:
        raise DataError(f"--rate must be >= 0 and --tolerance-ms > 0, got {args.rate} and {args.tolerance_ms}")
    if args.recordings:
        return run_fleet(args)
    if args.source is None:
        raise DataError("give --source nuscenes|mcap|kitti (one recording) or --recordings PATH... (a fleet)")
    check_writable_folder(args.out)  # before loading anything
    keyframes_only = (args.detect_on or ("keyframes" if args.source == "nuscenes" else "all")) == "keyframes"
    topics = load_topic_map(args.topics)
    detector = load_detector(args.checkpoint, args.device, optimize=not args.eager)
    source = open_source(args, topics, keyframes_only, detector.config.lidar.num_sweeps)
    summary = replay(source, topics, detector, args.out,
                     ReplaySettings(args.rate, args.tolerance_ms, keyframes_only, args.video, rrd=args.rrd))
    if keyframes_only and args.source == "mcap" and not source.keyframes:
        raise DataError("the recording lists no keyframes (no 'nuscenes-keyframes' metadata); use --detect-on all",
                        args.input)
    frames, latency = summary["frames"], summary["latency_ms"]
    model_ms = f", model p50 {latency['model']['p50']:.0f} ms" if latency else ""
    print(f"{summary['scene']}: {frames['detected']} frames at {summary['throughput_fps']:.2f} fps on "
          f"{detector.device}{model_ms}; {frames['dropped']} dropped, {frames['skipped']} skipped, "
          f"{summary['faults']['corrupt'] + summary['faults']['unreadable']} bad messages"
          f"{skipped_chunks(summary)}"
          f"{'; recording cut off' if summary['truncated'] else ''} -> {args.out}")
    return summary


def skipped_chunks(summary: dict) -> str:
    """The damaged recording chunks of a replay summary, for its one-line report ('' when none)."""
    count = len(summary["skipped_chunks"])
    return f" ({count} damaged chunk{'s' if count > 1 else ''} skipped)" if count else ""


def run_fleet(args: argparse.Namespace) -> dict:
    """Replay every recording of ``--recordings`` on Ray; print one line per recording and the totals."""
    from perception.replay.fleet import FleetOptions, replay_fleet
    from perception.replay.pipeline import ReplaySettings

    if args.workers < 1:
        raise DataError(f"--workers must be at least 1, got {args.workers}")
    options = FleetOptions(args.checkpoint, args.topics, args.detect_on,
                           ReplaySettings(args.rate, args.tolerance_ms, video=args.video), args.workers,
                           args.ray_address, args.eager)
    summary = replay_fleet(args.recordings, args.out, options)
    for row in summary["recordings"]:
        done = f"{row['frames']} frames at {row['fps']:.2f} fps, {row['faults']} bad messages" \
            if row["status"] != "failed" else row["error"]
        print(f"{row['scene'] or row['recording']}: {row['status']}: {done}")
    totals = summary["totals"]
    print(f"{totals['finished']} of {totals['recordings']} recordings finished ({totals['failed']} failed), "
          f"{totals['frames']} frames -> {args.out / 'fleet.json'}"
          + (f", merged results {totals['results']}" if totals["results"] else ""))
    return summary


def add_to_mcap_arguments(parser: argparse.ArgumentParser) -> None:
    add_dataset_arguments(parser)
    parser.add_argument("--out", type=Path, default=None, help="MCAP file to write (default: outputs/<scene>.mcap)")
    parser.add_argument("--topics", type=Path, default=None,
                        help="YAML naming the topics and frames to write (default: nuscenes2mcap's names)")
    parser.add_argument("--format", choices=("foxglove", "ros2"), default="foxglove",
                        help="message schemas: Foxglove protobuf, or ROS 2 (sensor_msgs, tf2_msgs in CDR)")


def run_to_mcap(args: argparse.Namespace) -> Path:
    """Write every lidar sweep and camera image of the scene, with transforms, to an MCAP file."""
    from perception.replay.nuscenes_source import NuScenesSource
    from perception.replay.to_mcap import write_recording
    from perception.replay.topics import load_topic_map

    dataset = open_dataset_arg(args)
    scene = scene_arg(dataset, args)
    out = args.out or Path("outputs") / f"{scene}.mcap"
    counts = write_recording(NuScenesSource(dataset, scene, load_topic_map(args.topics)), out, args.format)
    unreadable = f" ({counts['unreadable']} unreadable files left out)" if counts["unreadable"] else ""
    print(f"{scene}: {counts['sample_data']} sensor messages with transforms{unreadable} -> {out}")
    return out
