"""Camera + lidar BEV-fusion perception for driving data: replay, evaluate, visualize, train.

The public API::

    import perception
    detector = perception.load_detector("demo", device="cpu")   # or a path to weights/*.json
    dataset = perception.open_dataset("data/synth-default")      # the version is found when there is only one
    detections = detector.detect(dataset[0])                     # fused; modalities=("lidar",) for one branch
    detections.boxes, detections.scores, detections.class_names  # (N, 9) ego-frame boxes, (N,), list[str]
    detections.to_results(dataset[0])                            # nuScenes results entries

Layers. Each package imports only what is below it, and the import rules in ``pyproject.toml`` (checked by
``tests/test_layers.py``) keep it so:

- ``calib`` (sensor rig geometry, numpy only) is the bottom; ``perception.errors``, ``perception.typed_config`` and
  ``perception.boxes`` are shared by everything above it.
- ``ops`` (BEV pooling, voxelization, NMS) sits on ``calib``; ``models`` (encoders, fuser, decoder, head) on
  ``ops`` and knows no file, dataset or Frame: it consumes ``models.inputs.DetectorInput`` tensors.
- ``data`` (``Frame``, the nuScenes and KITTI loaders, sensor files, the nuScenes results format) sits beside
  ``models`` and never imports models, inference, train or replay; ``sim`` (the synthetic drive simulator) writes
  nuScenes-format data through ``data`` and knows nothing of models either.
- ``inference`` is the one way to run a trained model: weights, Frame → model input, detect, stage timings.
- Above it: ``eval`` (its metrics modules read results and ground truth only; ``eval.runner`` runs a detector over
  a split), ``viz``, ``train``, ``replay`` (which also uses ``viz`` for its video), ``bench``, and at the top the
  command line (``cli``, ``detect`` and each package's ``cli`` module). ``replay`` never imports the CLI or
  ``train``. There are no import cycles.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

__all__ = ["Detections", "Detector", "Frame", "load_detector", "open_dataset"]

if TYPE_CHECKING:
    from perception.data.frame import Frame
    from perception.data.nuscenes import NuScenesDataset
    from perception.inference import Detections, Detector


def load_detector(weights="demo", device="cpu", optimize: bool = True) -> "Detector":
    """A detector from ``"demo"`` (the shipped weights), a weights ``.json``/``.safetensors`` file or a training
    run folder, on ``device`` (``"cpu"``, ``"cuda"``, or None for CUDA when available); ``optimize`` False keeps the
    trained model as it is instead of folding its batch norms (same detections within float rounding, slower)."""
    from perception.inference import load_detector as load

    return load(weights, device, optimize=optimize)


def open_dataset(dataroot, version: str | None = None, num_sweeps: int = 9) -> "NuScenesDataset":
    """A nuScenes-format dataset (real nuScenes, or synthetic drives) whose ``dataset[i]`` is the ``Frame`` of its
    i-th keyframe with ``num_sweeps`` past lidar sweeps (a detector uses as many as it was trained with).
    ``version`` None finds the version folder when the dataroot holds exactly one."""
    from perception.data.nuscenes import NuScenesDataset

    return NuScenesDataset(dataroot, version, num_sweeps)


def __getattr__(name: str):
    """The API's classes, imported when first used (``import perception`` stays light for the command line)."""
    if name in ("Detections", "Detector"):
        import perception.inference as inference

        return getattr(inference, name)
    if name == "Frame":
        from perception.data.frame import Frame

        return Frame
    raise AttributeError(f"module 'perception' has no attribute '{name}'")
