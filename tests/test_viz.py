"""Renderers: wireframes at hand-computed pixels, BEV geometry, real-frame overlays, video, Rerun, Open3D."""
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from calib import Camera, points_in_boxes, project_boxes
from perception.boxes import Boxes3D
from perception.data.classes import CLASS_INDEX
from perception.data.nuscenes import NuScenesDataset
from perception.errors import DataError
from perception.ops.grid import BEVGrid
from perception.viz import scene3d
from perception.viz.bev import BACKGROUND, BEVView, branch_heat, heat_on_view, render_bev
from perception.viz.camera_view import camera_ring, draw_boxes, draw_points
from perception.viz.style import depth_colors
from perception.viz.fused import fused_frame
from perception.viz.images import write_image
from perception.viz.video import write_scene_video
from tests.real_nuscenes import DEMO, VERSION

# A camera at ego (1, 0, 1.5) looking along ego +x: camera x → ego −y, camera y → ego −z, camera z → ego x.
EGO_FROM_CAMERA = np.array([[0.0, 0.0, 1.0, 1.0], [-1.0, 0.0, 0.0, 0.0], [0.0, -1.0, 0.0, 1.5], [0, 0, 0, 1]])
CAMERA = Camera("CAM_TEST", [[1000.0, 0, 800], [0, 1000.0, 450], [0, 0, 1]], 1600, 900, EGO_FROM_CAMERA)
WHITE = (255, 255, 255)


def box(x, y, z, length, width, height, label="car") -> Boxes3D:
    return Boxes3D(np.array([[x, y, z, length, width, height, 0.0, 0.0, 0.0]]), np.array([CLASS_INDEX[label]]))


def drawn(boxes: Boxes3D) -> np.ndarray:
    """A black test image with ``boxes`` drawn 1 pixel wide in white."""
    return draw_boxes(np.zeros((900, 1600, 3), np.uint8), CAMERA, boxes, color=WHITE, thickness=1)


def lit(image: np.ndarray, u: float, v: float) -> bool:
    """Whether anything is drawn within a pixel of (u, v)."""
    u, v = int(round(u)), int(round(v))
    return bool(image[max(v - 1, 0):v + 2, max(u - 1, 0):u + 2].any())


def test_box_corners_drawn_at_hand_computed_pixels():
    # Box x 11..13, y 1..3, z 0.5..2.5. Its near face (x = 11) is 10 m in front of the camera: corner (11, 1, 0.5)
    # is camera (−1, 1, 10) → u = 800 − 1000·1/10 = 700, v = 450 + 1000·1/10 = 550; y = 3 gives u = 500,
    # z = 2.5 gives v = 350. The far face (x = 13) is at depth 12: u = 800 − 1000/12, 800 − 3000/12 = 716.7, 550 and
    # v = 450 ± 1000/12 = 366.7, 533.3.
    image = drawn(box(12, 2, 1.5, 2, 2, 2))
    near_corners = [(700, 550), (500, 550), (700, 350), (500, 350)]
    far_corners = [(716.7, 533.3), (550, 533.3), (716.7, 366.7), (550, 366.7)]
    near_edge_midpoints = [(600, 550), (600, 350), (500, 450), (700, 450)]
    for u, v in near_corners + far_corners + near_edge_midpoints:
        assert lit(image, u, v), (u, v)
    for u, v in [(525, 450), (760, 450), (600, 600), (100, 100)]:  # between edges and far from the box
        assert not lit(image, u, v), (u, v)
    ys, xs = np.nonzero(image.any(axis=2))
    assert xs.min() >= 498 and xs.max() <= 719 and ys.min() >= 348 and ys.max() <= 552


def test_single_pixel_points_match_opencv_dots_with_the_nearest_on_top():
    # Points straight ahead of the camera (ego +x), many sharing a pixel at different depths.
    rng = np.random.default_rng(0)
    points = np.column_stack([rng.uniform(3, 60, 5000), rng.integers(-20, 20, 5000) * 0.05,
                              1.5 + rng.integers(-10, 10, 5000) * 0.05])
    image = draw_points(np.zeros((900, 1600, 3), np.uint8), CAMERA, points, radius=0)
    pixels, depth, visible = CAMERA.project(points)
    expected = np.zeros_like(image)
    for i in np.argsort(-depth[visible], kind="stable"):
        (u, v), color = pixels[visible][i].astype(int), depth_colors(depth[visible][i:i + 1])[0]
        cv2.circle(expected, (int(u), int(v)), 0, tuple(int(c) for c in color), -1)
    assert visible.sum() > 1000 and np.array_equal(image, expected)


def test_box_behind_camera_draws_nothing():
    for behind in (box(-10, 0, 1.5, 4, 2, 2), box(0.5, 0, 1.5, 0.6, 0.6, 0.6), box(1, 30, 1.5, 2, 2, 2)):
        assert not drawn(behind).any()


def test_box_straddling_camera_draws_its_visible_part():
    # x −2..2 around the camera at x = 1: the front face (x = 2, y ±0.5, z 1.2..1.8) is 1 m ahead and projects to
    # u 300..1300, v 150..750; the side edges run back from its corners and leave the image.
    straddling = box(0, 0, 1.5, 4, 1, 0.6)
    _, _, visible = project_boxes(CAMERA, straddling.boxes)
    assert not visible[0]  # not every corner is in front, yet part of the box is in view
    image = drawn(straddling)
    for u, v in [(300, 150), (1300, 750), (800, 150), (800, 750), (300, 450), (1300, 450), (800, 450)]:
        assert lit(image, u, v), (u, v)
    # The top-left side edge leaves (300, 150) along the direction of its vanishing point: v = 150 + 0.6 (u − 300).
    assert lit(image, 100, 30) and lit(image, 50, 0)
    assert not lit(image, 100, 450) and not lit(image, 800, 850)


def test_predictions_are_labelled_and_class_coloured():
    prediction = box(12, 2, 1.5, 2, 2, 2, label="pedestrian")
    prediction.scores = np.array([0.87])
    image = draw_boxes(np.zeros((900, 1600, 3), np.uint8), CAMERA, prediction)
    colours = {tuple(c) for c in image.reshape(-1, 3)}
    assert (40, 150, 255) in colours  # the pedestrian colour
    assert image[320:345, 495:600].any()  # the "pedestrian 0.87" label above the box


def test_bev_pixel_metre_round_trip():
    view = BEVView(x_range=(-20.0, 60.0), y_range=(-30.0, 30.0), pixels_per_metre=5.0)
    assert view.shape == (400, 300)
    xy = np.random.default_rng(0).uniform([-20, -30], [60, 30], size=(100, 2))
    np.testing.assert_allclose(view.to_metres(view.to_pixels(xy)), xy, atol=1e-9)
    np.testing.assert_allclose(view.to_pixels([[0.0, 0.0], [60.0, 30.0], [-20.0, -30.0]]),
                               [[150, 300], [0, 0], [300, 400]])
    forward, left = view.to_pixels([[10.0, 0.0], [0.0, 10.0]])
    assert forward[1] < 300 and forward[0] == 150  # ego +x is up
    assert left[0] < 150 and left[1] == 300  # ego +y is left


def test_bev_heat_cells_land_under_their_centres():
    grid = BEVGrid((-10.0, 10.0), (-10.0, 10.0), (-1.0, 1.0), 1.0)
    heat = np.zeros(grid.shape, np.float32)
    heat[6, 15] = 1.0  # iy 6, ix 15: the cell around x = 5.5, y = −3.5
    view = BEVView((-10.0, 10.0), (-10.0, 10.0), 4.0)
    panel = heat_on_view(heat, grid, view)
    v, u = np.unravel_index(np.argmax(panel), panel.shape)
    np.testing.assert_allclose(view.to_metres([u + 0.5, v + 0.5]), [5.5, -3.5], atol=0.13)


@pytest.fixture(scope="module")
def real_frame(real_nuscenes_root):
    dataset = NuScenesDataset(real_nuscenes_root, VERSION)
    return dataset.frame(dataset.sample_tokens("scene-0061")[0])


def test_real_keyframe_boxes_land_on_their_objects(real_frame, tmp_path):
    """Wireframes span mmdet3d's independent 2D boxes of the same objects; BEV boxes cover their lidar points."""
    assert len(real_frame.boxes) == 68  # of 69 annotations, one is not a detection class
    info = json.loads((DEMO / "infos" / "n015-2018-07-24-11-22-45+0800.json").read_text())["data_list"][0]
    checked = 0
    for name, instances in info["cam_instances"].items():
        camera = real_frame.rig.cameras[name]
        pixels, depth, visible = project_boxes(camera, real_frame.boxes.boxes)
        centres, _, _ = camera.project(real_frame.boxes.boxes[:, :3])
        for instance in instances:
            index = int(np.argmin(np.hypot(*(centres - instance["center_2d"]).T)))
            if not visible[index]:
                continue  # mmdet3d bounds only the corners in front; we draw the edges cut at the near plane
            image = draw_boxes(np.zeros((900, 1600, 3), np.uint8), camera, real_frame.boxes.select([index]),
                               color=WHITE, thickness=1)
            ys, xs = np.nonzero(image.any(axis=2))
            ours, theirs = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]), np.array(instance["bbox"])
            # Anti-aliasing adds a pixel or two; our ego-frame boxes drop the lidar's 1.4° tilt that mmdet3d's keep,
            # which moves the far ends of big near boxes by up to 2 % of their extent.
            extent = np.tile(theirs[2:] - theirs[:2], 2)
            assert np.all(np.abs(ours - theirs) <= 2.5 + 0.02 * extent), (name, ours, theirs)
            checked += 1
    assert checked >= 75

    view = BEVView(pixels_per_metre=8.0)
    panel = render_bev(view, gt=real_frame.boxes)
    inside = points_in_boxes(real_frame.points, real_frame.boxes.boxes)
    for members in inside[real_frame.boxes.num_lidar_pts >= 5]:
        u, v = np.floor(view.to_pixels(np.median(real_frame.points[members, :2], axis=0))).astype(int)
        if 0 <= u < panel.shape[1] and 0 <= v < panel.shape[0]:
            assert tuple(panel[v, u]) != BACKGROUND  # shaded by the box drawn around these points

    write_image(tmp_path / "ring.png", camera_ring(real_frame))
    write_image(tmp_path / "bev.png", render_bev(view, real_frame.points, real_frame.boxes))
    assert (tmp_path / "ring.png").stat().st_size > 100_000 and (tmp_path / "bev.png").stat().st_size > 20_000


@pytest.fixture(scope="module")
def synth_frames(synth_root):
    dataset = NuScenesDataset(synth_root, "v1.0-synth", num_sweeps=2)
    return [dataset.frame(token) for token in dataset.sample_tokens(dataset.scene_names()[0])]


def as_predictions(boxes: Boxes3D) -> Boxes3D:
    """Ground truth shifted a little and given scores, to stand in for detections."""
    return Boxes3D(boxes.boxes + [0.5, 0.3, 0, 0, 0, 0, 0.1, 0, 0], boxes.labels, scores=np.full(len(boxes), 0.8))


def h264_frames(path) -> list[np.ndarray]:
    """The RGB frames of an MP4, asserting it is H.264 in an ``avc1`` track (what browsers play)."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.name, stream.codec_context.codec_tag) == ("h264", "avc1")
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]


def test_scene_video_has_one_frame_per_keyframe(synth_frames, tmp_path):
    path = tmp_path / "scene.mp4"
    assert write_scene_video(path, ((f, as_predictions(f.boxes)) for f in synth_frames)) == 3
    first = fused_frame(synth_frames[0], as_predictions(synth_frames[0].boxes))
    frames = h264_frames(path)
    assert len(frames) == 3
    height, width = first.shape[:2]
    assert frames[0].shape == (height + height % 2, width + width % 2, 3)  # yuv420p: even sizes
    assert np.median(np.abs(frames[0][:height, :width].astype(int) - first)) <= 4  # lossy, but the same picture


def test_rerun_recording_verifies(synth_frames, tmp_path):
    from perception.viz.rerun_export import export_rrd

    path = tmp_path / "scene.rrd"
    assert export_rrd(path, ((f, as_predictions(f.boxes)) for f in synth_frames)) == 3
    result = subprocess.run([str(Path(sys.executable).parent / "rerun"), "rrd", "verify", str(path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "verified without error" in result.stderr


def test_open3d_renders_offscreen(synth_frames, tmp_path):
    path = tmp_path / "scene3d.png"
    try:
        rgb = scene3d.render_png(path, synth_frames[0], as_predictions(synth_frames[0].boxes), width=480, height=270)
    except scene3d.RenderError as error:  # a machine without Mesa's EGL: the error must say so
        assert "Mesa" in str(error)
        pytest.skip(f"no offscreen OpenGL here: {error}")
    assert rgb.shape == (270, 480, 3) and path.stat().st_size > 5_000
    assert rgb.std() > 5 and len(np.unique(rgb.reshape(-1, 3), axis=0)) > 50  # points, boxes and frusta, not blank


def test_open3d_crash_becomes_render_error(synth_frames, tmp_path, monkeypatch):
    crash = [sys.executable, "-c", "import ctypes; ctypes.string_at(0)"]  # a segfault, as a broken OpenGL causes
    monkeypatch.setattr(scene3d, "RENDERER", crash)
    with pytest.raises(scene3d.RenderError, match="crashed with SIGSEGV.*Mesa"):
        scene3d.render_png(tmp_path / "never.png", synth_frames[0])
    assert not (tmp_path / "never.png").exists()


def test_bev_heat_of_detector_branches(synth_frames):
    import torch

    from perception.inference.preprocess import collate, frame_to_sample
    from perception.models.detector import FusionDetector
    from tests.model_configs import tiny_config

    config = tiny_config()
    torch.manual_seed(0)
    model = FusionDetector(config).eval()
    frame = synth_frames[0]
    batch = collate([frame_to_sample(frame, frame.rig.camera_names, config.camera.image_size)])
    with torch.no_grad():
        heat = branch_heat(model.branch_features(batch)[0])
    assert set(heat) == {"camera", "lidar"}
    for values in heat.values():
        assert values.shape == config.bev.shape and values.min() >= 0 and values.max() == pytest.approx(1)
    view = BEVView((-25.6, 25.6), (-25.6, 25.6), 6.0)
    plain, heated = render_bev(view, frame.points), render_bev(view, frame.points, heat=heat, heat_grid=config.bev)
    assert (heated != plain).any(axis=2).mean() > 0.2


def test_viz_command_writes_every_output(synth_root, tmp_path, capsys):
    import argparse

    from perception.data.results import boxes_to_results, write_results
    from perception.viz.cli import add_viz_arguments, run_viz

    dataset = NuScenesDataset(synth_root, "v1.0-synth")
    scene = dataset.scene_names()[1]
    results = {}
    for token in dataset.sample_tokens(scene):
        frame = dataset.frame(token, load_images=False)
        results[token] = boxes_to_results(as_predictions(frame.boxes), frame.global_from_ego, token)
    write_results(tmp_path / "results.json", results, use_camera=True, use_lidar=True)

    parser = argparse.ArgumentParser()
    add_viz_arguments(parser)
    outputs = {"--bev": "bev.png", "--ring": "ring.jpg", "--fused": "fused.png", "--video": "scene.mp4"}
    args = parser.parse_args(["--dataroot", str(synth_root), "--version", "v1.0-synth", "--scene", scene,
                              "--index", "2", "--results", str(tmp_path / "results.json")]
                             + [a for flag, name in outputs.items() for a in (flag, str(tmp_path / name))])
    run_viz(args)
    for name in outputs.values():
        assert (tmp_path / name).stat().st_size > 10_000, name
    assert "scene.mp4 (3 frames)" in capsys.readouterr().out
    with pytest.raises(DataError, match="choose at least one output"):
        run_viz(parser.parse_args(["--dataroot", str(synth_root), "--version", "v1.0-synth"]))
