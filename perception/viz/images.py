"""Writing rendered images and videos without leaving partial files behind."""
from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from calib.atomic import atomic_write_bytes

H264_CODEC = "libx264"


def write_image(path: str | Path, rgb: np.ndarray) -> None:
    """Encode an RGB image by the path's extension (.png, .jpg) and write it atomically."""
    path = Path(path)
    ok, encoded = cv2.imencode(path.suffix, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError(f"{path}: OpenCV cannot encode images as '{path.suffix}'")
    atomic_write_bytes(path, encoded.tobytes())


class VideoFile:
    """An H.264 MP4 (``avc1``, yuv420p, index at the front: plays in browsers) written through PyAV to a temporary
    name and renamed on a clean close, so a crash never clobbers a good video."""

    def __init__(self, path: str | Path, fps: float):
        self.path, self.fps = Path(path), fps
        self.tmp = self.path.with_name(f".{self.path.stem}.tmp{self.path.suffix}")
        self.container, self.stream, self.size = None, None, None  # opened, and sized (width, height), by frame 1

    def write(self, rgb: np.ndarray) -> None:
        """Append an RGB (H, W, 3) uint8 frame; frames of another size than the first are resized to it (a video has
        one size), odd sizes are padded by a black row or column (yuv420p needs even ones)."""
        if self.container is None:
            self._open(width=rgb.shape[1], height=rgb.shape[0])
        if (rgb.shape[1], rgb.shape[0]) != self.size:
            rgb = cv2.resize(rgb, self.size, interpolation=cv2.INTER_AREA)
        even = np.pad(rgb, ((0, rgb.shape[0] % 2), (0, rgb.shape[1] % 2), (0, 0)))
        self.container.mux(self.stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(even), format="rgb24")))

    def _open(self, width: int, height: int) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.size = (width, height)
        self.container = av.open(str(self.tmp), "w", format="mp4", options={"movflags": "+faststart"})
        self.stream = self.container.add_stream(H264_CODEC, rate=Fraction(self.fps).limit_denominator(1000))
        self.stream.width, self.stream.height = width + width % 2, height + height % 2
        self.stream.pix_fmt = "yuv420p"

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if self.container is None:
            return
        try:
            if exc_type is None:
                self.container.mux(self.stream.encode(None))  # flush the encoder's delayed frames
        finally:
            self.container.close()
        if exc_type is None:
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)
