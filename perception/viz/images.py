"""Writing rendered images and videos without leaving partial files behind."""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from calib.atomic import atomic_write_bytes


def write_image(path: str | Path, rgb: np.ndarray) -> None:
    """Encode an RGB image by the path's extension (.png, .jpg) and write it atomically."""
    path = Path(path)
    ok, encoded = cv2.imencode(path.suffix, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError(f"{path}: OpenCV cannot encode images as '{path.suffix}'")
    atomic_write_bytes(path, encoded.tobytes())


class VideoFile:
    """An MP4 written to a temporary name and renamed on a clean close, so a crash never clobbers a good video."""

    def __init__(self, path: str | Path, fps: float):
        self.path, self.fps = Path(path), fps
        self.tmp = self.path.with_name(f".{self.path.stem}.tmp{self.path.suffix}")
        self.writer, self.size = None, None  # opened, and sized (width, height), by the first frame

    def write(self, rgb: np.ndarray) -> None:
        """Append an RGB frame; frames of another size than the first are resized to it (a video has one size)."""
        if self.writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.size = (rgb.shape[1], rgb.shape[0])
            self.writer = cv2.VideoWriter(str(self.tmp), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, self.size)
            if not self.writer.isOpened():
                raise OSError(f"{self.path}: OpenCV cannot open an MP4 writer here")
        if (rgb.shape[1], rgb.shape[0]) != self.size:
            rgb = cv2.resize(rgb, self.size, interpolation=cv2.INTER_AREA)
        self.writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if self.writer is not None:
            self.writer.release()
            if exc_type is None:
                os.replace(self.tmp, self.path)
            else:
                self.tmp.unlink(missing_ok=True)
