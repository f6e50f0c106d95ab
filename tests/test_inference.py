"""Inference preprocessing: the ego vehicle's own lidar returns never reach the model."""
from dataclasses import replace

import numpy as np
import pytest

import perception
from perception.inference.preprocess import without_ego_returns
from perception.models.config import load_config
from perception.typed_config import ConfigError
from tests.model_configs import DEMO

EGO_BOX = (-1.0, -1.1, 0.2, 3.7, 1.1, 2.1)


def test_points_inside_the_ego_box_are_dropped():
    points = np.array([[0.9, 0.0, 1.8, 10, 0],    # the roof next to the lidar: dropped
                       [3.6, 1.0, 0.5, 10, 0],    # the front bumper corner: dropped
                       [3.8, 0.0, 0.5, 10, 0],    # just ahead of the car: kept
                       [0.9, 0.0, 2.3, 10, 0],    # above the lidar mount: kept
                       [-5.0, 0.0, 0.0, 10, 0]], np.float32)
    np.testing.assert_array_equal(without_ego_returns(points, EGO_BOX), points[[2, 3, 4]])
    np.testing.assert_array_equal(without_ego_returns(points, ()), points)


def test_detector_input_has_no_ego_returns(synth_root):
    detector = perception.load_detector("demo")
    assert detector.config.lidar.ego_box == EGO_BOX
    frame = perception.open_dataset(synth_root)[0]
    roof = np.array([[0.5, 0.2, 1.7, 50.0, 0.0]] * 100, np.float32)  # returns of the car's own roof
    batch = detector.model_input(replace(frame, points=np.concatenate([frame.points, roof])))
    xyz = frame.points[:, :3]
    outside = ~np.all((xyz >= np.array(EGO_BOX[:3])) & (xyz <= np.array(EGO_BOX[3:])), axis=1)
    assert 0.2 < 1 - outside.mean() < 0.6  # the simulated car body's returns, dropped with the added roof points
    assert len(batch.points) == outside.sum()


@pytest.mark.parametrize("ego_box", ["[1.0, 2.0]", "[4.0, -1.1, 0.2, 3.7, 1.1, 2.1]"])
def test_a_bad_ego_box_is_rejected_naming_the_key(tmp_path, ego_box):
    path = tmp_path / "bad.yaml"
    path.write_text(DEMO.read_text().replace("ego_box: [-1.0, -1.1, 0.2, 3.7, 1.1, 2.1]", f"ego_box: {ego_box}"))
    with pytest.raises(ConfigError, match="ego_box"):
        load_config(path)
