"""Checkpoints: safetensors tensors + a JSON sidecar, written atomically; exact training resume; never pickle.

A checkpoint ``ckpt-<step>`` is two files: ``.safetensors`` (model weights, optimizer tensors, torch RNG states) and
``.json`` (config, classes, version, optimizer hyper-parameters, scheduler, scaler, numpy/python RNG, epoch, step,
and the sha256 of the tensor file). ``latest.json`` names the newest complete checkpoint and is replaced last, so
a kill at any moment leaves the previous checkpoint usable.
"""
from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save

from calib.atomic import atomic_write_bytes
from perception.errors import DataError

FORMAT_VERSION = 1


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """Split an optimizer state dict into named tensors and JSON-able rest."""
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for param_id, values in state["state"].items():
        for name, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer.{param_id}.{name}"] = value
            else:
                scalars.setdefault(str(param_id), {})[name] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def restore_optimizer(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, param_id, name = key.split(".", 2)
            state.setdefault(int(param_id), {})[name] = value
    for param_id, values in meta["scalars"].items():
        state.setdefault(int(param_id), {}).update(values)
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def rng_state() -> tuple[dict[str, torch.Tensor], dict]:
    tensors = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    python_state = random.getstate()
    numpy_state = np.random.get_state(legacy=False)
    numpy_state["state"]["key"] = numpy_state["state"]["key"].tolist()
    return tensors, {"numpy": numpy_state,
                     "python": [python_state[0], list(python_state[1]), python_state[2]]}


def restore_rng(tensors: dict[str, torch.Tensor], meta: dict) -> None:
    torch.set_rng_state(tensors["rng.torch"])
    cuda = [tensors[k] for k in sorted(k for k in tensors if k.startswith("rng.cuda."))]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda[:torch.cuda.device_count()])
    numpy_state = dict(meta["numpy"], state=dict(meta["numpy"]["state"]))
    numpy_state["state"]["key"] = np.asarray(numpy_state["state"]["key"], dtype=np.uint32)
    np.random.set_state(numpy_state)
    version, state, gauss = meta["python"]
    random.setstate((version, tuple(state), gauss))


def save_checkpoint(directory: str | Path, step: int, epoch: int, model: torch.nn.Module, config: dict,
                    classes: list[str], optimizer=None, scheduler=None, scaler=None, keep: int = 2) -> Path:
    """Write ``ckpt-<step>`` and point ``latest.json`` at it; keep the newest ``keep`` checkpoints."""
    directory = Path(directory)
    tensors = {f"model.{k}": v.detach().contiguous() for k, v in model.state_dict().items()}
    meta = {"format": FORMAT_VERSION, "step": step, "epoch": epoch, "config": config, "classes": classes}
    if optimizer is not None:
        optimizer_part, meta["optimizer"] = optimizer_tensors(optimizer)
        tensors.update(optimizer_part)
        meta["scheduler"] = scheduler.state_dict() if scheduler is not None else None
        meta["scaler"] = scaler.state_dict() if scaler is not None else None
        rng_part, meta["rng"] = rng_state()
        tensors.update(rng_part)
    name = f"ckpt-{step:08d}"
    write_pair(directory, name, tensors, meta)
    atomic_write_bytes(directory / "latest.json", json.dumps({"checkpoint": f"{name}.json"}).encode())
    for old in sorted(directory.glob("ckpt-*.json"))[:-keep]:
        old.unlink()
        (directory / old.name.replace(".json", ".safetensors")).unlink(missing_ok=True)
    return directory / f"{name}.json"


def write_pair(directory: Path, name: str, tensors: dict[str, torch.Tensor], meta: dict) -> Path:
    """``<name>.safetensors`` then its sidecar ``<name>.json`` (which records the tensor file's sha256)."""
    data = save({k: v.detach().contiguous().cpu() for k, v in tensors.items()})
    meta = {**meta, "tensors_file": f"{name}.safetensors", "tensors_sha256": _digest(data)}
    atomic_write_bytes(directory / f"{name}.safetensors", data)
    atomic_write_bytes(directory / f"{name}.json", json.dumps(meta, indent=1).encode())
    return directory / f"{name}.json"


def export_weights(checkpoint_path: str | Path, out_path: str | Path) -> Path:
    """A model-only copy of a training checkpoint (no optimizer or RNG state), e.g. to ship as demo weights.

    ``out_path`` names the pair without extension: ``weights/demo`` → ``weights/demo.safetensors`` + ``.json``.
    """
    meta, tensors = load_checkpoint(checkpoint_path)
    out_path = Path(out_path)
    kept = {k: v for k, v in tensors.items() if k.startswith("model.")}
    source = {"exported_from": resolve_checkpoint(checkpoint_path).name}
    return write_pair(out_path.parent, out_path.name, kept, {key: meta[key] for key in
                                                             ("format", "step", "epoch", "config", "classes")} | source)


def resolve_checkpoint(path: str | Path) -> Path:
    """The sidecar JSON of a checkpoint given as its .json, its .safetensors, or a directory with latest.json."""
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
    if _digest(data) != meta["tensors_sha256"]:
        raise DataError("checkpoint tensor file is corrupt (sha256 does not match its sidecar)", tensor_path)
    return meta, load_file(str(tensor_path))


def model_state(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}


def load_detector(path: str | Path, device: str | torch.device = "cpu", config=None):
    """(model in eval mode, its config) from a checkpoint. The config travels in the sidecar; a given ``config``
    (e.g. with another score threshold) replaces it and must describe the same network."""
    from perception.models.config import DetectorConfig
    from perception.models.detector import FusionDetector
    from perception.typed_config import from_dict

    meta, tensors = load_checkpoint(path)
    config = config or from_dict(DetectorConfig, meta["config"], str(resolve_checkpoint(path)))
    model = FusionDetector(config)
    try:
        model.load_state_dict({k: v.float() for k, v in model_state(tensors).items()})
    except RuntimeError as error:
        raise DataError(f"checkpoint does not fit the config's network: {str(error).splitlines()[0]}",
                        resolve_checkpoint(path)) from None
    return model.to(device).eval(), config
