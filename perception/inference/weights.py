"""Weights files: safetensors tensors + a JSON sidecar (config, classes, sha256 of the tensors and of the config and
classes); never pickle. Every way a pair can be damaged is one ``DataError`` naming the file.

A pair ``<name>.safetensors`` + ``<name>.json`` is what training checkpoints and shipped weights share; a run
folder names its newest checkpoint in ``latest.json``. ``"demo"`` names the weights shipped with the package.
"""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load, save

from calib.atomic import atomic_write_bytes
from perception.errors import DataError
from perception.models.config import DetectorConfig
from perception.models.detector import FusionDetector
from perception.typed_config import from_dict

FORMAT_VERSION = 1
DEMO_WEIGHTS = Path(__file__).resolve().parents[2] / "weights" / "demo.json"
NAMED_WEIGHTS = {"demo": DEMO_WEIGHTS}
SIDECAR_KEYS = ("config", "classes", "tensors_file", "tensors_sha256", "meta_sha256")

log = logging.getLogger(__name__)


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def meta_digest(meta: dict) -> str:
    """sha256 of the canonical JSON of a sidecar's config and class list: a reordered class list (which would
    permute the labels silently) or an edited config no longer matches the ``meta_sha256`` written with them."""
    covered = {"config": meta["config"], "classes": meta["classes"]}
    return digest(json.dumps(covered, sort_keys=True, separators=(",", ":")).encode())


def write_pair(directory: Path, name: str, tensors: dict[str, torch.Tensor], meta: dict) -> Path:
    """``<name>.safetensors`` then its sidecar ``<name>.json`` (which records the tensor file's sha256 and that of
    its own config and classes)."""
    data = save({k: v.detach().contiguous().cpu() for k, v in tensors.items()})
    meta = {**meta, "tensors_file": f"{name}.safetensors", "tensors_sha256": digest(data),
            "meta_sha256": meta_digest(meta)}
    atomic_write_bytes(directory / f"{name}.safetensors", data)
    atomic_write_bytes(directory / f"{name}.json", json.dumps(meta, indent=1).encode())
    return directory / f"{name}.json"


def latest_checkpoint(run: Path) -> Path:
    """The sidecar that a run folder's ``latest.json`` names."""
    latest = run / "latest.json"
    if not latest.exists():
        raise DataError("no checkpoint here (latest.json is missing)", run)
    try:
        name = json.loads(latest.read_text())["checkpoint"]
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as error:
        raise DataError(f"latest.json is corrupt ({type(error).__name__}: {error}); it should name the newest "
                        f"checkpoint, e.g. {{\"checkpoint\": \"ckpt-00001000.json\"}}", latest) from None
    if not isinstance(name, str):
        raise DataError(f"latest.json names no checkpoint file ({name!r})", latest)
    return run / name


def resolve_checkpoint(path: str | Path) -> Path:
    """The sidecar JSON of weights given by name (``"demo"``), as their .json or .safetensors, or as a run folder
    with ``latest.json``."""
    if str(path) in NAMED_WEIGHTS:
        return NAMED_WEIGHTS[str(path)]
    path = Path(path)
    if path.is_dir():
        return latest_checkpoint(path)
    return path.with_suffix(".json") if path.suffix == ".safetensors" else path


def read_sidecar(sidecar: Path) -> dict:
    """A sidecar's metadata, after checking that it has every required key and that its config and classes are
    those its ``meta_sha256`` was computed over."""
    try:
        meta = json.loads(sidecar.read_text())
    except FileNotFoundError:
        raise DataError("checkpoint file does not exist", sidecar) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DataError(f"checkpoint sidecar is not valid JSON ({error})", sidecar) from None
    if not isinstance(meta, dict):
        raise DataError("checkpoint sidecar is not a JSON object", sidecar)
    missing = [key for key in SIDECAR_KEYS if key not in meta]
    if missing == ["meta_sha256"]:
        raise DataError("checkpoint sidecar has no meta_sha256 (written by an older version, so its config and "
                        "class list cannot be verified)", sidecar)
    if missing:
        raise DataError(f"checkpoint sidecar has no {', '.join(missing)}", sidecar)
    if meta_digest(meta) != meta["meta_sha256"]:
        raise DataError("checkpoint sidecar's config or class list was changed after it was written (meta_sha256 "
                        "does not match)", sidecar)
    return meta


def read_pair(sidecar: Path) -> tuple[dict, dict[str, torch.Tensor]]:
    """(sidecar metadata, tensors) of one weights pair, both checked against the sidecar's hashes."""
    meta = read_sidecar(sidecar)
    tensor_path = sidecar.parent / meta["tensors_file"]
    try:
        data = tensor_path.read_bytes()
    except FileNotFoundError:
        raise DataError("checkpoint tensor file does not exist", tensor_path) from None
    if digest(data) != meta["tensors_sha256"]:
        raise DataError("checkpoint tensor file is corrupt (sha256 does not match its sidecar)", tensor_path)
    try:
        return meta, load(data)
    except SafetensorError as error:
        raise DataError(f"checkpoint tensor file is not a valid safetensors file ({error})", tensor_path) from None


def read_checkpoint(path: str | Path) -> tuple[Path, dict, dict[str, torch.Tensor]]:
    """(sidecar used, metadata, tensors) of weights given as for ``resolve_checkpoint``. In a run folder whose
    latest checkpoint is damaged, the newest intact older one is used, with a warning."""
    sidecar = resolve_checkpoint(path)
    try:
        return sidecar, *read_pair(sidecar)
    except DataError as damaged:
        if str(path) in NAMED_WEIGHTS or not Path(path).is_dir():
            raise
        for older in sorted((p for p in sidecar.parent.glob("ckpt-*.json") if p.name < sidecar.name), reverse=True):
            try:
                meta, tensors = read_pair(older)
            except DataError:
                continue
            log.warning("%s; using the previous intact checkpoint %s (step %s)", damaged, older.name, meta.get("step"))
            return older, meta, tensors
        raise


def load_checkpoint(path: str | Path) -> tuple[dict, dict[str, torch.Tensor]]:
    """(sidecar metadata, tensors) after checking them against the sidecar's hashes (``read_checkpoint``)."""
    _, meta, tensors = read_checkpoint(path)
    return meta, tensors


def model_state(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}


def load_model(path: str | Path, device: str | torch.device = "cpu",
               config: DetectorConfig | None = None) -> tuple[FusionDetector, DetectorConfig]:
    """(model in eval mode, its config) from weights. The config travels in the sidecar; a given ``config``
    (e.g. with another score threshold) replaces it and must describe the same network."""
    sidecar, meta, tensors = read_checkpoint(path)
    config = config or from_dict(DetectorConfig, meta["config"], str(sidecar))
    return model_from_tensors(config, tensors, sidecar).to(device).eval(), config


def model_from_tensors(config: DetectorConfig, tensors: dict[str, torch.Tensor], sidecar: Path) -> FusionDetector:
    """The network of ``config`` holding the model tensors of a checkpoint; one error naming ``sidecar`` when they
    do not fit it."""
    model = FusionDetector(config)
    try:
        model.load_state_dict({k: v.float() for k, v in model_state(tensors).items()})
    except RuntimeError as error:
        raise DataError(f"checkpoint does not fit the config's network: {str(error).splitlines()[0]}",
                        sidecar) from None
    return model
