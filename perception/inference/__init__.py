"""The one way to run a trained model: load weights, turn a ``Frame`` into model input, detect, time the stages.

``load_detector("demo")`` (or a path to weights) gives a ``Detector``; ``Detector.detect(frame)`` gives
``Detections`` with class names and nuScenes results entries. Replay, evaluation runs, visualisation, benchmarks and
training all run models through this package.
"""
from perception.inference.detections import Detections
from perception.inference.detector import MODALITIES, Detector, load_detector, modalities_of, sensors_used

__all__ = ["MODALITIES", "Detections", "Detector", "load_detector", "modalities_of", "sensors_used"]
