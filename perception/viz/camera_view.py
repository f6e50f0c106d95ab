"""Camera images with projected lidar points and 3D box wireframes (OpenCV drawing, no GL)."""
from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from calib import Camera, box_corners
from calib.sensors import MIN_DEPTH_M
from perception.boxes import Boxes3D
from perception.data.frame import Frame
from perception.viz.style import class_colors, depth_colors, detection_label

# Box edges by corner index (see calib.boxes): bottom face, top face, pillars.
BOX_EDGES = [(0, 1), (1, 2), (2, 3), (3, 0), (4, 5), (5, 6), (6, 7), (7, 4), (0, 4), (1, 5), (2, 6), (3, 7)]
HEADING_CROSS = [(0, 5), (1, 4)]  # diagonals of the front face, drawn to show the heading
NUSCENES_RING = [["CAM_FRONT_LEFT", "CAM_FRONT", "CAM_FRONT_RIGHT"], ["CAM_BACK_LEFT", "CAM_BACK", "CAM_BACK_RIGHT"]]
NEAR_PLANE_M = 2 * MIN_DEPTH_M  # edges are cut here, a little beyond the depth below which calib refuses to project
GT_THICKNESS, PREDICTION_THICKNESS = 1, 2  # ground truth thin, predictions thick (and labelled with their score)
MIN_LABELLED_HEIGHT_PX = 20  # smaller (distant) predictions go unlabelled: their labels would pile up


def draw_points(image: np.ndarray, camera: Camera, points_ego: np.ndarray, radius: int = 2) -> np.ndarray:
    """Lidar points (N, ≥3) in the ego frame drawn into an RGB image, coloured by depth, near points on top.

    Radius 0 paints single pixels in one vectorised assignment (the video's small tiles); larger dots are drawn
    one by one.
    """
    pixels, depth, visible = camera.project(points_ego[:, :3])
    order = np.argsort(-depth[visible], kind="stable")  # far first so near points stay on top
    pixels, depth = pixels[visible][order].astype(int), depth[visible][order]
    colors = depth_colors(depth)
    if radius == 0:
        image[pixels[:, 1], pixels[:, 0]] = colors  # a repeated pixel keeps its last (nearest) point
        return image
    for (u, v), color in zip(pixels, colors):
        cv2.circle(image, (int(u), int(v)), radius, tuple(int(c) for c in color), -1)
    return image


def box_edge_pixels(camera: Camera, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Box edges (M, E, 2, 2) as pixel segments, each cut at the near plane before projection, and kept (M, E).

    ``E`` counts ``BOX_EDGES`` then ``HEADING_CROSS``. An edge with one end behind the near plane keeps only its part
    in front (depth is affine along a 3D segment, so the cut point is exact); an edge wholly behind is not kept.
    Segments are not yet clipped to the image and may reach far outside it. Edges are drawn straight between their
    projected ends, which is exact for rectified images (no lens distortion, as in nuScenes).
    """
    corners = box_corners(boxes)  # (M, 8, 3)
    count = len(corners)
    _, depth, _ = camera.project(corners.reshape(-1, 3))
    depth = depth.reshape(count, 8)
    start, end = np.array(BOX_EDGES + HEADING_CROSS).T
    a, b = corners[:, start], corners[:, end]  # (M, E, 3)
    da, db = depth[:, start], depth[:, end]
    with np.errstate(divide="ignore", invalid="ignore"):  # edges not crossing the plane get unused NaN cuts
        cut = a + ((NEAR_PLANE_M - da) / (db - da))[..., None] * (b - a)  # where the edge crosses the near plane
    a = np.where((da < NEAR_PLANE_M)[..., None], cut, a)
    b = np.where((db < NEAR_PLANE_M)[..., None], cut, b)
    kept = (da >= NEAR_PLANE_M) | (db >= NEAR_PLANE_M)
    pa, _, _ = camera.project(a.reshape(-1, 3))
    pb, _, _ = camera.project(b.reshape(-1, 3))
    segments = np.stack([pa, pb], axis=1).reshape(count, -1, 2, 2)
    return segments, kept


def draw_boxes(image: np.ndarray, camera: Camera, boxes: Boxes3D, color=None, thickness: int = PREDICTION_THICKNESS):
    """Wireframes of ``boxes`` (ego frame) in ``camera``'s image, the front face crossed to show the heading.

    Each box draws the part of it in view: edges are cut at the near plane and at the image border, so a box around
    or beside the camera shows its visible edges and one wholly behind it draws nothing. ``color`` None uses the class
    colours; boxes with scores (predictions) drawn at least ``MIN_LABELLED_HEIGHT_PX`` tall are labelled with class
    and score.
    """
    if len(boxes) == 0:
        return image
    height, width = image.shape[:2]
    segments, kept = box_edge_pixels(camera, boxes.boxes)
    colors = class_colors(boxes.labels) if color is None else [color] * len(boxes)
    # OpenCV takes int32 end points; only a lens model far outside its field of view projects beyond this.
    kept &= np.isfinite(segments).all(axis=(2, 3)) & (np.abs(segments) < 2 ** 30).all(axis=(2, 3))
    for index, (box_segments, box_kept, box_color) in enumerate(zip(segments, kept, colors)):
        drawn = []
        for p, q in np.rint(box_segments[box_kept]).astype(np.int64).tolist():
            inside, p, q = cv2.clipLine((0, 0, width, height), p, q)
            if inside:
                cv2.line(image, p, q, box_color, thickness, cv2.LINE_AA)
                drawn += [p, q]
        if drawn and boxes.scores is not None and np.ptp(np.array(drawn)[:, 1]) >= MIN_LABELLED_HEIGHT_PX:
            u, v = np.min(drawn, axis=0)
            cv2.putText(image, detection_label(boxes.labels[index], boxes.scores[index]), (int(u), max(int(v) - 4, 12)),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.4, box_color, 1, cv2.LINE_AA)
    return image


def scaled_camera(camera: Camera, scale: float) -> Camera:
    """The camera whose image is the original resized by ``scale`` (pixel centres kept aligned, as cv2.resize)."""
    k = camera.intrinsics.copy()
    k[:2, :2] *= scale
    k[:2, 2] = (k[:2, 2] + 0.5) * scale - 0.5
    return replace(camera, intrinsics=k, width=round(camera.width * scale), height=round(camera.height * scale))


def camera_tile(frame: Frame, name: str, width: int, with_points: bool, with_boxes: bool,
                predictions: Boxes3D | None) -> np.ndarray:
    """One camera's image resized to ``width`` and annotated at that size (lines stay crisp, drawing stays cheap)."""
    image, camera = frame.images[name], frame.rig.cameras[name]
    scale = width / image.shape[1]
    tile = cv2.resize(image, (width, round(image.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    camera = scaled_camera(camera, scale)
    if with_points:
        draw_points(tile, camera, frame.points, radius=width // 800)  # single pixels on small tiles
    if with_boxes and frame.boxes is not None:
        draw_boxes(tile, camera, frame.boxes, thickness=GT_THICKNESS)
    if predictions is not None:
        draw_boxes(tile, camera, predictions, thickness=PREDICTION_THICKNESS)
    for color, weight in (((0, 0, 0), 4), ((255, 255, 255), 2)):  # outlined: readable on sky and on asphalt
        cv2.putText(tile, name, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, color, weight, cv2.LINE_AA)
    return tile


def camera_ring(frame: Frame, with_points: bool = True, with_boxes: bool = True, width: int = 800,
                predictions: Boxes3D | None = None) -> np.ndarray:
    """The frame's images in the rig layout (nuScenes: front row, back row), annotated, as one RGB image.

    ``width`` is the width of one camera tile. Ground truth (``with_boxes``) is drawn thin, ``predictions`` thick
    with scores, both in the class colours; lidar points are coloured by depth. Cameras without an image are skipped.
    """
    names = [name for name in frame.rig.camera_names if name in frame.images]
    if not names:
        raise ValueError(f"frame {frame.token} has no camera images to draw")
    layout = NUSCENES_RING if set(names) == {n for row in NUSCENES_RING for n in row} else [names]
    rows = []
    for row in layout:
        tiles = [camera_tile(frame, name, width, with_points, with_boxes, predictions) for name in row]
        height = max(t.shape[0] for t in tiles)
        rows.append(np.hstack([np.pad(t, ((0, height - t.shape[0]), (0, 0), (0, 0))) for t in tiles]))
    full_width = max(r.shape[1] for r in rows)
    return np.vstack([np.pad(r, ((0, 0), (0, full_width - r.shape[1]), (0, 0))) for r in rows])
