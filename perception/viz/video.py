"""MP4 videos of fused frames (camera ring + BEV), one video frame per keyframe, timestamps burned in."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

from perception.boxes import Boxes3D
from perception.data.frame import Frame
from perception.viz.fused import fused_frame
from perception.viz.images import VideoFile

KEYFRAME_FPS = 2.0  # nuScenes keyframes come at 2 Hz: real time


def write_scene_video(path: str | Path, frames: Iterable[tuple[Frame, Boxes3D | None]], fps: float = KEYFRAME_FPS,
                      tile_width: int = 480) -> int:
    """Write one fused image per (frame, predictions or None) pair to an MP4 at ``path``; returns the frame count.

    Pairs are consumed one at a time, so a generator keeps a single frame in memory.
    """
    count = 0
    with VideoFile(path, fps) as video:
        for count, (frame, predictions) in enumerate(frames, start=1):
            video.write(fused_frame(frame, predictions, tile_width=tile_width))
    return count
