"""``perception <command>``: the command-line entry point."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from perception.errors import USER_ERRORS

DEFAULT_DATA = Path("data/synth-default")
DEFAULT_OUT = Path("outputs/demo")
DEMO_WEIGHTS = Path(__file__).resolve().parents[1] / "weights" / "demo.json"
DEMO_SEED, DEMO_FRAMES = 1000, 10  # a seed no training set of the docs uses


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="perception",
                                     description="Camera + lidar BEV-fusion perception for driving data.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser("demo", help="replay the default synthetic drive through the shipped demo weights, "
                                            "score it and render it")
    demo.add_argument("--data", type=Path, default=DEFAULT_DATA, help="where the default drive lives")
    demo.add_argument("--weights", type=Path, default=DEMO_WEIGHTS, help="detector checkpoint")
    demo.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the MCAPs, results, report and videos go")
    demo.set_defaults(run=run_demo)

    data = commands.add_parser("data", help="datasets: synthetic drives, sanity renders")
    data_commands = data.add_subparsers(dest="data_command", required=True, metavar="DATA_COMMAND")
    synth = data_commands.add_parser("synth", help="generate synthetic drives in nuScenes format")
    synth.add_argument("--out", type=Path, required=True, help="dataset root to write")
    synth.add_argument("--scenes", type=int, default=2)
    synth.add_argument("--frames", type=int, default=10, help="keyframes (2 Hz) per scene")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--rig", type=Path, default=None, help="rig YAML to simulate (default: the nuScenes rig)")
    synth.add_argument("--sweeps", type=int, default=9,
                       help="non-key lidar sweeps before each keyframe, 0..9 (9 = every 20 Hz sweep)")
    synth.add_argument("--version", default="v1.0-synth", help="version folder name of the tables")
    synth.add_argument("--val-scenes", type=int, default=None, help="scenes in the synth_val split")
    synth.set_defaults(run=run_synth)

    from perception.replay.cli import add_to_mcap_arguments, run_to_mcap

    to_mcap = data_commands.add_parser("to-mcap", help="convert a nuScenes scene to an MCAP recording "
                                                       "(Foxglove schemas, nuscenes2mcap topics)")
    add_to_mcap_arguments(to_mcap)
    to_mcap.set_defaults(run=run_to_mcap)

    check = data_commands.add_parser("check", help="render lidar points and GT boxes projected into the cameras")
    check.add_argument("--dataroot", type=Path, required=True)
    check.add_argument("--version", default="v1.0-mini")
    check.add_argument("--scene", default=None, help="scene name (default: the first)")
    check.add_argument("--index", type=int, default=0, help="keyframe index in the scene")
    check.add_argument("--sweeps", type=int, default=0, help="past lidar sweeps to accumulate")
    check.add_argument("--out", type=Path, default=Path("outputs/check.png"))
    check.set_defaults(run=run_check)
    from perception.eval.cli import add_eval_arguments, run_eval

    evaluate = commands.add_parser("eval", help="nuScenes detection metrics (mAP, NDS) through the official devkit")
    add_eval_arguments(evaluate)
    evaluate.set_defaults(run=run_eval)

    from perception.replay.cli import add_replay_arguments, run_replay
    from perception.viz.cli import add_viz_arguments, run_viz

    replay = commands.add_parser("replay", help="stream a nuScenes scene or an MCAP recording through the detector")
    add_replay_arguments(replay)
    replay.set_defaults(run=run_replay)

    viz = commands.add_parser("viz", help="render a scene: BEV, camera ring, fused frames, video, Open3D, Rerun")
    add_viz_arguments(viz)
    viz.set_defaults(run=run_viz)

    train = commands.add_parser("train", help="train a detector (resumes from --out when it has a checkpoint)")
    train.add_argument("config", type=Path, help="model YAML, e.g. configs/demo.yaml")
    train.add_argument("--out", type=Path, default=None, help="run folder (default: outputs/train/<config name>)")
    train.add_argument("--max-steps", type=int, default=None, help="stop after this many more steps")
    train.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    train.set_defaults(run=run_train)

    bench = commands.add_parser("bench", help="latency per stage, FPS, peak memory, kernel micro-benchmarks")
    bench.add_argument("config", type=Path, help="model YAML, e.g. configs/nuscenes_fusion_r50.yaml")
    bench.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    bench.add_argument("--frames", type=int, default=100, help="timed runs after warm-up (percentiles over them)")
    bench.add_argument("--warmup", type=int, default=10)
    bench.add_argument("--points", type=int, default=300_000, help="lidar points per frame (10 sweeps ≈ 300k)")
    bench.add_argument("--amp", action="store_true", help="bf16 autocast")
    bench.add_argument("--no-kernels", action="store_true", help="skip the BEV pooling and voxelization kernels")
    bench.add_argument("--train-steps", type=int, default=0,
                       help="also time this many training steps (forward, backward, update; default 0: skip)")
    bench.add_argument("--out", type=Path, default=Path("outputs/bench"), help="bench.json and bench.md go here")
    bench.set_defaults(run=run_bench)

    export = commands.add_parser("export", help="write the model-only weights of a training checkpoint")
    export.add_argument("checkpoint", type=Path, help="checkpoint .json or run folder")
    export.add_argument("--out", type=Path, required=True, help="output path without extension, e.g. weights/demo")
    export.set_defaults(run=run_export)

    detect = commands.add_parser("detect", help="run a trained detector on one keyframe")
    detect.add_argument("--checkpoint", type=Path, default=DEMO_WEIGHTS,
                        help="checkpoint .json/.safetensors or run folder (default: the demo weights)")
    detect.add_argument("--dataroot", type=Path, default=DEFAULT_DATA)
    detect.add_argument("--version", default="v1.0-synth")
    detect.add_argument("--scene", default=None, help="scene name (default: the first)")
    detect.add_argument("--index", type=int, default=0, help="keyframe index in the scene")
    detect.add_argument("--out", type=Path, default=Path("outputs/detect"))
    detect.add_argument("--device", default=None)
    detect.set_defaults(run=run_detect)
    return parser


def run_train(args) -> None:
    from perception.models.config import load_config
    from perception.train.trainer import train

    config = load_config(args.config)
    out = args.out or Path("outputs/train") / args.config.stem
    records = train(config, out, device=args.device, max_steps=args.max_steps)
    if records:
        print(f"trained to step {records[-1]['step']}, loss {records[-1]['total']:.4f}; checkpoints in {out}")


def run_detect(args) -> None:
    import torch

    from perception.detect import detect_frame, write_detections
    from perception.data.nuscenes import NuScenesDataset
    from perception.train.checkpoint import load_detector

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    model, config = load_detector(args.checkpoint, device)
    dataset = NuScenesDataset(args.dataroot, args.version, num_sweeps=config.lidar.num_sweeps)
    scene = args.scene or dataset.scene_names()[0]
    tokens = dataset.sample_tokens(scene)
    if not 0 <= args.index < len(tokens):
        raise SystemExit(f"error: scene {scene} has {len(tokens)} keyframes; --index {args.index} is out of range")
    frame = dataset.frame(tokens[args.index])
    detections = detect_frame(model, config, frame, device)
    write_detections(args.out, frame, detections)
    print(f"{scene} keyframe {args.index}: {len(detections)} boxes -> {args.out}")


def run_synth(args) -> None:
    import time

    from perception.sim.dataset import DEFAULT_RIG, SynthOptions, generate_dataset

    start = time.perf_counter()
    options = SynthOptions(out=args.out, scenes=args.scenes, frames=args.frames, seed=args.seed,
                           rig_path=args.rig or DEFAULT_RIG, sweeps=args.sweeps, version=args.version,
                           val_scenes=args.val_scenes)
    generate_dataset(options)
    seconds = time.perf_counter() - start
    frames = args.scenes * args.frames
    print(f"wrote {args.scenes} scenes x {args.frames} keyframes to {args.out}/{args.version} "
          f"in {seconds:.1f} s ({seconds / frames:.2f} s per keyframe)")


def run_check(args) -> None:
    from perception.data.nuscenes import NuScenesDataset
    from perception.viz.camera_view import camera_ring
    from perception.viz.images import write_image

    dataset = NuScenesDataset(args.dataroot, args.version, num_sweeps=args.sweeps)
    scene = args.scene or dataset.scene_names()[0]
    tokens = dataset.sample_tokens(scene)
    if not 0 <= args.index < len(tokens):
        raise SystemExit(f"error: scene {scene} has {len(tokens)} keyframes; --index {args.index} is out of range")
    frame = dataset.frame(tokens[args.index])
    write_image(args.out, camera_ring(frame))
    print(f"{scene} keyframe {args.index}: {len(frame.points)} points, {len(frame.boxes)} GT boxes -> {args.out}")


def run_demo(args) -> None:
    """Generate (once) the default drive, replay it through the shipped demo detector, score it."""
    import torch

    from perception.data.nuscenes import NuScenesDataset
    from perception.sim.dataset import SynthOptions, generate_dataset
    from perception.eval.evaluate import evaluate
    from perception.eval.results import read_results, write_results
    from perception.replay.nuscenes_source import NuScenesSource
    from perception.replay.pipeline import ReplaySettings, replay
    from perception.replay.topics import TopicMap
    from perception.train.checkpoint import load_detector

    version = "v1.0-synth"
    if not (args.data / version / "splits.json").exists():
        print(f"generating the default synthetic drive into {args.data} (once)")
        generate_dataset(SynthOptions(out=args.data, scenes=1, frames=DEMO_FRAMES, seed=DEMO_SEED, val_scenes=1))
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model, config = load_detector(args.weights, device)
    dataset = NuScenesDataset(args.data, version)
    results = {}
    for scene in dataset.scene_names():
        source = NuScenesSource(dataset, scene, TopicMap(), keyframes_only=True, num_sweeps=config.lidar.num_sweeps)
        summary = replay(source, TopicMap(), model, config, device, args.out / scene,
                         ReplaySettings(keyframes_only=True, video=True))
        results |= read_results(args.out / scene / "results.json")["results"]
        latency = summary["latency_ms"]["total"]
        print(f"{scene}: {summary['frames']['detected']} keyframes replayed at {summary['throughput_fps']:.2f} fps "
              f"(p50 {latency['p50']:.0f} ms, p95 {latency['p95']:.0f} ms on {device}) -> {args.out / scene}")
    write_results(args.out / "results.json", results, use_camera=True, use_lidar=True)
    metrics = evaluate(args.data, version, "synth_all", args.out / "results.json", args.out / "eval")
    print(f"mAP {metrics['mAP']:.3f}, NDS {metrics['NDS']:.3f} over {len(results)} keyframes; "
          f"report {args.out / 'eval' / 'summary.md'}")
    print(f"per scene in {args.out}/<scene>/: detections.mcap (open in Foxglove), replay.mp4, results.json, "
          f"summary.json")


def run_bench(args) -> None:
    import torch

    from perception.bench import report_markdown, run_benchmarks, write_report
    from perception.models.config import load_config

    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    report = run_benchmarks(load_config(args.config), args.config.name, device, args.frames, args.warmup,
                            args.points, args.amp, not args.no_kernels, args.train_steps)
    write_report(report, args.out)
    print(report_markdown(report))
    print(f"written: {args.out / 'bench.json'}, {args.out / 'bench.md'}")


def run_export(args) -> None:
    from perception.train.checkpoint import export_weights

    print(f"wrote {export_weights(args.checkpoint, args.out)} and its .safetensors")


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except USER_ERRORS as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
