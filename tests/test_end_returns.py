"""tools/end_returns.py: the slabs at a box's two ends and what the lidar returns in them."""
import math

import numpy as np

from tools.end_returns import end_features, end_slabs


def test_end_slabs_hold_the_last_and_first_metre_along_the_heading():
    """A 12 m box heading +y from (10, 5): its front metre is y 10.0–11.0, its rear metre y -1.0–0.0."""
    box = np.array([[10.0, 5.0, 1.5, 12.0, 2.5, 3.0, math.pi / 2, 0.0, 0.0]])
    front, rear = end_slabs(box)
    points = np.array([[10.0, 10.9, 1.0, 40.0], [10.0, 10.2, 2.5, 20.0],   # front
                       [10.0, -0.9, 1.0, 7.0],                              # rear
                       [10.0, 5.0, 1.0, 99.0], [10.0, 11.2, 1.0, 99.0]])   # centre; beyond the front
    assert end_features(points, front[0]) == (2, 30.0, 1.5)
    assert end_features(points, rear[0]) == (1, 7.0, 0.0)


def test_an_end_without_returns_has_no_intensity():
    box = np.array([[0.0, 0.0, 1.0, 4.0, 2.0, 1.5, 0.0, 0.0, 0.0]])
    count, intensity, extent = end_features(np.zeros((0, 4)), end_slabs(box)[0][0])
    assert count == 0 and math.isnan(intensity) and math.isnan(extent)
