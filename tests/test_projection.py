"""Box visibility in a camera: every corner in front, and at least one corner (not all) inside the image."""
import numpy as np

from calib import Camera, project_boxes
from calib.se3 import make_transform

# OpenCV camera 1.5 m above ego x = 1 looking along ego +x (camera z → ego x, x → −y, y → −z). With fx = 1600 and
# cx = 800, a point at depth d and ego y lands at u = 800 − 1600 · y / d: y = d / 2 is u = 0 (the first column, in
# the image), y = −d / 2 is u = 1600 (one past the last column, outside).
FORWARD = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
CAMERA = Camera("CAM_FRONT", np.array([[1600.0, 0.0, 800.0], [0.0, 1600.0, 450.0], [0.0, 0.0, 1.0]]), 1600, 900,
                make_transform(FORWARD, [1.0, 0.0, 1.5]))


def box(x, y, z, length, width, height) -> np.ndarray:
    return np.array([[x, y, z, length, width, height, 0.0]])


def test_a_box_with_only_some_corners_in_the_image_is_visible():
    # x 10..12 (depth 9..11), y 4..7, z 1..2: the corners at y = 7 land at u = 800 − 1600·7/9 = −444.4 and
    # 800 − 1600·7/11 = −218.2 (outside); those at y = 4 at u = 88.9 and 218.2 (inside); v = 450 ± 800/d inside.
    pixels, depth, visible = project_boxes(CAMERA, box(11.0, 5.5, 1.5, 2.0, 3.0, 1.0))
    assert (depth > 0).all()
    u = np.sort(pixels[0, :, 0])
    np.testing.assert_allclose(u, [800 - 1600 * 7 / 9] * 2 + [800 - 1600 * 7 / 11] * 2 + [800 - 1600 * 4 / 9] * 2
                               + [800 - 1600 * 4 / 11] * 2)
    assert visible.tolist() == [True]


def test_a_box_in_front_but_beside_the_image_is_not_visible():
    _, depth, visible = project_boxes(CAMERA, box(12.0, 20.0, 1.5, 2.0, 2.0, 1.0))  # y 19..21 at depth ≤ 11
    assert (depth > 0).all() and visible.tolist() == [False]


def test_a_box_with_a_corner_behind_the_camera_is_not_visible():
    # x 0.95..3.05: the rear corners are 0.05 m behind the camera, the front ones 2.05 m ahead and in the image.
    pixels, depth, visible = project_boxes(CAMERA, box(2.0, 0.0, 1.5, 2.1, 0.5, 0.5))
    np.testing.assert_allclose(np.sort(depth[0]), [-0.05] * 4 + [2.05] * 4, atol=1e-12)
    assert visible.tolist() == [False]


def test_the_image_is_half_open_first_column_in_one_past_the_last_out():
    # At depth 10: y = 5 → u = 0, y = −5 → u = 1600, z = 1.5 ± 10·450/1600 → v = 0 and v = 900.
    _, _, inside = CAMERA.project(np.array([[11.0, 5.0, 1.5], [11.0, -5.0, 1.5], [11.0, 0.0, 1.5 + 10 * 450 / 1600],
                                            [11.0, 0.0, 1.5 - 10 * 450 / 1600]]))
    assert inside.tolist() == [True, False, True, False]
