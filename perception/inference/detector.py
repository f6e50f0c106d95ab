"""``Detector``: a trained model and its config, run on a ``Frame``: preprocess → model → decode → ``Detections``.

The one way anything in the package runs a model. Each stage's time is returned as a value by ``detect_timed``.
"""
from __future__ import annotations

import logging
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from perception.data.classes import CLASS_INDEX
from perception.data.frame import Frame
from perception.errors import DataError
from perception.inference.detections import Detections
from perception.inference.device import resolve_device
from perception.inference.optimize import optimize_for_inference
from perception.inference.preprocess import collate, frame_to_sample, recent_sweeps
from perception.inference.weights import load_model
from perception.models.config import DetectorConfig
from perception.models.detector import FusionDetector, fuser_branches
from perception.models.inputs import DetectorInput
from perception.ops.grid import BEVGrid

log = logging.getLogger(__name__)

MODALITIES = {"fused": ("camera", "lidar"), "lidar": ("lidar",), "camera": ("camera",)}
"""The sensors each evaluation modality feeds the same model."""
SENSORS = ("camera", "lidar")
MAX_BOX_SIZE_M = 50.0
"""No detection class is longer, wider or taller (nuScenes' longest, articulated buses and trailers, are ~20 m)."""


def modalities_of(config: DetectorConfig) -> tuple[str, ...]:
    """The evaluation modalities a model of ``config`` has: fused, lidar and camera with both branches, else the
    one branch it has (a single-branch model's fused run is that branch's)."""
    branches = tuple(fuser_branches(config))
    return tuple(MODALITIES) if len(branches) == 2 else branches


def sensors_used(config: DetectorConfig, sensors: tuple[str, ...]) -> frozenset[str]:
    """Of the ``sensors`` offered, those a model of ``config`` reads: the ones it has a branch for."""
    return frozenset(sensors) & fuser_branches(config).keys()


def plausible_boxes(boxes: np.ndarray, scores: np.ndarray, grid: BEVGrid) -> np.ndarray:
    """Which detections are possible at all (N,) bool: finite, centre inside the grid's x, y and z ranges widened by
    one cell (a centre is a cell plus a regressed offset), sizes in (0, ``MAX_BOX_SIZE_M``]. boxes: (N, 9)."""
    with np.errstate(invalid="ignore"):
        inside = np.ones(len(boxes), bool)
        for axis, (low, high) in enumerate((grid.x_range, grid.y_range, grid.z_range)):
            inside &= (boxes[:, axis] >= low - grid.cell) & (boxes[:, axis] <= high + grid.cell)
        sizes = ((boxes[:, 3:6] > 0) & (boxes[:, 3:6] <= MAX_BOX_SIZE_M)).all(axis=1)
    return np.isfinite(boxes).all(axis=1) & np.isfinite(scores) & inside & sizes


class Detector:
    """A model in eval mode on ``device`` with its config; ``detect`` runs it on one frame."""

    def __init__(self, model: FusionDetector, config: DetectorConfig, device: torch.device):
        self.model, self.config, self.device = model, config, device
        self.to_dataset_label = torch.tensor([CLASS_INDEX[name] for name in config.classes])

    def model_input(self, frame: Frame, modalities: tuple[str, ...] = SENSORS) -> DetectorInput:
        """The frame as a batch of one: the rig's cameras at the config's input size and the points of as many
        past sweeps as the config uses; a sensor left out of ``modalities`` (or disabled in the config) is absent."""
        unknown = set(modalities) - set(SENSORS)
        if unknown or not modalities:
            raise DataError(f"modalities must be a non-empty subset of {SENSORS}, got {tuple(modalities)}")
        used = sensors_used(self.config, modalities)
        use_cameras, use_points = "camera" in used, "lidar" in used
        if use_points:
            frame = replace(frame, points=recent_sweeps(frame.points, self.config.lidar.num_sweeps))
        sample = frame_to_sample(frame, frame.rig.camera_names if use_cameras else [],
                                 self.config.camera.image_size, use_points=use_points,
                                 ego_box=self.config.lidar.ego_box)
        return collate([sample]).to(self.device)

    def detect(self, frame: Frame, modalities: tuple[str, ...] = SENSORS) -> Detections:
        """Detections in the frame's ego frame; ``modalities=("lidar",)`` or ``("camera",)`` runs one branch."""
        return self.detect_timed(frame, modalities)[0]

    def detect_timed(self, frame: Frame, modalities: tuple[str, ...] = SENSORS) -> tuple[Detections, dict[str, float]]:
        """``detect`` and the seconds of its ``preprocess``, ``model`` and ``postprocess`` stages."""
        start = time.perf_counter()
        batch = self.model_input(frame, modalities)
        preprocess_s = time.perf_counter() - start
        detections, seconds = self.infer(batch, frame.token)
        return detections, {"preprocess": preprocess_s, **seconds}

    def infer(self, batch: DetectorInput, frame_token: str = "") -> tuple[Detections, dict[str, float]]:
        """Detections of a batch of one (``model_input``'s) and the seconds of its ``model`` and ``postprocess``
        stages; a pipeline prepares the next frame's input in another thread meanwhile. Boxes no real scene has
        (non-finite, outside the grid, absurd sizes) are dropped with a warning naming ``frame_token``."""
        start = time.perf_counter()
        with torch.no_grad():
            output = self.model(batch)
        if self.device.type == "cuda":  # CUDA runs asynchronously: wait, so the time is the model's
            torch.cuda.synchronize(self.device)
        model_end = time.perf_counter()
        decoded = self.model.decode(output)[0]
        boxes, scores = decoded.boxes.double().cpu().numpy(), decoded.scores.float().cpu().numpy()
        labels = self.to_dataset_label[decoded.labels.cpu()].numpy()
        keep = plausible_boxes(boxes, scores, self.config.bev)
        if not keep.all():
            log.warning("frame %s: dropped %d of %d detections with non-finite values, a centre outside the BEV "
                        "grid or a size over %g m (corrupt input or weights?)", frame_token, (~keep).sum(),
                        len(keep), MAX_BOX_SIZE_M)
        detections = Detections.from_arrays(boxes[keep], scores[keep], labels[keep])
        return detections, {"model": model_end - start, "postprocess": time.perf_counter() - model_end}


def load_detector(weights: str | Path = "demo", device: str | torch.device | None = "cpu",
                  config: DetectorConfig | None = None, optimize: bool = True) -> Detector:
    """A ``Detector`` from weights: ``"demo"`` (the shipped weights), a ``weights/*.json`` (or ``.safetensors``)
    file, or a training run folder. ``device`` None picks CUDA when available; ``config`` replaces the stored one
    (it must describe the same network, e.g. another score threshold). ``optimize`` folds batch norms and, on a CPU,
    uses channels-last weights (``perception.inference.optimize``); False keeps the model as trained (eager)."""
    device = resolve_device(device)
    model, config = load_model(weights, device, config)
    return Detector(optimize_for_inference(model) if optimize else model, config, device)
