"""The shipped configs: each one parses, and each stage of the demo recipe starts from the network it names."""
from pathlib import Path

import pytest

from perception.models.config import load_config
from perception.models.detector import FusionDetector
from perception.train.checkpoint import initial_weights, save_checkpoint
from perception.train.config import load_train_config
from perception.typed_config import to_dict

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("path", sorted((ROOT / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_parses(path):
    load_config(path)
    load_train_config(path)


RECIPE_STAGES = {  # config: (tensors whose inputs grow, module prefixes of the fresh tensors, modules left out)
    "demo.yaml": (["lidar_to_bev.0.weight"], (), set()),
    "demo-camera.yaml": ([], (), {"lidar", "lidar_to_bev"}),
    "demo-fused.yaml": ([], (), set()),
    "demo-streets.yaml": ([], (), set()),
    "demo-v4.yaml": ([], (), set()),
    "demo-camera-v4.yaml": ([], (), set()),
    "demo-context.yaml": (["head.shared.0.weight"], ("decoder.blocks.2.", "decoder.upsample.2."), set()),
    "demo-direction.yaml": ([], (), set()),
    "demo-sweeps.yaml": (["lidar_to_bev.0.weight"], (), set()),
    "demo-pooled.yaml": ([], (), set()),
    "demo-buses.yaml": ([], (), set()),
    "demo-keyframes.yaml": ([], (), set()),
    "demo-balanced.yaml": ([], (), set()),
    "demo-camera-v6.yaml": ([], (), set()),
    "demo-lidar.yaml": ([], (), {"camera", "camera_to_bev"}),
    "demo-branches.yaml": ([], ("camera.", "camera_to_bev."), set()),
}


def test_every_recipe_stage_is_listed_here():
    started_from_a_run = {path.name for path in (ROOT / "configs").glob("*.yaml")
                          if load_train_config(path).init_from.startswith("outputs/train/")}
    assert started_from_a_run == RECIPE_STAGES.keys()


@pytest.mark.parametrize("name", RECIPE_STAGES)
def test_each_recipe_stage_starts_from_the_network_of_the_run_it_names(name, tmp_path):
    """``train.init_from: outputs/train/NAME`` is the run of configs/NAME.yaml: that network (random weights stand
    in for the run's) loads into this stage's, every tensor taken over except the inputs it adds (which grow), its
    new layers (fresh) and a branch it lacks (left out)."""
    source = load_config(ROOT / "configs" / f"{Path(load_train_config(ROOT / 'configs' / name).init_from).name}.yaml")
    save_checkpoint(tmp_path, 1, 0, FusionDetector(source), to_dict(source), list(source.classes))
    grown, fresh, left_out = initial_weights(FusionDetector(load_config(ROOT / "configs" / name)), tmp_path)
    expected_grown, fresh_prefixes, left_out_modules = RECIPE_STAGES[name]
    assert grown == expected_grown
    assert all(tensor.startswith(fresh_prefixes) for tensor in fresh) and bool(fresh) == bool(fresh_prefixes)
    assert {tensor.split(".")[0] for tensor in left_out} == left_out_modules
