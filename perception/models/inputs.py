"""``DetectorInput``: the tensors a detector consumes for a batch (models never see files or Frames)."""
from __future__ import annotations

from dataclasses import dataclass, fields

import torch


@dataclass
class DetectorInput:
    """A batch of B samples with N cameras each (the same camera names across the batch).

    images: (B, N, 3, H, W) normalised, or None when no camera is available; intrinsics (B, N, 3, 3) of the
    original images; ego_from_camera (B, N, 4, 4) including ego motion to the lidar time; image_from_input
    (B, N, 3, 3) maps network-input pixels to original pixels; camera_valid (B, N) bool (a missing image is zeros
    and masked out). points (P, 5) x, y, z, intensity, dt of all samples, point_batch (P,) their sample index.
    bev_aug (B, 4, 4): the global augmentation already applied to points and boxes (identity at inference).
    """

    batch_size: int
    points: torch.Tensor
    point_batch: torch.Tensor
    bev_aug: torch.Tensor
    images: torch.Tensor | None = None
    intrinsics: torch.Tensor | None = None
    ego_from_camera: torch.Tensor | None = None
    image_from_input: torch.Tensor | None = None
    camera_valid: torch.Tensor | None = None

    def to(self, device: torch.device | str) -> "DetectorInput":
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return DetectorInput(**{k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v
                                for k, v in values.items()})

    @property
    def has_cameras(self) -> bool:
        return self.images is not None and bool(self.camera_valid.any())
