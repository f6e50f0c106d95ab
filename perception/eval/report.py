"""Reports of detection metrics: ``metrics.json``, a Markdown summary, the devkit's PR/TP plots, and a table
comparing runs (e.g. fused / lidar-only / camera-only on one split).

The metrics dict (``metrics_summary`` plus what ``evaluate`` adds) holds plain JSON values; metrics the devkit
leaves undefined (NaN, e.g. orientation error of traffic cones) are None.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from nuscenes.eval.detection.data_classes import DetectionMetricDataList, DetectionMetrics
from nuscenes.eval.detection.render import class_pr_curve, class_tp_curve, dist_pr_curve

from calib.atomic import atomic_write_bytes

TP_ERROR_NAMES = {"trans_err": "ATE", "scale_err": "ASE", "orient_err": "AOE", "vel_err": "AVE", "attr_err": "AAE"}
TP_ERROR_UNITS = {"ATE": "m", "ASE": "1-IoU", "AOE": "rad", "AVE": "m/s", "AAE": "1-acc"}
HEADLINE = ("mAP", "NDS", *(f"m{name}" for name in TP_ERROR_NAMES.values()))


# --- the metrics dict ----------------------------------------------------------------------------------------------
def metrics_summary(metrics: DetectionMetrics) -> dict:
    """mAP, NDS, mean TP errors (mATE ... mAAE), ``class_ap`` {class: {"0.5": AP, ..., "mean": AP}},
    ``class_tp_errors`` {class: {"ATE": ..., ...}} and ``tp_match_m`` (match distance of the TP errors)."""
    cfg = metrics.cfg
    mean_errors = metrics.tp_errors
    mean_aps = metrics.mean_dist_aps
    return {
        "mAP": metrics.mean_ap, "NDS": metrics.nd_score,
        **{f"m{short}": _defined(mean_errors[name]) for name, short in TP_ERROR_NAMES.items()},
        "class_ap": {c: {**{f"{t:g}": metrics.get_label_ap(c, t) for t in cfg.dist_ths}, "mean": float(mean_aps[c])}
                     for c in cfg.class_names},
        "class_tp_errors": {c: {short: _defined(metrics.get_label_tp(c, name))
                                for name, short in TP_ERROR_NAMES.items()} for c in cfg.class_names},
        "tp_match_m": cfg.dist_th_tp,
    }


def _defined(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


# --- files ---------------------------------------------------------------------------------------------------------
def write_metrics_json(summary: dict, path: str | Path) -> None:
    atomic_write_bytes(path, json.dumps(summary, indent=2, allow_nan=False).encode())


def write_summary_markdown(summary: dict, path: str | Path) -> None:
    atomic_write_bytes(path, summary_markdown(summary).encode())


def write_plots(metrics: DetectionMetrics, metric_data: DetectionMetricDataList, plot_dir: str | Path) -> list[Path]:
    """PR and TP-error curves per class and PR curves per match distance, by the devkit's renderers, as PNGs."""
    plot_dir = Path(plot_dir)
    plot_dir.mkdir(parents=True, exist_ok=True)
    cfg, paths = metrics.cfg, []
    for name in cfg.class_names:
        paths += [plot_dir / f"{name}_pr.png", plot_dir / f"{name}_tp.png"]
        class_pr_curve(metric_data, metrics, name, cfg.min_precision, cfg.min_recall, savepath=str(paths[-2]))
        class_tp_curve(metric_data, metrics, name, cfg.min_recall, cfg.dist_th_tp, savepath=str(paths[-1]))
    for threshold in cfg.dist_ths:
        paths.append(plot_dir / f"dist_pr_{threshold:g}m.png")
        dist_pr_curve(metric_data, metrics, threshold, cfg.min_precision, cfg.min_recall, savepath=str(paths[-1]))
    return paths


# --- Markdown ------------------------------------------------------------------------------------------------------
def _detector_lines(run: dict | None) -> list[str]:
    """The sentence naming the detector run that made the results, when ``perception eval`` ran one."""
    if not run:
        return []
    sweeps = run["lidar_past_sweeps"]
    lidar = "no lidar" if sweeps is None else f"lidar: the keyframe sweep and up to {sweeps} past sweeps"
    return [f"Detector `{run['checkpoint']}`, {run['modality']} ({lidar}).", ""]


def summary_markdown(summary: dict) -> str:
    """The whole report of one evaluation as Markdown."""
    classes = list(summary["class_ap"])
    thresholds = [key for key in next(iter(summary["class_ap"].values())) if key != "mean"]
    meta = summary["meta"]
    bands = summary["distance_bands"]
    lines = [
        f"# Detection metrics: {summary['split']} ({summary['version']})", "",
        f"Results `{summary['results_file']}` (camera: {_yes(meta['use_camera'])}, lidar: {_yes(meta['use_lidar'])}); "
        f"{summary['num_samples']} samples; {summary['num_gt_boxes']} GT boxes and {summary['num_pred_boxes']} "
        f"predictions after the devkit's range, lidar-point and bike-rack filters; config `{summary['config']}`.", "",
        *_detector_lines(summary.get("detector")),
        *_table([_header(name) for name in HEADLINE], [[_number(summary[name]) for name in HEADLINE]]), "",
        "## AP per class and match distance", "",
        *_table(["Class", "GT boxes", *(f"AP@{t} m" for t in thresholds), "AP (mean)"],
                [[c, str(summary["class_num_gt"][c]), *(_number(summary["class_ap"][c][key])
                                                        for key in [*thresholds, "mean"])] for c in classes]), "",
        "The devkit averages mAP and the mean TP errors over all classes, with AP 0 and errors 1 for classes "
        "without GT boxes.", "",
        f"## TP errors per class (matches within {summary['tp_match_m']:g} m)", "",
        *_table(["Class", *(_header(n) for n in TP_ERROR_UNITS)],
                [[c, *(_number(summary["class_tp_errors"][c][n]) for n in TP_ERROR_UNITS)] for c in classes]), "",
        "n/a: not defined for the class (the devkit ignores orientation of cones, velocity and attributes of cones "
        "and barriers). An error of exactly 1 is the devkit's value when it has nothing to measure: recall below "
        "10 %, or ground truth without velocity (single-annotation tracks) or attributes.", "",
        "## AP by distance from the ego (GT boxes in brackets)", "",
        *_table(["Class", *(f"{band} m" for band in bands)],
                [[c, *(_with_count(bands[b]["class_ap"][c], bands[b]["num_gt"][c]) for b in bands)] for c in classes]
                + [["**mAP**", *(_number(bands[b]["mAP"]) for b in bands)]]), "",
        "GT and predictions are each assigned to a band by their own distance and matched within it; the band mAP "
        "averages the classes with GT in the band.", "",
        "## Runtime", "",
        *_table(["Phase", "Seconds"], [[phase, f"{s:.2f}"] for phase, s in summary["runtime_s"].items()]), "",
    ]
    return "\n".join(lines)


def modality_table(runs: dict[str, dict]) -> str:
    """One Markdown table comparing named runs (e.g. {"fused": m1, "lidar-only": m2, "camera-only": m3}).

    Each value is a metrics dict from ``evaluate``; all runs must be on the same version, split and samples.
    """
    if not runs:
        raise ValueError("no runs to compare")
    settings = {name: (m["version"], m["split"], m["num_samples"]) for name, m in runs.items()}
    if len(set(settings.values())) > 1:
        listed = ", ".join(f"{name}: {v} {s} ({n} samples)" for name, (v, s, n) in settings.items())
        raise ValueError(f"runs are not on the same split, so they cannot be compared: {listed}")
    bands = list(next(iter(runs.values()))["distance_bands"])
    header = ["Run", *(_header(name) for name in HEADLINE), *(f"mAP {band} m" for band in bands)]
    rows = [[name, *(_number(m[key]) for key in HEADLINE), *(_number(m["distance_bands"][b]["mAP"]) for b in bands)]
            for name, m in runs.items()]
    return "\n".join(_table(header, rows)) + "\n"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(row) + " |" for row in rows)]


def _header(name: str) -> str:
    unit = TP_ERROR_UNITS.get(name.removeprefix("m"))
    return f"{name} ({unit})" if unit else name


def _number(value: float | None) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.3f}"


def _with_count(ap: float | None, count: int) -> str:
    return f"{_number(ap)} ({count})" if count else "–"


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"
