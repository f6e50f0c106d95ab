"""Score a detector: run it over the keyframes of a split per modality, write results files, evaluate each.

This sits above ``perception.inference``; the metrics themselves (``evaluate``, ``report``) read results and ground
truth only.
"""
from __future__ import annotations

import time
from pathlib import Path

from tqdm import tqdm

from calib.atomic import atomic_write_bytes
from perception.data.nuscenes import NuScenesDataset
from perception.data.results import write_results
from perception.eval.evaluate import evaluate
from perception.eval.report import modality_table
from perception.inference import MODALITIES, Detector, sensors_used


def detect_keyframes(detector: Detector, dataset: NuScenesDataset, sample_tokens: list[str],
                     modality: str = "fused", progress: bool = True) -> dict[str, list[dict]]:
    """nuScenes results entries per sample token for the given keyframes."""
    sensors = MODALITIES[modality]
    load_images = "camera" in sensors_used(detector.config, sensors)
    results = {}
    for token in tqdm(sample_tokens, desc=f"detect ({modality})", unit="frame", disable=not progress):
        frame = dataset.frame(token, load_images=load_images)
        results[token] = detector.detect(frame, sensors).to_results(frame)
    return results


def score_detector(detector: Detector, dataset: NuScenesDataset, split: str | None, sample_tokens: list[str],
                   modalities: tuple[str, ...], out: Path, checkpoint: str, progress: bool = True) -> dict[str, dict]:
    """Metrics per modality (``fused``, ``lidar``, ``camera``), each in ``out/<modality>`` when there are several,
    plus ``out/modalities.md`` comparing them; each run's metrics name ``checkpoint``, the modality and the past
    sweeps the detector read (the dataset's, at most its ``lidar.num_sweeps``)."""
    runs = {}
    for modality in modalities:
        folder = out / modality if len(modalities) > 1 else out
        start = time.perf_counter()
        results = detect_keyframes(detector, dataset, sample_tokens, modality, progress)
        inference_s = time.perf_counter() - start
        used = sensors_used(detector.config, MODALITIES[modality])
        write_results(folder / "results.json", results, use_camera="camera" in used, use_lidar="lidar" in used)
        sweeps = min(dataset.num_sweeps, detector.config.lidar.num_sweeps) if "lidar" in used else None
        run = {"checkpoint": checkpoint, "modality": modality, "lidar_past_sweeps": sweeps}
        runs[modality] = evaluate(dataset.dataroot, dataset.version, split, folder / "results.json", folder,
                                  earlier_phases={f"inference ({detector.device})": inference_s}, detector_run=run)
    if len(modalities) > 1:
        atomic_write_bytes(out / "modalities.md", modality_table(runs).encode())
    return runs
