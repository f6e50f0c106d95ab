"""``perception eval``: score a results file, or run a detector over a split and score it, through the devkit."""
from __future__ import annotations

import argparse
from pathlib import Path

from perception.cli_args import add_dataset_arguments, add_device_argument
from perception.errors import DataError

DEFAULT_OUT = Path("outputs/eval")
MODALITY_CHOICES = ("fused", "lidar", "camera")


def add_eval_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--results", type=Path, default=None, help="nuScenes detection results JSON to evaluate")
    add_dataset_arguments(parser, scene=False, split=True)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for metrics.json, summary.md and plots/")
    detector = parser.add_argument_group("running a detector first")
    detector.add_argument("--checkpoint", type=Path, default=None,
                          help="weights (.json/.safetensors, a run folder, or 'demo') to run over the split first")
    detector.add_argument("--config", type=Path, default=None,
                          help="model YAML to use with --checkpoint instead of the one stored in it")
    detector.add_argument("--modality", choices=MODALITY_CHOICES, default="fused",
                          help="with --checkpoint: which sensors the detector gets")
    detector.add_argument("--modalities", action="store_true",
                          help="with --checkpoint: score fused, lidar-only and camera-only and write a modality table "
                               "(a single-branch model: its one modality)")
    detector.add_argument("--sweeps", type=int, default=None,
                          help="with --checkpoint: past lidar sweeps read per keyframe (default: the detector's "
                               "lidar.num_sweeps; 0 = the keyframe sweep alone, as a rig's first frame or KITTI)")
    add_device_argument(detector)


def run_eval(args: argparse.Namespace) -> dict:
    """Evaluate ``--results``, or run ``--checkpoint`` over the split and evaluate that; print the headline."""
    from perception.eval.evaluate import evaluate

    if args.checkpoint is not None:
        return run_detector_eval(args)
    if args.config is not None or args.modalities or args.modality != "fused" or args.sweeps is not None:
        raise DataError("--config, --modality, --modalities and --sweeps need --checkpoint (the detector to run)")
    if args.results is None:
        raise DataError("nothing to evaluate: pass --results FILE or --checkpoint WEIGHTS")
    metrics = evaluate(args.dataroot, args.version, args.split, args.results, args.out)
    print_headline(metrics["split"], metrics, args.out)
    return metrics


def run_detector_eval(args: argparse.Namespace) -> dict:
    """Detect on every keyframe of the split per modality, write results JSON, score each, and compare them."""
    from perception.data.nuscenes import NuScenesDataset
    from perception.eval.evaluate import split_sample_tokens
    from perception.eval.runner import score_detector
    from perception.inference import load_detector, modalities_of
    from perception.models.config import load_config

    if args.results is not None:
        raise DataError("pass either --results (score a file) or --checkpoint (run a detector), not both")
    detector = load_detector(args.checkpoint, args.device, load_config(args.config) if args.config else None)
    num_sweeps = detector.config.lidar.num_sweeps
    if args.sweeps is not None:
        if not 0 <= args.sweeps <= num_sweeps:
            raise DataError(f"--sweeps {args.sweeps}: this detector reads 0 to {num_sweeps} past sweeps "
                            "(lidar.num_sweeps)", args.checkpoint)
        num_sweeps = args.sweeps
    dataset = NuScenesDataset(args.dataroot, args.version, num_sweeps=num_sweeps)
    tokens = split_sample_tokens(dataset, args.split) if args.split else dataset.all_sample_tokens()
    available = modalities_of(detector.config)
    if args.modality not in ("fused", *available):
        raise DataError(f"--modality {args.modality}: this detector has no {args.modality} branch "
                        f"(it has {', '.join(available)})", args.checkpoint)
    # A single-branch model's fused run is its one branch's run: name it so.
    modalities = available if args.modalities or len(available) == 1 else (args.modality,)
    runs = score_detector(detector, dataset, args.split, tokens, modalities, args.out, checkpoint=str(args.checkpoint))
    for modality, metrics in runs.items():
        print_headline(f"{metrics['split']} ({modality})", metrics, args.out / modality if len(runs) > 1 else args.out)
    if len(runs) > 1:
        print(f"modality table: {args.out / 'modalities.md'}")
    return runs[modalities[0]]


def print_headline(name: str, metrics: dict, out: Path) -> None:
    errors = "  ".join(f"{key} {metrics[key]:.3f}" for key in ("mATE", "mASE", "mAOE", "mAVE", "mAAE")
                       if metrics[key] is not None)
    print(f"{name}: mAP {metrics['mAP']:.3f}  NDS {metrics['NDS']:.3f}  {errors}")
    print(f"report: {out / 'summary.md'}, metrics: {out / 'metrics.json'}, plots: {out / 'plots'}")
