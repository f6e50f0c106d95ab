"""Bird's-eye-view panel (OpenCV, no GL): lidar points, ego vehicle, range rings, boxes, BEV feature heat maps.

The panel shows the ego frame from above with ego +x (forward) up and +y (left) to the left, as a driver would
draw it. ``BEVView`` is the one mapping between metres and pixels; everything is drawn through it.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from calib import box_corners
from perception.boxes import Boxes3D
from perception.data.classes import DETECTION_CLASSES
from perception.ops.grid import BEVGrid
from perception.viz.style import CLASS_COLORS, class_colors, height_colors

SHIFT = 4  # OpenCV drawing with 1/16-pixel precision
BACKGROUND = (18, 18, 22)
GRID_COLOR, RING_COLOR, LABEL_COLOR = (48, 48, 56), (80, 80, 92), (150, 150, 165)
EGO_FOOTPRINT_M = (-1.0, 3.2, 0.9)  # rear, front, half width around the rear axle (nuScenes' Renault Zoe)
EGO_COLOR = (235, 235, 235)
VELOCITY_HORIZON_S = 1.0  # a velocity arrow ends where the box will be after this long
MIN_ARROW_SPEED = 0.2  # m/s; slower boxes get no arrow
GT_FILL_ALPHA = 0.35
HEAT_TINTS = {"camera": (255, 40, 200), "lidar": (0, 200, 255)}
"""Overlay colour of each branch's BEV feature heat map."""
HEAT_ALPHA = 0.6
FONT = cv2.FONT_HERSHEY_SIMPLEX


@dataclass(frozen=True)
class BEVView:
    """Metres ↔ pixels of a top-down panel covering ``x_range`` × ``y_range`` (min, max) metres of the ego frame.

    Pixel coordinates (u, v) are continuous with (0, 0) the panel's top-left corner: u grows to the right (ego −y),
    v grows downwards (ego −x). The pixel at integer index (i, j) covers [i, i+1) × [j, j+1).
    """

    x_range: tuple[float, float] = (-50.0, 50.0)
    y_range: tuple[float, float] = (-50.0, 50.0)
    pixels_per_metre: float = 8.0

    @classmethod
    def fitting(cls, height_px: int, x_range=(-50.0, 50.0), y_range=(-50.0, 50.0)) -> "BEVView":
        """The view of these ranges whose panel is ``height_px`` pixels tall."""
        return cls(tuple(x_range), tuple(y_range), height_px / (x_range[1] - x_range[0]))

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) of the panel in pixels."""
        return (round((self.x_range[1] - self.x_range[0]) * self.pixels_per_metre),
                round((self.y_range[1] - self.y_range[0]) * self.pixels_per_metre))

    def to_pixels(self, xy: np.ndarray) -> np.ndarray:
        """Ego x, y (..., 2) metres → pixel u, v (..., 2)."""
        xy = np.asarray(xy, dtype=np.float64)
        return np.stack([(self.y_range[1] - xy[..., 1]) * self.pixels_per_metre,
                         (self.x_range[1] - xy[..., 0]) * self.pixels_per_metre], axis=-1)

    def to_metres(self, uv: np.ndarray) -> np.ndarray:
        """Pixel u, v (..., 2) → ego x, y (..., 2) metres; the inverse of ``to_pixels``."""
        uv = np.asarray(uv, dtype=np.float64)
        return np.stack([self.x_range[1] - uv[..., 1] / self.pixels_per_metre,
                         self.y_range[1] - uv[..., 0] / self.pixels_per_metre], axis=-1)


def fixed_point(uv: np.ndarray) -> np.ndarray:
    """Pixel coordinates (..., 2) as int32 for OpenCV drawing with ``shift=SHIFT``."""
    return np.rint(np.asarray(uv) * (1 << SHIFT)).astype(np.int32)


def font_scale(view: BEVView) -> float:
    """Text size that stays readable from small video panels to large stills."""
    return float(np.clip(view.shape[0] / 1400, 0.33, 0.6))


# --- feature heat maps ----------------------------------------------------------------------------------------------
def feature_heat(features: np.ndarray) -> np.ndarray:
    """Heat (ny, nx) float32 in [0, 1] of a BEV feature map (C, ny, nx): channel-wise L2 norm, min-max normalised.

    The top is the 99th percentile, so a few very strong cells do not wash out the rest.
    """
    norm = np.linalg.norm(np.asarray(features, dtype=np.float32), axis=0)
    low, high = float(norm.min()), float(np.percentile(norm, 99))
    return np.clip((norm - low) / max(high - low, 1e-12), 0, 1).astype(np.float32)


def branch_heat(branch_features: dict, index: int = 0) -> dict[str, np.ndarray]:
    """Heat maps (ny, nx) of sample ``index`` from ``FusionDetector.branch_features`` (absent branches skipped)."""
    return {name: feature_heat(features[index].detach().float().cpu().numpy())
            for name, features in branch_features.items() if features is not None}


def heat_on_view(heat: np.ndarray, grid: BEVGrid, view: BEVView) -> np.ndarray:
    """Resample heat (ny, nx) on ``grid`` (row iy along ego +y, column ix along ego +x) onto the panel (H, W).

    One affine warp does the axis swap and both flips; cells outside the grid read 0.
    """
    # Grid cell (ix, iy) has its centre at x0 + (ix + 0.5) cell, y0 + (iy + 0.5) cell; OpenCV puts pixel centres at
    # integer coordinates in both images, hence the half-pixel terms.
    ppm, cell = view.pixels_per_metre, grid.cell
    u0 = (view.y_range[1] - grid.y_range[0] - 0.5 * cell) * ppm - 0.5
    v0 = (view.x_range[1] - grid.x_range[0] - 0.5 * cell) * ppm - 0.5
    panel_from_grid = np.array([[0.0, -cell * ppm, u0], [-cell * ppm, 0.0, v0]])
    height, width = view.shape
    return cv2.warpAffine(np.asarray(heat, dtype=np.float32), panel_from_grid, (width, height),
                          flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def draw_heat(canvas: np.ndarray, view: BEVView, heat: np.ndarray, grid: BEVGrid, tint) -> np.ndarray:
    """Blend ``tint`` into the panel in proportion to heat (ny, nx) on ``grid``."""
    weight = HEAT_ALPHA * heat_on_view(heat, grid, view)[..., None]
    canvas[:] = (canvas * (1 - weight) + np.asarray(tint, dtype=np.float32) * weight).astype(np.uint8)
    return canvas


# --- static layers --------------------------------------------------------------------------------------------------
def grid_lines(bounds: tuple[float, float], spacing_m: float) -> np.ndarray:
    """Multiples of ``spacing_m`` strictly inside ``bounds`` (min, max)."""
    values = np.arange(np.floor(bounds[0] / spacing_m), np.ceil(bounds[1] / spacing_m) + 1) * spacing_m
    return values[(values > bounds[0]) & (values < bounds[1])]


def draw_grid(canvas: np.ndarray, view: BEVView, spacing_m: float = 10.0, ring_spacing_m: float = 20.0) -> np.ndarray:
    """Grid lines every ``spacing_m``, labelled along the left (x) and bottom (y) edges; range rings in metres."""
    height, width = view.shape
    scale = font_scale(view)
    for x in grid_lines(view.x_range, spacing_m):
        v = view.to_pixels([x, 0.0])[1]
        cv2.line(canvas, tuple(fixed_point([0, v])), tuple(fixed_point([width, v])), GRID_COLOR, 1, cv2.LINE_AA, SHIFT)
        cv2.putText(canvas, f"{x:+.0f}", (3, int(v) - 3), FONT, scale, LABEL_COLOR, 1, cv2.LINE_AA)
    for y in grid_lines(view.y_range, spacing_m):
        u = view.to_pixels([0.0, y])[0]
        cv2.line(canvas, tuple(fixed_point([u, 0])), tuple(fixed_point([u, height])), GRID_COLOR, 1, cv2.LINE_AA, SHIFT)
        cv2.putText(canvas, f"{y:+.0f}", (int(u) + 3, height - 5), FONT, scale, LABEL_COLOR, 1, cv2.LINE_AA)
    reach = np.abs(np.array([view.x_range, view.y_range])).max() * np.sqrt(2)
    centre = view.to_pixels([0.0, 0.0])
    for radius in np.arange(ring_spacing_m, reach, ring_spacing_m):
        radius_px = radius * view.pixels_per_metre
        cv2.circle(canvas, tuple(fixed_point(centre)), int(round(radius_px * (1 << SHIFT))), RING_COLOR, 1,
                   cv2.LINE_AA, SHIFT)
        label_at = centre + radius_px * np.array([-np.sqrt(0.5), -np.sqrt(0.5)])  # up and to the left
        cv2.putText(canvas, f"{radius:.0f} m", tuple(int(c) for c in label_at + 3), FONT, scale, RING_COLOR, 1,
                    cv2.LINE_AA)
    return canvas


def draw_points_bev(canvas: np.ndarray, view: BEVView, points: np.ndarray) -> np.ndarray:
    """Lidar points (N, ≥3) in the ego frame as single pixels coloured by height, higher points on top."""
    order = np.argsort(points[:, 2])
    points = points[order]
    pixels = np.floor(view.to_pixels(points[:, :2])).astype(np.int64)
    height, width = view.shape
    inside = (pixels[:, 0] >= 0) & (pixels[:, 0] < width) & (pixels[:, 1] >= 0) & (pixels[:, 1] < height)
    canvas[pixels[inside, 1], pixels[inside, 0]] = height_colors(points[inside, 2])
    return canvas


def draw_ego(canvas: np.ndarray, view: BEVView) -> np.ndarray:
    """The ego vehicle's footprint with a notch at the front."""
    rear, front, half = EGO_FOOTPRINT_M
    outline = view.to_pixels([[front, half], [front, -half], [rear, -half], [rear, half]])
    nose = view.to_pixels([[front, 0.0], [front - half, half * 0.6], [front - half, -half * 0.6]])
    cv2.polylines(canvas, [fixed_point(outline)], True, EGO_COLOR, 1, cv2.LINE_AA, SHIFT)
    cv2.fillPoly(canvas, [fixed_point(nose)], EGO_COLOR, cv2.LINE_AA, SHIFT)
    return canvas


# --- boxes ----------------------------------------------------------------------------------------------------------
def draw_boxes_bev(canvas: np.ndarray, view: BEVView, boxes: Boxes3D, filled: bool, thickness: int) -> np.ndarray:
    """Box footprints in their class colours with a heading tick (centre → front) and a velocity arrow.

    ``filled`` shades the footprint (the ground-truth style); boxes with scores are labelled with them.
    """
    if len(boxes) == 0:
        return canvas
    footprints = view.to_pixels(box_corners(boxes.boxes)[:, :4, :2])  # bottom face: FL, FR, RR, RL
    colors = class_colors(boxes.labels)
    if filled:
        shade = canvas.copy()
        for footprint, color in zip(footprints, colors):
            cv2.fillPoly(shade, [fixed_point(footprint)], color, cv2.LINE_AA, SHIFT)
        cv2.addWeighted(shade, GT_FILL_ALPHA, canvas, 1 - GT_FILL_ALPHA, 0, dst=canvas)
    centres = view.to_pixels(boxes.boxes[:, :2])
    fronts = footprints[:, :2].mean(axis=1)
    ends = view.to_pixels(boxes.boxes[:, :2] + VELOCITY_HORIZON_S * np.nan_to_num(boxes.boxes[:, 7:9]))
    moving = np.hypot(*np.nan_to_num(boxes.boxes[:, 7:9]).T) >= MIN_ARROW_SPEED
    scale = font_scale(view)
    for index, (footprint, color) in enumerate(zip(footprints, colors)):
        cv2.polylines(canvas, [fixed_point(footprint)], True, color, thickness, cv2.LINE_AA, SHIFT)
        cv2.line(canvas, tuple(fixed_point(centres[index])), tuple(fixed_point(fronts[index])), color, thickness,
                 cv2.LINE_AA, SHIFT)
        if moving[index]:
            cv2.arrowedLine(canvas, tuple(fixed_point(centres[index])), tuple(fixed_point(ends[index])), color, 1,
                            cv2.LINE_AA, SHIFT, tipLength=0.25)
        if boxes.scores is not None:
            u, v = footprint.max(axis=0)
            cv2.putText(canvas, f"{boxes.scores[index]:.2f}", (int(u) + 2, int(v)), FONT, scale * 0.9, color, 1,
                        cv2.LINE_AA)
    return canvas


def draw_legend(canvas: np.ndarray, view: BEVView, labels: np.ndarray, heat_names) -> np.ndarray:
    """Colour keys of the classes in ``labels`` (M,) and of the heat overlays, and the box styles, top right."""
    scale = font_scale(view)
    entries = [(DETECTION_CLASSES[label], CLASS_COLORS[DETECTION_CLASSES[label]]) for label in np.unique(labels)]
    entries += [(f"{name} features", HEAT_TINTS[name]) for name in heat_names]
    entries.append(("GT shaded, predicted + score", None))
    (_, text_height), _ = cv2.getTextSize("Ag", FONT, scale, 1)
    step, swatch = int(text_height * 1.8), text_height
    text_width = max(cv2.getTextSize(text, FONT, scale, 1)[0][0] for text, _ in entries)
    x = view.shape[1] - text_width - swatch - 12
    backdrop = canvas[: step * len(entries) + step // 2, max(x - 6, 0):]  # a view: darkened in place
    backdrop[:] = (0.3 * backdrop + 0.7 * np.asarray(BACKGROUND)).astype(np.uint8)
    for row, (text, color) in enumerate(entries):
        y = step * (row + 1)
        if color is not None:
            cv2.rectangle(canvas, (x, y - swatch), (x + swatch, y), color, -1)
        cv2.putText(canvas, text, (x + swatch + 6, y), FONT, scale, LABEL_COLOR, 1, cv2.LINE_AA)
    return canvas


def render_bev(view: BEVView, points: np.ndarray | None = None, gt: Boxes3D | None = None,
               predictions: Boxes3D | None = None, heat: dict[str, np.ndarray] | None = None,
               heat_grid: BEVGrid | None = None) -> np.ndarray:
    """The BEV panel (H, W, 3) uint8 RGB of ``view.shape``.

    points: (N, ≥3) ego frame; gt and predictions: boxes in the ego frame; heat: branch name ("camera", "lidar") →
    (ny, nx) in [0, 1] on ``heat_grid`` (see ``branch_heat``).
    """
    canvas = np.empty((*view.shape, 3), dtype=np.uint8)
    canvas[:] = BACKGROUND
    heat = heat or {}
    if heat and heat_grid is None:
        raise ValueError("heat maps need the BEVGrid they were computed on (heat_grid)")
    for name, values in heat.items():
        draw_heat(canvas, view, values, heat_grid, HEAT_TINTS[name])
    draw_grid(canvas, view)
    if points is not None:
        draw_points_bev(canvas, view, points)
    draw_ego(canvas, view)
    if gt is not None:
        draw_boxes_bev(canvas, view, gt, filled=True, thickness=1)
    if predictions is not None:
        draw_boxes_bev(canvas, view, predictions, filled=False, thickness=2)
    shown = [b.labels for b in (gt, predictions) if b is not None]
    draw_legend(canvas, view, np.concatenate(shown) if shown else np.zeros(0, np.int64), heat)
    return canvas
