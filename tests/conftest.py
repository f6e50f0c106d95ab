import pytest

from tests.real_nuscenes import DEMO, REAL_ROOT, build_real_nuscenes


@pytest.fixture(scope="session")
def real_nuscenes_root(tmp_path_factory):
    """A devkit-loadable copy of the real nuScenes keyframe; skipped where the shared data is absent."""
    if not DEMO.is_dir():
        pytest.skip(f"real nuScenes keyframe not found at {DEMO} (shared data is not in a user's clone)")
    return build_real_nuscenes(tmp_path_factory.mktemp("nuscenes_real"))


@pytest.fixture(scope="session")
def kitti_root():
    root = REAL_ROOT / "kitti_object"
    if not root.is_dir():
        pytest.skip(f"real KITTI frames not found at {root} (shared data is not in a user's clone)")
    return root
