"""The fused frame: camera ring and BEV panel side by side under a caption; the unit of a video."""
from __future__ import annotations

from datetime import datetime, timezone

import cv2
import numpy as np

from perception.boxes import Boxes3D
from perception.data.frame import Frame
from perception.ops.grid import BEVGrid
from perception.viz.bev import BEVView, render_bev
from perception.viz.camera_view import camera_ring

CAPTION_HEIGHT = 30
CAPTION_COLOR, CAPTION_BACKGROUND = (235, 235, 235), (0, 0, 0)
DEFAULT_BEV_RANGE_M = 50.0


def format_timestamp(seconds: float) -> str:
    """A Unix time in seconds as ``YYYY-MM-DD HH:MM:SS.mmm UTC``."""
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"


def caption(frame: Frame, predictions: Boxes3D | None) -> str:
    """Scene, time and box counts of a frame, as burned into its fused image."""
    parts = [frame.scene_name or "?", format_timestamp(frame.timestamp), f"sample {frame.token[:8]}"]
    if frame.boxes is not None:
        parts.append(f"GT {len(frame.boxes)}")
    if predictions is not None:
        parts.append(f"predicted {len(predictions)}")
    return "   ".join(parts)


def with_caption(image: np.ndarray, text: str) -> np.ndarray:
    """``image`` (H, W, 3) under a black bar holding ``text``: (H + CAPTION_HEIGHT, W, 3)."""
    bar = np.empty((CAPTION_HEIGHT, image.shape[1], 3), dtype=np.uint8)
    bar[:] = CAPTION_BACKGROUND
    cv2.putText(bar, text, (10, CAPTION_HEIGHT - 9), cv2.FONT_HERSHEY_SIMPLEX, 0.6, CAPTION_COLOR, 1, cv2.LINE_AA)
    return np.vstack([bar, image])


def fused_frame(frame: Frame, predictions: Boxes3D | None = None, heat: dict[str, np.ndarray] | None = None,
                heat_grid: BEVGrid | None = None, tile_width: int = 480,
                bev_range_m: float = DEFAULT_BEV_RANGE_M) -> np.ndarray:
    """Camera ring (left) and a square BEV panel of ±``bev_range_m`` (right) as one RGB image under a caption.

    tile_width: width of one camera tile; the BEV panel is as tall as the ring. A frame without images gets the BEV
    panel alone (600 pixels tall). ``heat``/``heat_grid`` as in ``render_bev``.
    """
    ring = camera_ring(frame, width=tile_width, predictions=predictions) if frame.images else None
    extent = (-bev_range_m, bev_range_m)
    view = BEVView.fitting(ring.shape[0] if ring is not None else 600, extent, extent)
    bev = render_bev(view, frame.points, frame.boxes, predictions, heat, heat_grid)
    body = bev if ring is None else np.hstack([ring, bev])
    return with_caption(body, caption(frame, predictions))
