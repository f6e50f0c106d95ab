"""The optional sparse 3D lidar encoder (spconv): BEV placement, batching, training inside the fused model."""
import sys
from dataclasses import replace

import pytest
import torch

from perception.errors import USER_ERRORS, MissingExtra
from perception.models.lidar import sparse_encoder
from perception.ops.grid import BEVGrid
from tests.model_configs import tiny_config, tiny_train_config

GRID = BEVGrid((-12.8, 12.8), (-12.8, 12.8), (-5.0, 3.0), 0.4)  # 64 x 64 cells, 16 layers of 0.5 m


@pytest.fixture
def spconv_available():
    pytest.importorskip("spconv.pytorch", reason="the sparse encoder needs spconv: pip install -e '.[sparse]'")


def cell_of(x: float, y: float) -> tuple[int, int]:
    return int((y + 12.8) // 0.4), int((x + 12.8) // 0.4)


def test_points_land_in_their_own_bev_cells_per_sample(spconv_available):
    torch.manual_seed(0)
    encoder = sparse_encoder.SparseVoxelEncoder(GRID, 0.5, (8, 16)).eval()
    assert encoder.out_channels == 16 * 8  # 16 height layers halved once
    points = torch.tensor([[3.1, -2.3, 0.4, 10.0, 0.0], [3.0, -2.2, -1.2, 30.0, 0.05],  # sample 0, one cell
                           [-7.5, 9.9, 1.0, 50.0, 0.0]])                                # sample 1
    with torch.no_grad():
        bev = encoder(points, torch.tensor([0, 0, 1]), batch_size=2)
    assert bev.shape == (2, 128, 64, 64)
    occupied = bev.abs().sum(dim=1) > 0  # (2, ny, nx)
    # Submanifold convolutions keep the occupied set; only height is mixed, so nothing spreads in x-y.
    assert occupied.nonzero().tolist() == [[0, *cell_of(3.1, -2.3)], [1, *cell_of(-7.5, 9.9)]]


def sparse_config(base):
    return replace(base, lidar=replace(base.lidar, encoder="sparse", voxel_z=0.5, sparse_channels=(8, 16),
                                       sweep_occupancy=False))


def test_fused_model_with_the_sparse_encoder_detects_on_cpu_and_refuses_cpu_training(synth_root, spconv_available):
    from perception.models.detector import FusionDetector
    from tests.test_model import synth_batch

    torch.manual_seed(0)
    config = sparse_config(tiny_config())
    model = FusionDetector(config)
    batch, boxes, labels = synth_batch(synth_root, config)
    with pytest.raises(RuntimeError, match="trains on GPU only"):
        model(batch)
    model.eval()
    output = model(batch)
    assert output.heatmap.shape == (2, 10, 64, 64) and torch.isfinite(output.regression).all()
    assert model.lidar(batch).shape == (2, 16 * 8, 128, 128)
    without_points = replace(batch, points=batch.points[:0], point_batch=batch.point_batch[:0])
    assert len(model.predict(without_points)) == 2  # camera-only inference


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_fused_model_with_the_sparse_encoder_trains_on_cuda(spconv_available):
    from perception.bench import bench_train_step

    result = bench_train_step(sparse_config(tiny_config()), tiny_train_config(), torch.device("cuda"), steps=8,
                              warmup=2, num_points=100_000)
    assert result["last_loss"] < result["first_loss"]


def test_missing_spconv_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "spconv", None)
    monkeypatch.setitem(sys.modules, "spconv.pytorch", None)
    with pytest.raises(MissingExtra, match=r"pip install -e '\.\[sparse\]'"):
        sparse_encoder.SparseVoxelEncoder(GRID, 0.5, (8,))
    assert issubclass(MissingExtra, USER_ERRORS)  # the command line prints it as one line
