"""``perception eval``: arguments and the command that evaluates a results file."""
from __future__ import annotations

import argparse
from pathlib import Path

from perception.errors import DataError

DEFAULT_OUT = Path("outputs/eval")


def add_eval_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--results", type=Path, default=None, help="nuScenes detection results JSON to evaluate")
    parser.add_argument("--dataroot", type=Path, required=True, help="nuScenes-format dataset root")
    parser.add_argument("--version", default="v1.0-mini", help="version folder of the tables")
    parser.add_argument("--split", default="mini_val",
                        help="official split (e.g. mini_val, val) or a custom one from <version>/splits.json")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="folder for metrics.json, summary.md and plots/")
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="run this detector over the split first, then score its results")
    parser.add_argument("--config", type=Path, default=None,
                        help="model YAML to use with --checkpoint instead of the one stored in it")
    parser.add_argument("--modalities", action="store_true",
                        help="with --checkpoint: score fused, lidar-only and camera-only and write a modality table")
    parser.add_argument("--device", default=None, help="cpu or cuda for --checkpoint (default: cuda if available)")


def run_eval(args: argparse.Namespace) -> dict:
    """Evaluate ``--results``, or run ``--checkpoint`` over the split and evaluate that; print the headline."""
    from perception.eval.evaluate import evaluate

    if args.checkpoint is not None:
        return run_detector_eval(args)
    if args.config is not None or args.modalities:
        raise DataError("--config and --modalities need --checkpoint (the detector to run)")
    if args.results is None:
        raise DataError("nothing to evaluate: pass --results FILE or --checkpoint CKPT")
    metrics = evaluate(args.dataroot, args.version, args.split, args.results, args.out)
    print_headline(args.split, metrics, args.out)
    return metrics


def run_detector_eval(args: argparse.Namespace) -> dict:
    """Detect on every keyframe of the split, write results JSON per modality, score each, and compare them."""
    import time

    import torch

    from perception.data.nuscenes import NuScenesDataset
    from perception.detect import detect_split
    from perception.eval.evaluate import evaluate, split_sample_tokens
    from perception.eval.report import modality_table
    from perception.eval.results import write_results
    from perception.models.config import load_config
    from perception.train.checkpoint import load_detector

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    model, config = load_detector(args.checkpoint, device, load_config(args.config) if args.config else None)
    dataset = NuScenesDataset(args.dataroot, args.version, num_sweeps=config.lidar.num_sweeps)
    tokens = split_sample_tokens(dataset, args.split)
    runs = {}
    for modality in ("fused", "lidar", "camera") if args.modalities else ("fused",):
        out = args.out / modality if args.modalities else args.out
        start = time.perf_counter()
        results = detect_split(model, config, dataset, tokens, device, modality)
        inference_s = time.perf_counter() - start
        write_results(out / "results.json", results, use_camera=modality != "lidar", use_lidar=modality != "camera")
        runs[modality] = evaluate(args.dataroot, args.version, args.split, out / "results.json", out,
                                  earlier_phases={f"inference ({device})": inference_s})
        print_headline(f"{args.split} ({modality})", runs[modality], out)
    if args.modalities:
        from calib.atomic import atomic_write_bytes

        atomic_write_bytes(args.out / "modalities.md", modality_table(runs).encode())
        print(f"modality table: {args.out / 'modalities.md'}")
    return runs["fused"]


def print_headline(name: str, metrics: dict, out: Path) -> None:
    errors = "  ".join(f"{key} {metrics[key]:.3f}" for key in ("mATE", "mASE", "mAOE", "mAVE", "mAAE")
                       if metrics[key] is not None)
    print(f"{name}: mAP {metrics['mAP']:.3f}  NDS {metrics['NDS']:.3f}  {errors}")
    print(f"report: {out / 'summary.md'}, metrics: {out / 'metrics.json'}, plots: {out / 'plots'}")
