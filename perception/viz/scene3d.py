"""A frame as a 3D scene: points coloured by height, boxes as line sets, camera frusta from the rig.

``show`` opens an interactive Open3D window (needs a display); ``render_png`` renders offscreen with the legacy
``Visualizer(visible=False)``, which falls back to Mesa's EGL when there is no display. Open3D runs in a child
process in both cases: an OpenGL failure can kill a process outright, and even a good offscreen render leaves Mesa
loaded in a way that makes a later ``import torchvision.ops`` segfault. A failed child becomes a ``RenderError``.

The scene itself is plain arrays (``Scene3D``), built here with numpy and handed to the child in an ``.npz`` file.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from calib import Camera, box_corners
from calib.se3 import transform_points
from perception.boxes import Boxes3D
from perception.data.frame import Frame
from perception.viz.camera_view import BOX_EDGES, HEADING_CROSS
from perception.viz.images import write_image
from perception.viz.style import class_colors, height_colors

FRUSTUM_DEPTH_M = 2.0
FRUSTUM_COLOR = (230, 230, 230)
AXES_LENGTH_M = 2.0
BACKGROUND = (0.07, 0.07, 0.09)
POINT_SIZE = 1.5
# A chase view: behind and above the ego vehicle, looking ahead of it.
VIEW = {"lookat": (15.0, 0.0, 0.0), "front": (-1.0, 0.0, 0.5), "up": (0.0, 0.0, 1.0), "zoom": 0.12}
RENDERER = [sys.executable, "-c", "from perception.viz.scene3d import child_main; child_main()"]
"""The child process command; the mode and its arguments are appended."""
CHILD_TIMEOUT_S = 300
PACKAGE_ROOT = Path(__file__).resolve().parents[2]


class RenderError(RuntimeError):
    """A 3D view cannot be shown or rendered on this machine; the message says why and what to do."""


@dataclass
class Scene3D:
    """Everything to draw, in the ego frame.

    points: (N, 3) float64, point_colors: (N, 3) uint8 RGB; line_points: (K, 3) float64, lines: (L, 2) int32 index
    pairs into line_points, line_colors: (L, 3) uint8 RGB.
    """

    points: np.ndarray
    point_colors: np.ndarray
    line_points: np.ndarray
    lines: np.ndarray
    line_colors: np.ndarray


def box_lines(boxes: Boxes3D) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Wireframes of boxes (M, 9): corners (8M, 3), edges (14M, 2) with the front-face cross, class colours (14M, 3)."""
    edges = np.array(BOX_EDGES + HEADING_CROSS)
    lines = (np.arange(len(boxes))[:, None, None] * 8 + edges[None]).reshape(-1, 2)
    colors = np.repeat(np.asarray(class_colors(boxes.labels), dtype=np.uint8).reshape(-1, 3), len(edges), axis=0)
    return box_corners(boxes.boxes).reshape(-1, 3), lines, colors


def frustum_lines(camera: Camera, depth_m: float = FRUSTUM_DEPTH_M) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A camera's viewing pyramid, ``depth_m`` deep, in the ego frame: apex + 4 far corners (5, 3), 8 edges (8, 2)."""
    image_corners = np.array([[0, 0, 1], [camera.width, 0, 1], [camera.width, camera.height, 1],
                              [0, camera.height, 1]], dtype=np.float64)
    far = depth_m * image_corners @ np.linalg.inv(camera.intrinsics).T  # rays scaled to depth (z = depth_m)
    points = transform_points(camera.ego_from_camera, np.vstack([np.zeros((1, 3)), far]))
    lines = np.array([[0, 1], [0, 2], [0, 3], [0, 4], [1, 2], [2, 3], [3, 4], [4, 1]])
    return points, lines, np.tile(np.asarray(FRUSTUM_COLOR, dtype=np.uint8), (len(lines), 1))


def axes_lines(length_m: float = AXES_LENGTH_M) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ego axes at the origin: x red, y green, z blue."""
    points = np.vstack([np.zeros((1, 3)), length_m * np.eye(3)])
    return points, np.array([[0, 1], [0, 2], [0, 3]]), np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255]], np.uint8)


def build_scene(frame: Frame, predictions: Boxes3D | None = None) -> Scene3D:
    """The frame's points, GT and predicted boxes, camera frusta and ego axes as one ``Scene3D``."""
    parts = [axes_lines()] + [frustum_lines(camera) for camera in frame.rig.cameras.values()]
    parts += [box_lines(boxes) for boxes in (frame.boxes, predictions) if boxes is not None and len(boxes)]
    offsets = np.cumsum([0] + [len(points) for points, _, _ in parts[:-1]])
    return Scene3D(points=np.asarray(frame.points[:, :3], dtype=np.float64),
                   point_colors=height_colors(frame.points[:, 2]),
                   line_points=np.vstack([points for points, _, _ in parts]),
                   lines=np.vstack([lines + offset for (_, lines, _), offset in zip(parts, offsets)]).astype(np.int32),
                   line_colors=np.vstack([colors for _, _, colors in parts]))


# --- the parent side ------------------------------------------------------------------------------------------------
def run_child(scene: Scene3D, mode: str, *arguments: str) -> None:
    """Run the Open3D child on ``scene`` in ``mode``; a failure or crash there raises ``RenderError`` here."""
    with tempfile.TemporaryDirectory(prefix="scene3d-") as folder:
        scene_path = Path(folder) / "scene.npz"
        np.savez(scene_path, **asdict(scene))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(PACKAGE_ROOT),
                                                                         os.environ.get("PYTHONPATH")]))}
        try:
            result = subprocess.run([*RENDERER, mode, str(scene_path), *arguments], capture_output=True, text=True,
                                    timeout=CHILD_TIMEOUT_S, env=env)
        except subprocess.TimeoutExpired:
            raise RenderError(f"Open3D did not finish within {CHILD_TIMEOUT_S} s") from None
    if result.returncode == 0:
        return
    how = (f"crashed with {signal.Signals(-result.returncode).name}" if result.returncode < 0
           else f"failed with exit code {result.returncode}")
    detail = " | ".join(result.stderr.strip().splitlines()[-2:])
    raise RenderError(f"Open3D {how}{': ' + detail if detail else ''}. Offscreen rendering needs Mesa's EGL/OpenGL "
                      "libraries (Debian: libegl1 libgl1 libgl1-mesa-dri); a window needs a display.")


def render_png(path: str | Path, frame: Frame, predictions: Boxes3D | None = None, width: int = 1600,
               height: int = 900) -> np.ndarray:
    """Render the frame's 3D scene offscreen from a chase view, write it to ``path`` and return it (H, W, 3) RGB."""
    with tempfile.TemporaryDirectory(prefix="scene3d-") as folder:
        rendered = Path(folder) / "render.png"
        run_child(build_scene(frame, predictions), "render", str(rendered), str(width), str(height))
        rgb = cv2.cvtColor(cv2.imread(str(rendered)), cv2.COLOR_BGR2RGB)
    write_image(path, rgb)
    return rgb


def show(frame: Frame, predictions: Boxes3D | None = None) -> None:
    """Open an interactive 3D window on the frame and wait until it is closed; ``RenderError`` without a display."""
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise RenderError("no display to open a 3D window on (DISPLAY is not set); render a PNG with render_png "
                          "(perception viz --open3d FILE) instead")
    run_child(build_scene(frame, predictions), "show", frame.scene_name or "frame")


# --- the child side -------------------------------------------------------------------------------------------------
def open3d_geometries(scene: Scene3D) -> list:
    """Open3D point cloud and line set of a scene."""
    import open3d as o3d

    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(scene.points))
    cloud.colors = o3d.utility.Vector3dVector(scene.point_colors / 255.0)
    lines = o3d.geometry.LineSet(o3d.utility.Vector3dVector(scene.line_points), o3d.utility.Vector2iVector(scene.lines))
    lines.colors = o3d.utility.Vector3dVector(scene.line_colors / 255.0)
    return [cloud, lines]


def child_main(argv: list[str] | None = None) -> None:
    """``render SCENE.npz OUT.png WIDTH HEIGHT`` or ``show SCENE.npz TITLE``; run only in the child process."""
    import open3d as o3d

    mode, scene_path, *arguments = sys.argv[1:] if argv is None else argv
    with np.load(scene_path) as arrays:
        scene = Scene3D(**{name: arrays[name] for name in arrays.files})
    geometries = open3d_geometries(scene)
    if mode == "show":
        o3d.visualization.draw_geometries(geometries, window_name=arguments[0], **VIEW)
        return
    out, width, height = arguments[0], int(arguments[1]), int(arguments[2])
    vis = o3d.visualization.Visualizer()
    if not vis.create_window(visible=False, width=width, height=height):
        raise SystemExit("Open3D could not create an offscreen window")
    for geometry in geometries:
        vis.add_geometry(geometry)
    options = vis.get_render_option()
    options.background_color = np.asarray(BACKGROUND)
    options.point_size = POINT_SIZE
    view = vis.get_view_control()
    view.set_lookat(VIEW["lookat"])
    view.set_front(VIEW["front"])
    view.set_up(VIEW["up"])
    view.set_zoom(VIEW["zoom"])
    rgb = np.asarray(vis.capture_screen_float_buffer(do_render=True))
    vis.destroy_window()
    cv2.imwrite(out, cv2.cvtColor((np.clip(rgb, 0, 1) * 255).astype(np.uint8), cv2.COLOR_RGB2BGR))
