"""nuScenes detection metrics of a results file, computed by nuscenes-devkit's ``DetectionEval``, plus AP per
distance band from the devkit's own ``accumulate``/``calc_ap``.

Works on any nuScenes-format version and split: official splits (e.g. ``mini_val`` of ``v1.0-mini``), custom ones
from ``<dataroot>/<version>/splits.json``, or (split None) exactly the keyframes a results file covers.
"""
from __future__ import annotations

import contextlib
import json
import tempfile
import time
from pathlib import Path
from unittest import mock

import numpy as np
from nuscenes.eval.common.config import config_factory
from nuscenes.eval.common.data_classes import EvalBoxes
from nuscenes.eval.detection.algo import accumulate, calc_ap
from nuscenes.eval.detection.data_classes import DetectionConfig
from nuscenes.eval.detection import evaluate as devkit_evaluate
from nuscenes.eval.detection.evaluate import DetectionEval

from perception.data.classes import detection_class_of
from perception.data.nuscenes import LIDAR_CHANNEL, NuScenesDataset
from perception.errors import DataError
from perception.eval.report import metrics_summary, write_metrics_json, write_plots, write_summary_markdown
from perception.data.results import read_results

EVAL_CONFIG = "detection_cvpr_2019"
DISTANCE_BANDS = ((0.0, 20.0), (20.0, 30.0), (30.0, 50.0))
"""Bands of xy distance from the ego (m) for the AP breakdown; 50 m is the largest class range of the config."""
PLACEHOLDER_DISTANCE_M = 1000.0  # beyond every class range of the config
RESULTS_SAMPLES = "samples of the results file"
"""The split label when a results file is scored on the keyframes it covers (no ``--split``)."""


class PhaseTimer:
    """Wall-clock seconds per named phase: ``with timer("load"): ...``."""

    def __init__(self):
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, phase: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[phase] = time.perf_counter() - start


def evaluate(dataroot: str | Path, version: str | None, split: str | None, results_path: str | Path,
             out_dir: str | Path, plots: bool = True, earlier_phases: dict[str, float] | None = None,
             detector_run: dict | None = None) -> dict:
    """Evaluate a results file on a split (None: on the keyframes it covers; version None: the dataroot's one
    version); write ``metrics.json``, ``summary.md`` and (if ``plots``) PNG plots
    under ``out_dir/plots``; return the metrics as written to ``metrics.json`` (see ``report.metrics_summary``).
    ``earlier_phases`` (e.g. the inference that made the results) are reported first among the runtimes;
    ``detector_run`` (the weights, modality and past sweeps that made them) is recorded as ``detector``.
    """
    out_dir = Path(out_dir)
    timer = PhaseTimer()
    timer.seconds.update(earlier_phases or {})
    with timer("load database"):
        dataset = NuScenesDataset(dataroot, version)
        sample_tokens = split_sample_tokens(dataset, split) if split is not None else None
    with timer("validate results"):
        document = read_results(results_path, sample_tokens)
        if split is None:
            sample_tokens = results_sample_tokens(dataset, document, results_path)
    with timer("devkit: load and filter boxes"):
        devkit = devkit_evaluation(dataset, split, sample_tokens, Path(results_path), document, out_dir)
    with timer("devkit: match and score"):
        metrics, metric_data = devkit.evaluate()
    with timer("AP per distance band"):
        bands = distance_band_aps(devkit.gt_boxes, devkit.pred_boxes, devkit.cfg)
    if plots:
        with timer("plots"):
            write_plots(metrics, metric_data, out_dir / "plots")
    summary = {"dataroot": str(dataroot), "version": dataset.version, "split": split or RESULTS_SAMPLES,
               "results_file": str(results_path), **({"detector": detector_run} if detector_run else {}),
               "meta": document["meta"], "config": EVAL_CONFIG, "num_samples": len(sample_tokens),
               "num_gt_boxes": len(devkit.gt_boxes.all), "num_pred_boxes": len(devkit.pred_boxes.all),
               "class_num_gt": count_by_class(devkit.gt_boxes, devkit.cfg.class_names),
               **metrics_summary(metrics), "distance_bands": bands, "runtime_s": timer.seconds}
    write_metrics_json(summary, out_dir / "metrics.json")
    write_summary_markdown(summary, out_dir / "summary.md")
    return summary


def split_sample_tokens(dataset: NuScenesDataset, split: str) -> list[str]:
    """Sample tokens of an official or custom split, in scene and time order; DataError if it has none."""
    tokens = dataset.all_sample_tokens(split)
    if not tokens:
        raise DataError(f"split '{split}' has no samples in this version", dataset.dataroot / dataset.version)
    return tokens


def results_sample_tokens(dataset: NuScenesDataset, document: dict, results_path: str | Path) -> list[str]:
    """The keyframes a results file covers, each of which must be a sample of the dataset."""
    known = set(dataset.all_sample_tokens())
    unknown = [token for token in document["results"] if token not in known]
    if unknown:
        raise DataError(f"{len(unknown)} sample tokens are not keyframes of {dataset.dataroot / dataset.version}, "
                        f"e.g. '{unknown[0]}'", results_path)
    if not document["results"]:
        raise DataError("results cover no keyframe; nothing to evaluate", results_path)
    return list(document["results"])


def devkit_evaluation(dataset: NuScenesDataset, split: str | None, sample_tokens: list[str], results_path: Path,
                      document: dict, out_dir: Path) -> DetectionEval:
    """The devkit's ``DetectionEval`` with GT and predictions loaded and filtered (range, lidar points, bike racks).

    Without a split, the devkit's custom-split path is given ``sample_tokens`` as the split's keyframes (through
    its ``get_samples_of_custom_split`` hook), so it loads exactly those ground truths and predictions.

    The devkit crashes when a split has no predicted box at all; then it reads a copy of the results holding one
    placeholder box beyond every class range, which its own range filter removes before matching, so the metrics
    are exactly those of an empty prediction set (AP 0, TP errors 1, NDS 0).
    """
    if not any(_has_detection_class(dataset, token) for token in document["results"]):
        raise DataError(f"split '{split or RESULTS_SAMPLES}' has no ground-truth boxes of the detection classes; "
                        "nothing to evaluate", dataset.dataroot / dataset.version)
    with tempfile.TemporaryDirectory() as scratch:
        if not any(document["results"].values()):
            results_path = Path(scratch) / "results_with_placeholder.json"
            results_path.write_text(json.dumps(_with_placeholder_box(dataset, document)))
        split_keyframes = contextlib.nullcontext() if split is not None else mock.patch.object(
            devkit_evaluate, "get_samples_of_custom_split", lambda split_name, nusc: sample_tokens)
        try:
            with split_keyframes:
                return DetectionEval(dataset.nusc, config_factory(EVAL_CONFIG), str(results_path),
                                     split or RESULTS_SAMPLES, output_dir=str(out_dir), verbose=False)
        except (AssertionError, ValueError) as error:  # the devkit validates its inputs with assertions
            raise DataError(f"nuscenes-devkit rejected split '{split or RESULTS_SAMPLES}': {error}",
                            dataset.dataroot / dataset.version) from None


def _has_detection_class(dataset: NuScenesDataset, sample_token: str) -> bool:
    nusc = dataset.nusc
    return any(detection_class_of(nusc.get("sample_annotation", ann)["category_name"]) is not None
               for ann in nusc.get("sample", sample_token)["anns"])


def _with_placeholder_box(dataset: NuScenesDataset, document: dict) -> dict:
    token = next(iter(document["results"]))
    nusc = dataset.nusc
    lidar = nusc.get("sample_data", nusc.get("sample", token)["data"][LIDAR_CHANNEL])
    x, y, z = nusc.get("ego_pose", lidar["ego_pose_token"])["translation"]
    placeholder = {"sample_token": token, "translation": [x + PLACEHOLDER_DISTANCE_M, y, z], "size": [1.0, 1.0, 1.0],
                   "rotation": [1.0, 0.0, 0.0, 0.0], "velocity": [0.0, 0.0], "detection_name": "car",
                   "detection_score": 0.0, "attribute_name": "vehicle.parked"}
    return {**document, "results": {**document["results"], token: [placeholder]}}


def distance_band_aps(gt_boxes: EvalBoxes, pred_boxes: EvalBoxes, cfg: DetectionConfig,
                      bands=DISTANCE_BANDS) -> dict[str, dict]:
    """AP per class within each band of xy distance from the ego, by the devkit's ``accumulate`` and ``calc_ap``.

    Inputs are the devkit's already filtered boxes. GT and predictions are each kept in a band by their own
    distance (the devkit's ``ego_dist``) and matched only within it, so a prediction just across a band edge from
    its GT counts as a false positive in one band and the GT as missed in the other. A class's AP is the mean over
    the match distances, as in mAP. Classes without GT in a band get None (e.g. cones, evaluated to 30 m only);
    a band's mAP is the mean over the classes with GT there.
    Returns ``{"0-20": {"mAP": float | None, "class_ap": {class: float | None}, "num_gt": {class: int}}, ...}``.
    """
    result = {}
    for near, far in bands:
        gt_band, pred_band = boxes_in_band(gt_boxes, near, far), boxes_in_band(pred_boxes, near, far)
        num_gt = count_by_class(gt_band, cfg.class_names)
        class_ap = {name: float(np.mean([
            calc_ap(accumulate(gt_band, pred_band, name, cfg.dist_fcn_callable, threshold),
                    cfg.min_recall, cfg.min_precision)
            for threshold in cfg.dist_ths])) if num_gt[name] else None for name in cfg.class_names}
        aps = [ap for ap in class_ap.values() if ap is not None]
        result[f"{near:g}-{far:g}"] = {"mAP": float(np.mean(aps)) if aps else None, "class_ap": class_ap,
                                       "num_gt": num_gt}
    return result


def boxes_in_band(boxes: EvalBoxes, near: float, far: float) -> EvalBoxes:
    """The boxes whose xy distance from the ego is in [near, far), every sample kept (possibly empty)."""
    band = EvalBoxes()
    for token in boxes.sample_tokens:
        band.add_boxes(token, [box for box in boxes[token] if near <= box.ego_dist < far])
    return band


def count_by_class(boxes: EvalBoxes, class_names: list[str]) -> dict[str, int]:
    """Number of boxes of each class."""
    names = [box.detection_name for box in boxes.all]
    return {name: names.count(name) for name in class_names}
