"""The shipped configs: each one parses, and the camera-only demo recipe starts from the shipped fused weights."""
from pathlib import Path

import pytest

from perception.models.config import load_config
from perception.models.detector import FusionDetector
from perception.train.checkpoint import initial_weights
from perception.train.config import load_train_config

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("path", sorted((ROOT / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_parses(path):
    load_config(path)
    load_train_config(path)


def test_the_camera_only_recipe_starts_from_the_fused_demo_weights():
    """configs/demo-camera.yaml: lidar off, started from fused weights of the demo network (its init_from is the
    stage-2 run; the shipped weights stand in for it here) with every camera, fuser, decoder and head tensor taken
    over and only the lidar branch left out."""
    config = load_config(ROOT / "configs" / "demo-camera.yaml")
    assert not config.lidar.enabled and config.camera.enabled
    grown, fresh, left_out = initial_weights(FusionDetector(config), ROOT / "weights" / "demo.json")
    assert grown == [] and fresh == []
    assert left_out and {name.split(".")[0] for name in left_out} == {"lidar", "lidar_to_bev"}
