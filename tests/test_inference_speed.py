"""The optimised inference path (batch norms folded, channels-last) detects what the trained model detects."""
from dataclasses import replace

import numpy as np
import torch

import perception
from perception.inference import load_detector
from perception.inference.optimize import fold_batch_norms, inference_threads, optimize_for_inference
from perception.models.config import load_config
from perception.models.detector import FusionDetector


def test_optimised_detector_detects_as_the_eager_one(synth_root):
    """Compared at a low score threshold, so that each modality, the camera alone included, yields boxes."""
    frame = perception.open_dataset(synth_root)[0]
    config = perception.load_detector("demo", device="cpu").config
    config = replace(config, head=replace(config.head, score_threshold=0.02))
    eager = load_detector("demo", device="cpu", config=config, optimize=False)
    optimised = load_detector("demo", device="cpu", config=config)
    for modalities in (("camera", "lidar"), ("camera",), ("lidar",)):
        expected, found = eager.detect(frame, modalities), optimised.detect(frame, modalities)
        assert len(expected) > 0 and abs(len(found) - len(expected)) <= 2
        # a list cut at max_detections may lack anything below its lowest score that the other list kept
        head = eager.config.head
        threshold = max([head.score_threshold] + [float(d.scores.min()) for d in (expected, found)
                                                   if len(d) == head.max_detections])
        cell = eager.config.bev.cell
        assert_each_has_its_equal(found, expected, comparable(found.scores, threshold), cell)
        assert_each_has_its_equal(expected, found, comparable(expected.scores, threshold), cell)


MARGIN = 0.01
"""Detections this close to the score threshold may fall on either side of it after float rounding."""


def comparable(scores: np.ndarray, threshold: float, atol: float = 1e-4) -> np.ndarray:
    """Detections clear of the score threshold whose score no other detection ties: on a plateau of equal scores
    (an empty stretch of the BEV map) rounding decides which cells non-maximum suppression keeps."""
    ties = (np.abs(scores[:, None] - scores[None]) <= atol).sum(axis=1) > 1
    return (scores >= threshold + MARGIN) & ~ties


def assert_each_has_its_equal(these, others, selected: np.ndarray, cell_m: float, atol: float = 1e-3):
    """Each selected detection of ``these`` has its equal (class, box and score within ``atol``) among ``others``;
    detections whose scores tie within rounding may come in either order. Where two cells near a peak score within
    rounding of each other, rounding decides which one is the peak: up to two detections may have theirs (same class
    and score) up to two cells away instead."""
    same = np.abs(these.scores[selected, None] - others.scores[None]) <= atol
    same &= these.labels[selected, None] == others.labels[None]
    equal = same & np.all(np.abs(these.boxes[selected, None] - others.boxes[None]) <= atol, axis=2)
    moved = same & (np.hypot(*(these.boxes[selected, None, :2] - others.boxes[None, :, :2]).transpose(2, 0, 1))
                    <= 2 * cell_m + 1e-3)
    assert selected.sum() > 0 and (equal | moved).any(axis=1).all()
    assert (~equal.any(axis=1)).sum() <= 2


def test_every_batch_norm_after_a_convolution_is_folded():
    model = FusionDetector(load_config("configs/demo.yaml")).eval()
    left = [m for m in optimize_for_inference(model).modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert left == [] and fold_batch_norms(model) == 0  # nothing left to fold a second time


def test_the_model_leaves_one_core_to_the_other_stages():
    assert [inference_threads(cores) for cores in (1, 2, 16)] == [1, 1, 15]
