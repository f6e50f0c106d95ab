"""Camera images with projected lidar points and 3D box wireframes (OpenCV drawing, no GL)."""
from __future__ import annotations

import cv2
import numpy as np

from calib import Camera, project_boxes
from perception.boxes import Boxes3D
from perception.data.frame import Frame

# Box edges by corner index (see calib.boxes): bottom face, top face, pillars.
BOX_EDGES = [(0, 1), (1, 2), (2, 3), (3, 0), (4, 5), (5, 6), (6, 7), (7, 4), (0, 4), (1, 5), (2, 6), (3, 7)]
NUSCENES_RING = [["CAM_FRONT_LEFT", "CAM_FRONT", "CAM_FRONT_RIGHT"], ["CAM_BACK_LEFT", "CAM_BACK", "CAM_BACK_RIGHT"]]


def depth_colors(depth: np.ndarray, max_depth: float = 60.0) -> np.ndarray:
    """RGB colours (N, 3) uint8 from near (red) to far (blue) with OpenCV's turbo map."""
    scaled = np.clip(255 * (1 - depth / max_depth), 0, 255).astype(np.uint8)
    return cv2.applyColorMap(scaled[:, None], cv2.COLORMAP_TURBO)[:, 0, ::-1]


def draw_points(image: np.ndarray, camera: Camera, points_ego: np.ndarray, radius: int = 2) -> np.ndarray:
    """Lidar points (N, ≥3) in the ego frame drawn into an RGB image, coloured by depth."""
    pixels, depth, visible = camera.project(points_ego[:, :3])
    order = np.argsort(-depth[visible])  # far first so near points stay on top
    pixels, depth = pixels[visible][order].astype(int), depth[visible][order]
    for (u, v), color in zip(pixels, depth_colors(depth)):
        cv2.circle(image, (int(u), int(v)), radius, tuple(int(c) for c in color), -1)
    return image


def draw_boxes(image: np.ndarray, camera: Camera, boxes: Boxes3D, color=(255, 200, 0), thickness: int = 2):
    """Wireframes of the boxes visible in ``camera``; the front face is crossed to show the heading."""
    pixels, _, visible = project_boxes(camera, boxes.boxes)
    for corners in pixels[visible]:
        pts = [tuple(int(round(c)) for c in corner) for corner in corners]
        for a, b in BOX_EDGES + [(0, 5), (1, 4)]:
            cv2.line(image, pts[a], pts[b], color, thickness, cv2.LINE_AA)
    return image


def camera_ring(frame: Frame, with_points: bool = True, with_boxes: bool = True, width: int = 800) -> np.ndarray:
    """The frame's images in the rig layout (nuScenes: front row, back row), annotated, as one RGB image."""
    names = frame.rig.camera_names
    layout = NUSCENES_RING if set(names) == {n for row in NUSCENES_RING for n in row} else [names]
    rows = []
    for row in layout:
        tiles = []
        for name in row:
            camera, image = frame.rig.cameras[name], frame.images[name].copy()
            if with_points:
                draw_points(image, camera, frame.points)
            if with_boxes and frame.boxes is not None:
                draw_boxes(image, camera, frame.boxes)
            cv2.putText(image, name, (20, 50), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (255, 255, 255), 3, cv2.LINE_AA)
            tiles.append(cv2.resize(image, (width, round(width * image.shape[0] / image.shape[1]))))
        height = max(t.shape[0] for t in tiles)
        rows.append(np.hstack([np.pad(t, ((0, height - t.shape[0]), (0, 0), (0, 0))) for t in tiles]))
    full_width = max(r.shape[1] for r in rows)
    return np.vstack([np.pad(r, ((0, 0), (0, full_width - r.shape[1]), (0, 0))) for r in rows])
