"""Weights files: safetensors tensors + a JSON sidecar (config, classes, sha256 of the tensors); never pickle.

A pair ``<name>.safetensors`` + ``<name>.json`` is what training checkpoints and shipped weights share; a run
folder names its newest checkpoint in ``latest.json``. ``"demo"`` names the weights shipped with the package.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save

from calib.atomic import atomic_write_bytes
from perception.errors import DataError
from perception.models.config import DetectorConfig
from perception.models.detector import FusionDetector
from perception.typed_config import from_dict

FORMAT_VERSION = 1
DEMO_WEIGHTS = Path(__file__).resolve().parents[2] / "weights" / "demo.json"
NAMED_WEIGHTS = {"demo": DEMO_WEIGHTS}


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_pair(directory: Path, name: str, tensors: dict[str, torch.Tensor], meta: dict) -> Path:
    """``<name>.safetensors`` then its sidecar ``<name>.json`` (which records the tensor file's sha256)."""
    data = save({k: v.detach().contiguous().cpu() for k, v in tensors.items()})
    meta = {**meta, "tensors_file": f"{name}.safetensors", "tensors_sha256": digest(data)}
    atomic_write_bytes(directory / f"{name}.safetensors", data)
    atomic_write_bytes(directory / f"{name}.json", json.dumps(meta, indent=1).encode())
    return directory / f"{name}.json"


def resolve_checkpoint(path: str | Path) -> Path:
    """The sidecar JSON of weights given by name (``"demo"``), as their .json or .safetensors, or as a run folder
    with ``latest.json``."""
    if str(path) in NAMED_WEIGHTS:
        return NAMED_WEIGHTS[str(path)]
    path = Path(path)
    if path.is_dir():
        latest = path / "latest.json"
        if not latest.exists():
            raise DataError("no checkpoint here (latest.json is missing)", path)
        return path / json.loads(latest.read_text())["checkpoint"]
    return path.with_suffix(".json") if path.suffix == ".safetensors" else path


def load_checkpoint(path: str | Path) -> tuple[dict, dict[str, torch.Tensor]]:
    """(sidecar metadata, tensors) after checking the tensor file against its recorded sha256."""
    sidecar = resolve_checkpoint(path)
    try:
        meta = json.loads(sidecar.read_text())
    except FileNotFoundError:
        raise DataError("checkpoint file does not exist", sidecar) from None
    except json.JSONDecodeError as error:
        raise DataError(f"checkpoint sidecar is not valid JSON ({error})", sidecar) from None
    tensor_path = sidecar.parent / meta["tensors_file"]
    try:
        data = tensor_path.read_bytes()
    except FileNotFoundError:
        raise DataError("checkpoint tensor file does not exist", tensor_path) from None
    if digest(data) != meta["tensors_sha256"]:
        raise DataError("checkpoint tensor file is corrupt (sha256 does not match its sidecar)", tensor_path)
    return meta, load_file(str(tensor_path))


def model_state(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}


def load_model(path: str | Path, device: str | torch.device = "cpu",
               config: DetectorConfig | None = None) -> tuple[FusionDetector, DetectorConfig]:
    """(model in eval mode, its config) from weights. The config travels in the sidecar; a given ``config``
    (e.g. with another score threshold) replaces it and must describe the same network."""
    meta, tensors = load_checkpoint(path)
    config = config or from_dict(DetectorConfig, meta["config"], str(resolve_checkpoint(path)))
    model = FusionDetector(config)
    try:
        model.load_state_dict({k: v.float() for k, v in model_state(tensors).items()})
    except RuntimeError as error:
        raise DataError(f"checkpoint does not fit the config's network: {str(error).splitlines()[0]}",
                        resolve_checkpoint(path)) from None
    return model.to(device).eval(), config
