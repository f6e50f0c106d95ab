"""Run a detector on a Frame and write what it found (JSON + a camera-ring render)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from calib.atomic import atomic_write_bytes
from perception.boxes import Boxes3D
from perception.data.classes import (ATTRIBUTE_GROUP, CLASS_INDEX, DETECTION_CLASSES,
                                     MOVING_AND_STILL_ATTRIBUTE)
from perception.data.frame import Frame
from perception.data.preprocess import collate, frame_to_sample
from perception.models.config import DetectorConfig
from perception.models.detector import FusionDetector


MODALITIES = {"fused": (True, True), "lidar": (False, True), "camera": (True, False)}
"""Which inputs (cameras, points) each evaluation modality feeds the same fused model."""

MOVING_SPEED_M_S = 0.3
"""Above this predicted speed a detection gets its class's moving attribute (the head does not predict attributes)."""


def attributes_from_motion(boxes: np.ndarray, labels: np.ndarray) -> list[str]:
    """nuScenes attribute per box (M, 9) from its predicted speed; '' for cones and barriers."""
    speeds = np.hypot(boxes[:, 7], boxes[:, 8])
    attributes = []
    for speed, label in zip(speeds, labels):
        group = ATTRIBUTE_GROUP[DETECTION_CLASSES[label]]
        attributes.append(MOVING_AND_STILL_ATTRIBUTE[group][0 if speed > MOVING_SPEED_M_S else 1] if group else "")
    return attributes


def detect_frame(model: FusionDetector, config: DetectorConfig, frame: Frame, device,
                 modality: str = "fused") -> Boxes3D:
    """Detections in the frame's ego frame, labels as indices into DETECTION_CLASSES."""
    use_cameras, use_points = MODALITIES[modality]
    cameras = frame.rig.camera_names if config.camera.enabled and use_cameras else []
    sample = frame_to_sample(frame, cameras, config.camera.image_size, {},
                             use_points=config.lidar.enabled and use_points)
    batch, _, _ = collate([sample])
    detections = model.predict(batch.to(device))[0]
    to_dataset = torch.tensor([CLASS_INDEX[name] for name in config.classes])
    boxes, labels = detections.boxes.double().cpu().numpy(), to_dataset[detections.labels.cpu()].numpy()
    return Boxes3D(boxes, labels, scores=detections.scores.float().cpu().numpy(),
                   attributes=attributes_from_motion(boxes, labels))


def write_detections(out: Path, frame: Frame, detections: Boxes3D) -> None:
    """``detections.json`` (ego-frame boxes) and ``detections.jpg`` (camera ring with GT and predicted boxes)."""
    from perception.viz.camera_view import camera_ring
    from perception.viz.images import write_image

    records = [{"box": [round(float(v), 4) for v in box], "score": round(float(score), 4),
                "class": DETECTION_CLASSES[label]}
               for box, score, label in zip(detections.boxes, detections.scores, detections.labels)]
    atomic_write_bytes(out / "detections.json", json.dumps({"sample_token": frame.token, "frame": "ego",
                                                            "box_layout": "x y z l w h yaw vx vy",
                                                            "detections": records}, indent=1).encode())
    if frame.images:
        write_image(out / "detections.jpg", camera_ring(frame, with_points=False, predictions=detections))


def detect_split(model: FusionDetector, config: DetectorConfig, dataset, sample_tokens: list[str], device,
                 modality: str = "fused", progress: bool = True) -> dict[str, list[dict]]:
    """nuScenes results entries per sample token for every keyframe of a split."""
    from perception.eval.results import boxes_to_results

    results = {}
    for token in tqdm(sample_tokens, desc=f"detect ({modality})", unit="frame", disable=not progress):
        frame = dataset.frame(token, load_images=MODALITIES[modality][0] and config.camera.enabled)
        results[token] = boxes_to_results(detect_frame(model, config, frame, device, modality),
                                          frame.global_from_ego, token)
    return results
