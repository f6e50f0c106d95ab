"""Choosing the torch device: CUDA when there is one, and a clear error when CUDA is asked for but absent."""
from __future__ import annotations

import torch

from perception.errors import DataError


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``device`` as a torch device (None: ``cuda`` when available, else ``cpu``); asking for CUDA on a machine
    without a usable GPU is a ``DataError``, not a crash deep inside the first kernel."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        chosen = torch.device(device)
    except RuntimeError as error:
        raise DataError(f"--device: {error}") from None
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise DataError(f"--device {device}: no CUDA GPU is available on this machine (use --device cpu)")
    if chosen.type not in ("cpu", "cuda"):
        raise DataError(f"--device {device}: only cpu and cuda are supported")
    return chosen
