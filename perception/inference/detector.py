"""``Detector``: a trained model and its config, run on a ``Frame``: preprocess → model → decode → ``Detections``.

The one way anything in the package runs a model. Each stage's time is returned as a value by ``detect_timed``.
"""
from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import torch

from perception.data.classes import CLASS_INDEX
from perception.data.frame import Frame
from perception.errors import DataError
from perception.inference.detections import Detections
from perception.inference.device import resolve_device
from perception.inference.optimize import inference_threads, optimize_for_inference
from perception.inference.preprocess import collate, frame_to_sample, recent_sweeps
from perception.inference.weights import load_model
from perception.models.config import DetectorConfig
from perception.models.detector import FusionDetector
from perception.models.inputs import DetectorInput

MODALITIES = {"fused": ("camera", "lidar"), "lidar": ("lidar",), "camera": ("camera",)}
"""The sensors each evaluation modality feeds the same model."""
SENSORS = ("camera", "lidar")


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
        use_cameras = "camera" in modalities and self.config.camera.enabled
        use_points = "lidar" in modalities and self.config.lidar.enabled
        if use_points:
            frame = replace(frame, points=recent_sweeps(frame.points, self.config.lidar.num_sweeps))
        sample = frame_to_sample(frame, frame.rig.camera_names if use_cameras else [],
                                 self.config.camera.image_size, use_points=use_points)
        return collate([sample]).to(self.device)

    def detect(self, frame: Frame, modalities: tuple[str, ...] = SENSORS) -> Detections:
        """Detections in the frame's ego frame; ``modalities=("lidar",)`` or ``("camera",)`` runs one branch."""
        return self.detect_timed(frame, modalities)[0]

    def detect_timed(self, frame: Frame, modalities: tuple[str, ...] = SENSORS) -> tuple[Detections, dict[str, float]]:
        """``detect`` and the seconds of its ``preprocess``, ``model`` and ``postprocess`` stages."""
        start = time.perf_counter()
        batch = self.model_input(frame, modalities)
        preprocess_s = time.perf_counter() - start
        detections, seconds = self.infer(batch)
        return detections, {"preprocess": preprocess_s, **seconds}

    def infer(self, batch: DetectorInput) -> tuple[Detections, dict[str, float]]:
        """Detections of a batch of one (``model_input``'s) and the seconds of its ``model`` and ``postprocess``
        stages; a pipeline prepares the next frame's input in another thread meanwhile."""
        start = time.perf_counter()
        with torch.no_grad():
            output = self.model(batch)
        if self.device.type == "cuda":  # CUDA runs asynchronously: wait, so the time is the model's
            torch.cuda.synchronize(self.device)
        model_end = time.perf_counter()
        decoded = self.model.decode(output)[0]
        boxes = decoded.boxes.double().cpu().numpy()
        labels = self.to_dataset_label[decoded.labels.cpu()].numpy()
        detections = Detections.from_arrays(boxes, decoded.scores.float().cpu().numpy(), labels)
        return detections, {"model": model_end - start, "postprocess": time.perf_counter() - model_end}


def load_detector(weights: str | Path = "demo", device: str | torch.device | None = "cpu",
                  config: DetectorConfig | None = None, optimize: bool = True) -> Detector:
    """A ``Detector`` from weights: ``"demo"`` (the shipped weights), a ``weights/*.json`` (or ``.safetensors``)
    file, or a training run folder. ``device`` None picks CUDA when available; ``config`` replaces the stored one
    (it must describe the same network, e.g. another score threshold). ``optimize`` folds batch norms and, on a CPU,
    uses channels-last weights and sets torch's threads to all cores but one (``perception.inference.optimize``);
    False keeps the model as trained (eager) and the threads as they are."""
    device = resolve_device(device)
    model, config = load_model(weights, device, config)
    if not optimize:
        return Detector(model, config, device)
    if device.type == "cpu":
        torch.set_num_threads(inference_threads())
    return Detector(optimize_for_inference(model), config, device)
