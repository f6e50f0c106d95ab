"""Checkpoints: safetensors tensors + a JSON sidecar, written atomically; exact training resume; never pickle.

A checkpoint ``ckpt-<step>`` is a weights pair (``perception.inference.weights``): ``.safetensors`` (model weights,
optimizer tensors, torch RNG states) and ``.json`` (model config, training config, classes, version, optimizer
hyper-parameters, scheduler, scaler, numpy/python RNG, epoch, step, and the sha256 of the tensor file and of the
config and classes). ``latest.json`` names the newest complete checkpoint and is replaced last, so a kill at any
moment leaves the previous checkpoint usable; a damaged latest checkpoint is passed over for the previous intact
one when loading.
"""
from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import torch

from calib.atomic import atomic_write_bytes, remove_stale_temps
from perception.errors import DataError
from perception.inference.weights import FORMAT_VERSION, model_from_tensors, model_state, read_checkpoint, write_pair
from perception.models.config import DetectorConfig
from perception.models.detector import FusionDetector, branch_modules, fuser_branches
from perception.models.fuser import ConvFuser, rearrange_branches
from perception.typed_config import from_dict, to_dict


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


def checkpoint_name(step: int) -> str:
    """The name (without extension) of the checkpoint written at ``step``."""
    return f"ckpt-{step:08d}"


def save_checkpoint(directory: str | Path, step: int, epoch: int, model: torch.nn.Module, config: dict,
                    classes: list[str], optimizer=None, scheduler=None, scaler=None, keep: int = 2,
                    train_config: dict | None = None) -> Path:
    """Write ``ckpt-<step>`` and point ``latest.json`` at it; keep the newest ``keep`` checkpoints. ``config`` is
    the model's (all that exported weights keep), ``train_config`` the run's training settings."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(directory)
    tensors = {f"model.{k}": v.detach().contiguous() for k, v in model.state_dict().items()}
    meta = {"format": FORMAT_VERSION, "step": step, "epoch": epoch, "config": config, "classes": classes}
    if train_config is not None:
        meta["train_config"] = train_config
    if optimizer is not None:
        optimizer_part, meta["optimizer"] = optimizer_tensors(optimizer)
        tensors.update(optimizer_part)
        meta["scheduler"] = scheduler.state_dict() if scheduler is not None else None
        meta["scaler"] = scaler.state_dict() if scaler is not None else None
        rng_part, meta["rng"] = rng_state()
        tensors.update(rng_part)
    name = checkpoint_name(step)
    write_pair(directory, name, tensors, meta)
    atomic_write_bytes(directory / "latest.json", json.dumps({"checkpoint": f"{name}.json"}).encode())
    for old in sorted(directory.glob("ckpt-*.json"))[:-keep]:
        old.unlink()
        (directory / old.name.replace(".json", ".safetensors")).unlink(missing_ok=True)
    return directory / f"{name}.json"


def initial_weights(model: FusionDetector, path: str | Path) -> tuple[list[str], list[str], list[str]]:
    """Load the model tensors of weights or a checkpoint at ``path`` into ``model`` to start a run from them, e.g.
    to add an input to a trained network or to train one branch of a fused network on its own; returns (tensors
    whose input channels grew, tensors the weights lack, tensors of a branch the model does not have).

    Tensors are matched by name. One whose second dimension (a layer's input channels) grew keeps its weights for
    the leading channels and starts the appended ones at zero, so the new inputs first change nothing and are
    learned from there; tensors the weights lack keep their initialisation. A branch (camera, lidar) the model does
    not have is left out, and the fuser keeps the input channels of the branches both have (``rearrange_branches``).
    Any other shape change, or a tensor the model has no place for, is an error naming it.
    """
    sidecar, meta, tensors = read_checkpoint(path)
    source, target = model_state(tensors), model.state_dict()
    source, left_out = branches_of(model.config, source, from_dict(DetectorConfig, meta["config"], str(sidecar)),
                                   sidecar)
    unused = sorted(source.keys() - target.keys())
    if unused:
        raise DataError(f"the model has no place for {len(unused)} of these tensors ({', '.join(unused[:3])}); "
                        f"init_from needs weights of this network, whose layers may since have gained inputs", sidecar)
    state, grown = shaped_for(source, target, sidecar, grow=True)
    model.load_state_dict(state, strict=False)
    return grown, sorted(target.keys() - source.keys()), left_out


def branch_weights(model: FusionDetector, path: str | Path, branch: str) -> list[str]:
    """Load the tensors of ``branch`` (``camera`` or ``lidar``: the encoder and its conv onto the fused grid) from
    the weights at ``path`` into ``model``, replacing what it had, e.g. to start a fused run from a camera-only
    model's camera branch (BEVFusion); returns their names. The branch must be the same network in both."""
    sidecar, _, tensors = read_checkpoint(path)
    prefixes = tuple(f"{module}." for module in branch_modules(branch))
    source = {name: value for name, value in model_state(tensors).items() if name.startswith(prefixes)}
    target = {name: value for name, value in model.state_dict().items() if name.startswith(prefixes)}
    if not source:
        raise DataError(f"these weights have no {branch} branch", sidecar)
    if source.keys() != target.keys():
        differ = sorted(source.keys() ^ target.keys())
        raise DataError(f"the {branch} branch here is another network than the model's ({len(differ)} tensors in one "
                        f"only, e.g. {differ[0]})", sidecar)
    model.load_state_dict(shaped_for(source, target, sidecar, grow=False)[0], strict=False)
    return sorted(source)


def shaped_for(source: dict[str, torch.Tensor], target: dict[str, torch.Tensor], sidecar: Path,
               grow: bool) -> tuple[dict[str, torch.Tensor], list[str]]:
    """(``source``'s tensors in ``target``'s dtypes, names of those that grew): each must have its ``target``
    namesake's shape, or with ``grow`` differ only in more input channels (second dimension), the appended ones
    starting at zero. Anything else is an error naming the tensor."""
    state, grown = {}, []
    for name, value in sorted(source.items()):
        shape, old = target[name].shape, value.shape
        if shape == old:
            state[name] = value.to(target[name].dtype)
        elif grow and len(shape) >= 2 and len(shape) == len(old) and shape[0] == old[0] and shape[2:] == old[2:] \
                and shape[1] > old[1]:
            state[name] = torch.zeros_like(target[name])
            state[name][:, :old[1]] = value
            grown.append(name)
        else:
            raise DataError(f"tensor {name} is {tuple(old)} here but {tuple(shape)} in the model", sidecar)
    return state, grown


def branches_of(config: DetectorConfig, source: dict[str, torch.Tensor], source_config: DetectorConfig,
                sidecar: Path) -> tuple[dict[str, torch.Tensor], list[str]]:
    """(``source``, a network of ``source_config``'s tensors, with the branches of ``config``'s network, names of
    the tensors left out): the modules of a branch ``config`` lacks go, and the fuser's input columns follow."""
    have, want = fuser_branches(source_config), fuser_branches(config)
    if have == want:
        return source, []
    for name in have.keys() & want.keys():
        if have[name] != want[name]:
            raise DataError(f"the {name} branch feeds the fuser {have[name]} channels here but {want[name]} in the "
                            f"model", sidecar)
    dropped = {module for branch in have.keys() - want.keys() for module in branch_modules(branch)}
    kept = {name: value for name, value in source.items() if name.split(".")[0] not in dropped}
    fuser_weight = f"fuser.{ConvFuser.WEIGHT}"
    kept[fuser_weight] = rearrange_branches(source[fuser_weight], have, want)
    return kept, sorted(source.keys() - kept.keys())


def export_weights(checkpoint_path: str | Path, out_path: str | Path, config: DetectorConfig | None = None) -> Path:
    """A model-only copy of a training checkpoint (no optimizer or RNG state), e.g. to ship as demo weights.

    ``out_path`` names the pair without extension: ``weights/demo`` → ``weights/demo.safetensors`` + ``.json``.
    A given ``config`` is stored instead of the trained one (new decoding settings: score threshold, NMS, heading
    rules); it must describe the same network, which loading the tensors into it checks.
    """
    sidecar, meta, tensors = read_checkpoint(checkpoint_path)
    if config is not None:
        model_from_tensors(config, tensors, sidecar)
        meta = meta | {"config": to_dict(config)}
    out_path = Path(out_path)
    kept = {k: v for k, v in tensors.items() if k.startswith("model.")}
    source = {"exported_from": sidecar.name}
    return write_pair(out_path.parent, out_path.name, kept, {key: meta[key] for key in
                                                             ("format", "step", "epoch", "config", "classes")} | source)


