import shutil

import pytest

from calib import Rig, load_rig, save_rig

from tests.real_nuscenes import DEMO, REAL_ROOT, VERSION, build_real_nuscenes, require_real_data


@pytest.fixture
def triton_pool_calls(monkeypatch):
    """A list that grows by one at every call of the Triton BEV pooling op."""
    from perception.ops import bev_pool_triton

    calls = []
    original = bev_pool_triton.BEVPoolTriton.apply
    monkeypatch.setattr(bev_pool_triton.BEVPoolTriton, "apply", lambda *a: calls.append(1) or original(*a))
    return calls


@pytest.fixture
def single_thread():
    """Run the test's torch CPU ops on one thread, restoring the count afterwards.

    A long optimisation amplifies the rounding differences between thread counts (reductions split differently), so
    a test that trains for many steps gives the same numbers whatever ``OMP_NUM_THREADS`` or the machine's core count.
    """
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def real_nuscenes_root(tmp_path_factory):
    """A devkit-loadable copy of the real nuScenes keyframe; skipped where the shared data is absent (failed instead
    under PERCEPTION_REQUIRE_REAL_DATA=1)."""
    require_real_data(DEMO, "real nuScenes keyframe")
    return build_real_nuscenes(tmp_path_factory.mktemp("nuscenes_real"))


@pytest.fixture
def real_copy(real_nuscenes_root, tmp_path):
    """A private copy of the real database with its own sensor files, safe to damage."""
    root = tmp_path / "nuscenes"
    shutil.copytree(real_nuscenes_root / VERSION, root / VERSION)
    shutil.copytree((real_nuscenes_root / "samples").resolve(), root / "samples")
    shutil.copytree(real_nuscenes_root / "maps", root / "maps")
    return root


@pytest.fixture(scope="session")
def kitti_root():
    return require_real_data(REAL_ROOT / "kitti_object", "real KITTI frames")


def small_rig(path):
    """The nuScenes front and back cameras at a quarter of the resolution, to keep tests fast."""
    from perception.sim.dataset import DEFAULT_RIG, scaled_camera  # the generator needs open3d: imported where used
    rig = load_rig(DEFAULT_RIG)
    cameras = {name: scaled_camera(rig.cameras[name], 0.25) for name in ("CAM_FRONT", "CAM_BACK")}
    save_rig(Rig(cameras, rig.lidar), path)
    return path


@pytest.fixture(scope="session")
def traffic_root(tmp_path_factory):
    """Two synthetic scenes of three keyframes (two past sweeps each), seen by the small two-camera rig; the first
    two keyframes hold 22 moving actors with lidar points within 24 m of the ego."""
    from perception.sim.dataset import SynthOptions, generate_dataset

    root = tmp_path_factory.mktemp("traffic")
    generate_dataset(SynthOptions(out=root, scenes=2, frames=3, seed=6, sweeps=2,
                                  rig_path=small_rig(root.parent / "traffic_rig.yaml")), progress=False)
    return root


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory):
    """Two synthetic scenes of three keyframes (two past sweeps each) seen by the small two-camera rig."""
    from perception.sim.dataset import SynthOptions, generate_dataset

    root = tmp_path_factory.mktemp("synth")
    generate_dataset(SynthOptions(out=root, scenes=2, frames=3, seed=7, sweeps=2,
                                  rig_path=small_rig(root.parent / "small_rig.yaml")), progress=False)
    return root
