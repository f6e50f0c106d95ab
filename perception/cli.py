"""``perception <command>``: the command-line entry point.

Every command's errors that are the user's to fix (``perception.errors``, OS errors such as a missing or read-only
path) print as one line on stderr with exit code 2; anything else is a bug and keeps its traceback.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from perception.cli_args import (DefaultsHelpFormatter, add_dataset_arguments, add_device_argument, deprecated_alias,
                                 keyframe_arg, open_dataset_arg)
from perception.errors import USER_ERRORS

DEFAULT_DATA = Path("data/synth-default")
DEFAULT_OUT = Path("outputs/demo")
DEMO_SEED, DEMO_FRAMES = 1000, 10  # a seed no training set of the docs uses


def fraction(text: str) -> float:
    """An argparse type: a number in (0, 1]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    from perception.detect import add_detect_arguments, run_detect
    from perception.eval.cli import add_eval_arguments, run_eval
    from perception.replay.cli import add_replay_arguments, add_to_mcap_arguments, run_replay, run_to_mcap
    from perception.viz.cli import add_viz_arguments, run_viz

    parser = argparse.ArgumentParser(prog="perception", formatter_class=DefaultsHelpFormatter,
                                     description="Camera + lidar BEV-fusion perception for driving data.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(parent, name: str, help: str, run) -> argparse.ArgumentParser:
        sub = parent.add_parser(name, help=help, description=help, formatter_class=DefaultsHelpFormatter)
        sub.set_defaults(run=run)
        return sub

    demo = command(commands, "demo", "replay the default synthetic drive through the shipped demo weights, score it "
                                     "and render it", run_demo)
    demo.add_argument("--data", type=Path, default=DEFAULT_DATA, help="where the default drive lives")
    demo.add_argument("--weights", default="demo", help="detector weights ('demo' or a path)")
    demo.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the MCAPs, results, report and videos go")

    data = commands.add_parser("data", help="datasets: synthetic drives, MCAP conversion, sanity renders",
                               formatter_class=DefaultsHelpFormatter)
    data_commands = data.add_subparsers(dest="data_command", metavar="DATA_COMMAND")
    data.set_defaults(run=lambda args: data.print_help())
    synth = command(data_commands, "synth", "generate synthetic drives in nuScenes format", run_synth)
    synth.add_argument("--out", type=Path, required=True, help="dataset root to write")
    synth.add_argument("--scenes", type=int, default=2)
    synth.add_argument("--frames", type=int, default=10, help="keyframes (2 Hz) per scene")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--rig", type=Path, default=None, help="rig YAML to simulate (default: the nuScenes rig)")
    synth.add_argument("--nonkey-sweeps", type=int, default=9,
                       help="non-key lidar sweeps written before each keyframe, 0..9 (9 = every 20 Hz sweep)")
    deprecated_alias(synth, "--sweeps", "--nonkey-sweeps", "nonkey_sweeps", type=int)
    synth.add_argument("--version", default="v1.0-synth", help="version folder name of the tables")
    synth.add_argument("--camera-scale", type=fraction, default=1.0,
                       help="render the cameras at this fraction of the rig's resolution (0.25 for training sets)")
    synth.add_argument("--no-ego-body", action="store_true",
                       help="no lidar returns from the sensor vehicle's own body")
    synth.add_argument("--val-scenes", type=int, default=None,
                       help="scenes in the synth_val split (default: a fifth, at least one)")

    add_to_mcap_arguments(command(data_commands, "to-mcap", "convert a nuScenes scene to an MCAP recording "
                                                            "(Foxglove schemas, nuscenes2mcap topics)", run_to_mcap))

    check = command(data_commands, "check", "render lidar points and GT boxes projected into the cameras", run_check)
    add_dataset_arguments(check, index=True)
    check.add_argument("--sweeps", type=int, default=0, help="past lidar sweeps accumulated per frame")
    check.add_argument("--out", type=Path, default=Path("outputs/check.png"))

    add_eval_arguments(command(commands, "eval", "nuScenes detection metrics (mAP, NDS) through the official devkit",
                               run_eval))
    add_replay_arguments(command(commands, "replay", "stream a nuScenes scene or an MCAP recording through the "
                                                     "detector", run_replay))
    add_viz_arguments(command(commands, "viz", "render a scene: BEV, camera ring, fused frames, video, Open3D, "
                                               "Rerun", run_viz))

    train = command(commands, "train", "train a detector (resumes from --out when it has a checkpoint)", run_train)
    train.add_argument("config", type=Path, help="model YAML with a train section, e.g. configs/demo.yaml")
    train.add_argument("--out", type=Path, default=None, help="run folder (default: outputs/train/<config name>)")
    train.add_argument("--max-steps", type=int, default=None, help="stop after this many more steps (default: all)")
    add_device_argument(train)

    bench = command(commands, "bench", "latency per stage, FPS, peak memory, kernel micro-benchmarks", run_bench)
    bench.add_argument("config", type=Path, help="model YAML, e.g. configs/nuscenes_fusion_r50.yaml")
    add_device_argument(bench)
    bench.add_argument("--frames", type=int, default=100, help="timed runs after warm-up (percentiles over them)")
    bench.add_argument("--warmup", type=int, default=10)
    bench.add_argument("--points", type=int, default=300_000, help="lidar points per frame (10 sweeps ≈ 300k)")
    bench.add_argument("--amp", action="store_true", help="bf16 autocast")
    bench.add_argument("--no-kernels", action="store_true", help="skip the BEV pooling and voxelization kernels")
    bench.add_argument("--train-steps", type=int, default=0,
                       help="also time this many training steps (forward, backward, update; 0 skips them)")
    bench.add_argument("--out", type=Path, default=Path("outputs/bench"), help="bench.json and bench.md go here")

    export = command(commands, "export", "write the model-only weights of a training checkpoint", run_export)
    export.add_argument("checkpoint", type=Path, help="checkpoint .json or run folder")
    export.add_argument("--out", type=Path, required=True, help="output path without extension, e.g. weights/demo")
    export.add_argument("--config", type=Path, default=None,
                        help="model YAML to store instead of the trained one (same network; e.g. new decoding "
                             "settings)")

    add_detect_arguments(command(commands, "detect", "run a trained detector on one keyframe; write nuScenes "
                                                     "results and a render", run_detect))
    parser.set_defaults(run=lambda args: parser.print_help())
    return parser


def run_train(args) -> None:
    from perception.models.config import load_config
    from perception.train.config import load_train_config
    from perception.train.trainer import train

    config, train_config = load_config(args.config), load_train_config(args.config)
    out = args.out or Path("outputs/train") / args.config.stem
    records = train(config, train_config, out, device=args.device, max_steps=args.max_steps)
    if records:
        print(f"trained to step {records[-1]['step']}, loss {records[-1]['total']:.4f}; checkpoints in {out}")


def run_synth(args) -> None:
    import time

    from perception.sim.dataset import DEFAULT_RIG, NUSCENES_CAR_BODY, SynthOptions, generate_dataset

    start = time.perf_counter()
    options = SynthOptions(out=args.out, scenes=args.scenes, frames=args.frames, seed=args.seed,
                           rig_path=args.rig or DEFAULT_RIG, sweeps=args.nonkey_sweeps, version=args.version,
                           val_scenes=args.val_scenes, camera_scale=args.camera_scale,
                           ego_body=None if args.no_ego_body else NUSCENES_CAR_BODY)
    generate_dataset(options)
    seconds = time.perf_counter() - start
    frames = args.scenes * args.frames
    print(f"wrote {args.scenes} scenes x {args.frames} keyframes to {args.out}/{args.version} "
          f"in {seconds:.1f} s ({seconds / frames:.2f} s per keyframe)")


def run_check(args) -> None:
    from perception.viz.camera_view import camera_ring
    from perception.viz.images import write_image

    dataset = open_dataset_arg(args, num_sweeps=args.sweeps)
    scene, token = keyframe_arg(dataset, args)
    frame = dataset.frame(token)
    write_image(args.out, camera_ring(frame))
    print(f"{scene} keyframe {args.index}: {len(frame.points)} points, {len(frame.boxes)} GT boxes -> {args.out}")


def run_demo(args) -> None:
    """Generate (once) the default drive, replay it through the shipped demo detector, score it."""
    from perception.data.nuscenes import NuScenesDataset
    from perception.data.results import read_results, write_results
    from perception.sim.dataset import SynthOptions, generate_dataset
    from perception.eval.evaluate import evaluate
    from perception.inference import load_detector
    from perception.replay.nuscenes_source import NuScenesSource
    from perception.replay.pipeline import ReplaySettings, replay
    from perception.replay.topics import TopicMap

    version = "v1.0-synth"
    if not (args.data / version / "splits.json").exists():
        print(f"generating the default synthetic drive into {args.data} (once)")
        generate_dataset(SynthOptions(out=args.data, scenes=1, frames=DEMO_FRAMES, seed=DEMO_SEED, val_scenes=1))
    detector = load_detector(args.weights, device=None)
    dataset = NuScenesDataset(args.data, version)
    results = {}
    for scene in dataset.scene_names():
        source = NuScenesSource(dataset, scene, TopicMap(), keyframes_only=True,
                                num_sweeps=detector.config.lidar.num_sweeps)
        summary = replay(source, TopicMap(), detector, args.out / scene,
                         ReplaySettings(keyframes_only=True, video=True))
        results |= read_results(args.out / scene / "results.json")["results"]
        latency = summary["latency_ms"]["total"]
        print(f"{scene}: {summary['frames']['detected']} keyframes replayed at {summary['throughput_fps']:.2f} fps "
              f"(p50 {latency['p50']:.0f} ms, p95 {latency['p95']:.0f} ms on {detector.device}) -> "
              f"{args.out / scene}")
    write_results(args.out / "results.json", results, use_camera=True, use_lidar=True)
    metrics = evaluate(args.data, version, "synth_all", args.out / "results.json", args.out / "eval")
    print(f"mAP {metrics['mAP']:.3f}, NDS {metrics['NDS']:.3f} over {len(results)} keyframes; "
          f"report {args.out / 'eval' / 'summary.md'}")
    print(f"per scene in {args.out}/<scene>/: detections.mcap (open in Foxglove), replay.mp4, results.json, "
          f"summary.json")


def run_bench(args) -> None:
    from perception.bench import report_markdown, run_benchmarks, write_report
    from perception.inference.device import resolve_device
    from perception.models.config import load_config
    from perception.train.config import load_train_config

    train = load_train_config(args.config) if args.train_steps else None
    report = run_benchmarks(load_config(args.config), args.config.name, resolve_device(args.device), args.frames,
                            args.warmup, args.points, args.amp, not args.no_kernels, args.train_steps, train)
    write_report(report, args.out)
    print(report_markdown(report))
    print(f"written: {args.out / 'bench.json'}, {args.out / 'bench.md'}")


def run_export(args) -> None:
    from perception.models.config import load_config
    from perception.train.checkpoint import export_weights

    config = None if args.config is None else load_config(args.config)
    print(f"wrote {export_weights(args.checkpoint, args.out, config)} and its .safetensors")


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except USER_ERRORS as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # a path the user gave: missing, read-only, a full disk
        where = f"{error.filename}: " if error.filename else ""
        print(f"error: {where}{error.strerror or error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
