"""Tensor ops: BEV grid, camera → BEV pooling, voxelization, pillar encoder, circle NMS."""
import math

import pytest
import torch

from perception.ops import (BEVGrid, GeometryCache, PillarFeatureNet, bev_pool, circle_nms, compute_bev_pool_geometry,
                            scatter_max, scatter_mean, voxelize)

# 4 columns along x (0.5 m cells over [0, 2)), 5 rows along y (over [0, 2.5)), z kept in [-1, 1).
SMALL_GRID = BEVGrid(x_range=(0.0, 2.0), y_range=(0.0, 2.5), z_range=(-1.0, 1.0), cell=0.5)


# ---------------------------------------------------------------------------------------------------------- grid

def test_grid_shape_cells_and_centres():
    assert SMALL_GRID.shape == (5, 4) and (SMALL_GRID.nx, SMALL_GRID.ny) == (4, 5)
    xy = torch.tensor([[0.0, 0.0], [1.99, 2.49], [0.74, 1.26], [2.0, 1.0], [-0.01, 1.0], [float("nan"), 1.0]])
    ix, iy, inside = SMALL_GRID.cell_of(xy)
    assert inside.tolist() == [True, True, True, False, False, False]
    assert ix[:3].tolist() == [0, 3, 1] and iy[:3].tolist() == [0, 4, 2]
    assert (ix[~inside] == -1).all() and (iy[~inside] == -1).all()
    centres = SMALL_GRID.centre_of(torch.tensor([0, 3]), torch.tensor([0, 4]))
    torch.testing.assert_close(centres, torch.tensor([[0.25, 0.25], [1.75, 2.25]]))


def test_grid_rejects_ranges_that_are_not_whole_cells():
    with pytest.raises(ValueError):
        BEVGrid((0.0, 1.2), (0.0, 1.0), (-1.0, 1.0), cell=0.5)
    with pytest.raises(ValueError):
        BEVGrid((1.0, 0.0), (0.0, 1.0), (-1.0, 1.0), cell=0.5)


# ------------------------------------------------------------------------------------------------------ bev pool

def random_frustum(generator, shape, dtype=torch.float64):
    """(B, N, D, H, W, 3) points spread a bit beyond SMALL_GRID in x, y and z, so some are dropped."""
    low = torch.tensor([-0.5, -0.5, -1.5], dtype=dtype)
    high = torch.tensor([2.5, 3.0, 1.5], dtype=dtype)
    return low + (high - low) * torch.rand(*shape, 3, generator=generator, dtype=dtype)


def reference_bev_pool(depth, context, frustum_xyz, grid):
    """The definition, one frustum point at a time."""
    B, N, D, H, W = depth.shape
    out = torch.zeros(B, context.shape[2], grid.ny, grid.nx, dtype=depth.dtype)
    for b in range(B):
        for n in range(N):
            for d in range(D):
                for h in range(H):
                    for w in range(W):
                        x, y, z = frustum_xyz[b, n, d, h, w].tolist()
                        ix = math.floor((x - grid.x_range[0]) / grid.cell)
                        iy = math.floor((y - grid.y_range[0]) / grid.cell)
                        if 0 <= ix < grid.nx and 0 <= iy < grid.ny and grid.z_range[0] <= z < grid.z_range[1]:
                            out[b, :, iy, ix] = out[b, :, iy, ix] + depth[b, n, d, h, w] * context[b, n, :, h, w]
    return out


@pytest.mark.parametrize("chunk_elements", [1 << 24, 4, 1])
def test_bev_pool_matches_reference_values_and_gradients(chunk_elements):
    generator = torch.Generator().manual_seed(0)
    B, N, D, H, W, C = 2, 2, 3, 2, 3, 4
    frustum = random_frustum(generator, (B, N, D, H, W))
    depth = torch.rand(B, N, D, H, W, generator=generator, dtype=torch.float64).requires_grad_()
    context = torch.randn(B, N, C, H, W, generator=generator, dtype=torch.float64).requires_grad_()
    geometry = compute_bev_pool_geometry(frustum, SMALL_GRID)
    assert 0 < geometry.num_points < B * N * D * H * W

    out = bev_pool(depth, context, geometry, chunk_elements=chunk_elements)
    expected = reference_bev_pool(depth, context, frustum, SMALL_GRID)
    assert out.shape == (B, C, 5, 4) and out.dtype == torch.float64
    torch.testing.assert_close(out, expected)

    weights = torch.randn(out.shape, generator=generator, dtype=torch.float64)
    grads = torch.autograd.grad((out * weights).sum(), (depth, context))
    expected_grads = torch.autograd.grad((expected * weights).sum(), (depth, context))
    for grad, expected_grad in zip(grads, expected_grads):
        torch.testing.assert_close(grad, expected_grad)


def test_bev_pool_passes_gradcheck():
    generator = torch.Generator().manual_seed(1)
    geometry = compute_bev_pool_geometry(random_frustum(generator, (1, 2, 2, 2, 2)), SMALL_GRID)
    depth = torch.rand(1, 2, 2, 2, 2, generator=generator, dtype=torch.float64, requires_grad=True)
    context = torch.randn(1, 2, 3, 2, 2, generator=generator, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda d, c: bev_pool(d, c, geometry, chunk_elements=3), (depth, context))


def test_single_frustum_point_lands_in_hand_computed_cell():
    grid = BEVGrid(x_range=(-2.0, 2.0), y_range=(-1.0, 1.5), z_range=(-1.0, 1.0), cell=0.5)  # nx = 8, ny = 5
    # x = 1.3 → (1.3 + 2) / 0.5 = 6.6 → column 6; y = -0.7 → (-0.7 + 1) / 0.5 = 0.6 → row 0.
    frustum = torch.tensor([1.3, -0.7, 0.5]).view(1, 1, 1, 1, 1, 3)
    geometry = compute_bev_pool_geometry(frustum, grid)
    assert geometry.cell_index.tolist() == [6] and geometry.depth_index.tolist() == [0]
    out = bev_pool(torch.full((1, 1, 1, 1, 1), 0.5), torch.tensor([2.0, -4.0]).view(1, 1, 2, 1, 1), geometry)
    expected = torch.zeros(1, 2, 5, 8)
    expected[0, :, 0, 6] = torch.tensor([1.0, -2.0])
    torch.testing.assert_close(out, expected)


def test_points_outside_the_grid_or_z_range_are_dropped():
    inside = [0.3, 0.3, 0.0]
    frustum = torch.tensor([inside, [2.1, 0.3, 0.0], [0.3, -0.1, 0.0], [0.3, 0.3, 1.0], [0.3, 0.3, -1.2],
                            [float("nan"), 0.3, 0.0], inside]).view(1, 1, 7, 1, 1, 3)
    geometry = compute_bev_pool_geometry(frustum, SMALL_GRID)
    assert geometry.depth_index.tolist() == [0, 6]
    assert geometry.context_index.tolist() == [0, 0]  # both depth bins look through the same pixel
    assert geometry.interval_cell.tolist() == [0] and geometry.starts.tolist() == [0]
    assert geometry.lengths.tolist() == [2]


def test_geometry_indices_and_intervals_are_consistent():
    generator = torch.Generator().manual_seed(2)
    B, N, D, H, W = 2, 3, 4, 2, 5
    frustum = random_frustum(generator, (B, N, D, H, W), dtype=torch.float32)
    geometry = compute_bev_pool_geometry(frustum, SMALL_GRID)
    b, n, d, h, w = torch.unravel_index(geometry.depth_index, (B, N, D, H, W))
    assert torch.equal(geometry.context_index, ((b * N + n) * H + h) * W + w)
    ix, iy, _ = SMALL_GRID.cell_of(frustum[b, n, d, h, w, :2])
    assert torch.equal(geometry.cell_index, (b * 5 + iy) * 4 + ix)
    assert (geometry.cell_index.diff() >= 0).all()
    runs = torch.repeat_interleave(geometry.interval_cell, geometry.lengths)
    assert torch.equal(runs, geometry.cell_index)
    assert torch.equal(geometry.starts, torch.cumsum(geometry.lengths, 0) - geometry.lengths)
    assert geometry.interval_cell.unique().numel() == geometry.interval_cell.numel()


def test_geometry_cache_recomputes_only_when_calibration_changes():
    cache = GeometryCache(max_entries=2)
    calls = []

    def compute():
        calls.append(1)
        return compute_bev_pool_geometry(torch.zeros(1, 1, 1, 1, 1, 3), SMALL_GRID)

    ego_from_camera, image_aug = torch.eye(4).repeat(2, 1, 1), torch.eye(3).repeat(2, 1, 1)
    first = cache.get((ego_from_camera, image_aug), SMALL_GRID, compute)
    assert cache.get((ego_from_camera.clone(), image_aug.clone()), SMALL_GRID, compute) is first
    assert len(calls) == 1

    moved = ego_from_camera.clone()
    moved[0, 0, 3] += 1e-3
    assert cache.get((moved, image_aug), SMALL_GRID, compute) is not first
    other_grid = BEVGrid((0.0, 2.0), (0.0, 2.5), (-1.0, 2.0), cell=0.5)
    assert cache.get((ego_from_camera, image_aug), other_grid, compute) is not first
    assert len(calls) == 3 and len(cache) == 2  # the oldest entry was evicted
    cache.get((ego_from_camera, image_aug), SMALL_GRID, compute)
    assert len(calls) == 4


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_bev_pool_half_precision_accumulates_in_float32(dtype):
    generator = torch.Generator().manual_seed(3)
    # Every point in one cell: a long sum, where half-precision accumulation would drift.
    B, N, D, H, W, C = 1, 2, 16, 4, 8, 3
    frustum = torch.tensor([0.2, 0.2, 0.0]).expand(B, N, D, H, W, 3)
    geometry = compute_bev_pool_geometry(frustum, SMALL_GRID)
    depth = torch.rand(B, N, D, H, W, generator=generator).to(dtype).requires_grad_()
    context = torch.rand(B, N, C, H, W, generator=generator).to(dtype).requires_grad_()
    out = bev_pool(depth, context, geometry, chunk_elements=16)
    assert out.dtype == dtype
    expected = bev_pool(depth.detach().double(), context.detach().double(), geometry)
    torch.testing.assert_close(out.double(), expected.to(dtype).double(), rtol=0, atol=0)
    out.float().sum().backward()
    assert depth.grad.dtype == dtype and context.grad.dtype == dtype


# ----------------------------------------------------------------------------------------------------- voxelize

VOXEL_GRID = BEVGrid(x_range=(0.0, 4.0), y_range=(-2.0, 2.0), z_range=(-2.0, 2.0), cell=1.0)  # 4 × 4 cells


def test_hand_made_points_land_in_their_voxels():
    points = torch.tensor([[0.5, -1.5, -1.9, 1.0],   # ix 0, iy 0, iz 0 (z layers of 0.5 m)
                           [3.9, 1.9, 1.9, 2.0],     # ix 3, iy 3, iz 7
                           [3.1, 1.1, 1.6, 3.0],     # same voxel as the previous point
                           [1.5, 0.5, 0.1, 4.0]])    # ix 1, iy 2, iz 4
    voxels = voxelize(points, torch.zeros(4, dtype=torch.long), VOXEL_GRID, voxel_z=0.5)
    assert voxels.coords.tolist() == [[0, 0, 0, 0], [0, 4, 2, 1], [0, 7, 3, 3]]
    assert voxels.point_voxel.tolist() == [0, 2, 2, 1]
    assert voxels.kept.all()

    pillars = voxelize(points, torch.zeros(4, dtype=torch.long), VOXEL_GRID, voxel_z=None)
    assert pillars.coords.tolist() == [[0, 0, 0, 0], [0, 0, 2, 1], [0, 0, 3, 3]]


def test_nan_and_out_of_range_points_are_dropped():
    nan = float("nan")
    points = torch.tensor([[1.0, 0.0, 0.0, 1.0], [nan, 0.0, 0.0, 1.0], [1.0, 0.0, 0.0, nan], [4.0, 0.0, 0.0, 1.0],
                           [1.0, -2.1, 0.0, 1.0], [1.0, 0.0, 2.0, 1.0], [1.0, 0.0, float("inf"), 1.0]])
    voxels = voxelize(points, torch.zeros(7, dtype=torch.long), VOXEL_GRID, voxel_z=1.0)
    assert voxels.kept.tolist() == [True, False, False, False, False, False, False]
    assert voxels.num_voxels == 1 and voxels.point_voxel.tolist() == [0]


def test_points_of_a_voxel_share_its_coords_and_batches_stay_apart():
    generator = torch.Generator().manual_seed(4)
    points = torch.rand(500, 5, generator=generator) * torch.tensor([5.0, 5.0, 5.0, 1.0, 1.0])
    points[:, 1:3] -= 2.5
    batch_index = torch.randint(0, 3, (500,), generator=generator)
    voxels = voxelize(points, batch_index, VOXEL_GRID, voxel_z=0.5)
    kept = points[voxels.kept]
    coords = voxels.coords[voxels.point_voxel]
    assert torch.equal(coords[:, 0], batch_index[voxels.kept])
    expected_cell = torch.stack([((kept[:, 2] + 2) / 0.5).floor(), (kept[:, 1] + 2).floor(), kept[:, 0].floor()], 1)
    assert torch.equal(coords[:, 1:], expected_cell.long())
    assert voxels.coords.unique(dim=0).shape[0] == voxels.num_voxels  # one row per distinct voxel
    assert set(voxels.point_voxel.tolist()) == set(range(voxels.num_voxels))  # and no voxel without points


def test_empty_input_gives_no_voxels():
    voxels = voxelize(torch.zeros(0, 5), torch.zeros(0, dtype=torch.long), VOXEL_GRID)
    assert voxels.coords.shape == (0, 4) and voxels.point_voxel.shape == (0,) and voxels.kept.shape == (0,)


def test_flag_deduplication_of_keys_is_torch_unique():
    from perception.ops.voxelize import DENSE_KEYS, unique_keys

    generator = torch.Generator().manual_seed(0)
    for space in (1, 1000, 70_000, DENSE_KEYS + 1):  # the last one sorts
        key = torch.randint(0, space, (5000,), generator=generator)
        for found, expected in zip(unique_keys(key, space), torch.unique(key, sorted=True, return_inverse=True)):
            assert torch.equal(found, expected)
    assert [len(x) for x in unique_keys(torch.zeros(0, dtype=torch.long), 100)] == [0, 0]


def test_scatter_mean_and_max():
    values = torch.tensor([[1.0, -5.0], [3.0, -1.0], [10.0, 2.0]])
    index = torch.tensor([1, 1, 0])
    torch.testing.assert_close(scatter_mean(values, index, 3), torch.tensor([[10.0, 2.0], [2.0, -3.0], [0.0, 0.0]]))
    torch.testing.assert_close(scatter_max(values, index, 3), torch.tensor([[10.0, 2.0], [3.0, -1.0], [0.0, 0.0]]))
    torch.testing.assert_close(scatter_max(values[:, 1], index, 2), torch.tensor([2.0, -1.0]))


# ----------------------------------------------------------------------------------------------- pillar encoder

def test_pillar_encoder_shapes_and_gradients():
    """Every parameter gets a non-zero gradient, and the gradient agrees with finite differences (float64,
    training-mode batch norm)."""
    generator = torch.Generator().manual_seed(5)
    encoder = PillarFeatureNet(VOXEL_GRID, in_features=5, channels=(16, 8)).train().double()
    points = torch.rand(200, 5, generator=generator, dtype=torch.float64) * torch.tensor([4.0, 4.0, 4.0, 1.0, 0.5])
    points[:, 1:3] -= 2.0
    batch_index = torch.randint(0, 2, (200,), generator=generator)
    bev = encoder(points, batch_index, batch_size=2)
    assert bev.shape == (2, 8, 4, 4)
    weights = torch.randn(bev.shape, generator=generator, dtype=torch.float64)
    names, parameters = zip(*((name, p.detach().requires_grad_()) for name, p in encoder.named_parameters()))

    def weighted_bev(*values):
        return (torch.func.functional_call(encoder, dict(zip(names, values)), (points, batch_index, 2)) * weights).sum()

    gradients = torch.autograd.grad(weighted_bev(*parameters), parameters)
    assert all(gradient.abs().sum() > 0 for gradient in gradients)
    # Fast mode: the derivative along a random direction of all 336 parameters against finite differences.
    assert torch.autograd.gradcheck(weighted_bev, parameters, fast_mode=True)


def test_pillar_encoder_handles_empty_input_and_single_pillars_in_training():
    encoder = PillarFeatureNet(VOXEL_GRID, channels=(8,)).train()
    bev = encoder(torch.zeros(0, 5), torch.zeros(0, dtype=torch.long), batch_size=3)
    assert bev.shape == (3, 8, 4, 4) and not bev.any()
    one_point = torch.tensor([[1.5, 0.5, 0.0, 0.3, 0.0]])
    assert encoder(one_point, torch.zeros(1, dtype=torch.long), batch_size=1).isfinite().all()
    one_pillar = torch.tensor([[1.5, 0.5, 0.0, 0.3, 0.0], [1.2, 0.7, 1.0, 0.9, 0.1]])
    assert encoder(one_pillar, torch.zeros(2, dtype=torch.long), batch_size=1).isfinite().all()


def test_pillar_feature_appears_only_in_its_cell():
    encoder = PillarFeatureNet(VOXEL_GRID, channels=(8,)).eval()
    points = torch.tensor([[2.5, -1.5, 0.0, 0.7, 0.0], [2.2, -1.1, 0.5, 0.2, 0.0]])  # both in column 2, row 0
    with torch.no_grad():
        features, _ = encoder.pillar_features(points, torch.ones(2, dtype=torch.long))
        bev = encoder(points, torch.ones(2, dtype=torch.long), batch_size=2)
    assert features.shape == (1, 8) and features.any()
    expected = torch.zeros(2, 8, 4, 4)
    expected[1, :, 0, 2] = features[0]
    torch.testing.assert_close(bev, expected)


# ---------------------------------------------------------------------------------------------------------- nms

def reference_circle_nms(centres_xy, scores, labels, radius):
    """Sequential greedy NMS, highest score first, equal scores by index."""
    order = sorted(range(len(scores)), key=lambda i: (-float(scores[i]), i))
    kept = []
    for j in order:
        if not any(labels[i] == labels[j] and torch.dist(centres_xy[i], centres_xy[j]) < radius[labels[i]]
                   for i in kept):
            kept.append(j)
    return kept


@pytest.mark.parametrize("seed", range(6))
def test_circle_nms_matches_greedy_reference(seed):
    generator = torch.Generator().manual_seed(seed)
    count = 60
    centres = torch.rand(count, 2, generator=generator, dtype=torch.float64) * 10
    scores = (torch.rand(count, generator=generator) * 8).round() / 8  # many ties
    labels = torch.randint(0, 3, (count,), generator=generator)
    radius = torch.tensor([1.5, 3.0, 0.0])
    keep = circle_nms(centres, scores, labels, radius)
    assert keep.tolist() == reference_circle_nms(centres, scores, labels, radius)
    assert (labels[keep] == 2).sum() == (labels == 2).sum()  # radius 0 suppresses nothing


def test_circle_nms_chain_needs_several_rounds():
    # Each box suppresses only the next: greedy keeps every other one.
    centres = torch.tensor([[float(i), 0.0] for i in range(7)])
    keep = circle_nms(centres, torch.linspace(1, 0.1, 7), torch.zeros(7, dtype=torch.long), torch.tensor([1.5]))
    assert keep.tolist() == [0, 2, 4, 6]


def test_circle_nms_edge_cases():
    radius = torch.tensor([1.0])
    empty = circle_nms(torch.zeros(0, 2), torch.zeros(0), torch.zeros(0, dtype=torch.long), radius)
    assert empty.shape == (0,) and empty.dtype == torch.long
    single = circle_nms(torch.zeros(1, 2), torch.ones(1), torch.zeros(1, dtype=torch.long), radius)
    assert single.tolist() == [0]


def test_normalized_pillar_features_equal_a_net_with_scaled_first_weights():
    """``normalize`` divides each decorated feature by its unit before the MLP: the same as dividing the first
    layer's weights by the units."""
    generator = torch.Generator().manual_seed(3)
    normalized = PillarFeatureNet(VOXEL_GRID, channels=(8,), normalize=True).eval()
    raw = PillarFeatureNet(VOXEL_GRID, channels=(8,)).eval()
    raw.load_state_dict(normalized.state_dict())
    units = normalized.feature_units
    assert units.shape == (10,) and units[4] == 0.5 and units[3] == 255.0
    with torch.no_grad():
        raw.layers[0].linear.weight /= units
        points = torch.rand(50, 5, generator=generator) * torch.tensor([4.0, 4.0, 4.0, 255.0, 0.15])
        points[:, 1:3] -= 2.0
        batch_index = torch.zeros(50, dtype=torch.long)
        torch.testing.assert_close(normalized(points, batch_index, 1), raw(points, batch_index, 1))


def test_sweep_occupancy_counts_points_per_cell_and_age():
    from perception.ops.pillar_encoder import sweep_occupancy
    dt = torch.tensor([0.0, 0.0, 0.05, 0.049, 0.1, 0.45, 0.0])
    cell = torch.tensor([0, 0, 0, 2, 2, 2, 3])
    expected = torch.zeros(4, 3)
    expected[0] = torch.tensor([2.0, 1.0, 0.0])  # two keyframe points and one a sweep old
    expected[2] = torch.tensor([0.0, 1.0, 2.0])  # 0.049 s rounds to one sweep; 0.45 s falls in the oldest bin
    expected[3, 0] = 1.0
    torch.testing.assert_close(sweep_occupancy(dt, cell, num_cells=4, bins=3), expected.log1p())


def test_pillar_encoder_appends_sweep_occupancy_of_its_cells():
    encoder = PillarFeatureNet(VOXEL_GRID, channels=(8,), occupancy_bins=2).eval()
    plain = PillarFeatureNet(VOXEL_GRID, channels=(8,)).eval()
    plain.load_state_dict(encoder.state_dict())
    # column 2, row 0 of sample 1: a keyframe point and a point one sweep old; column 0, row 3: a keyframe point
    points = torch.tensor([[2.5, -1.5, 0.0, 0.7, 0.0], [2.2, -1.1, 0.5, 0.2, 0.05], [0.5, 1.5, 0.0, 0.1, 0.0]])
    batch_index = torch.tensor([1, 1, 1])
    with torch.no_grad():
        bev = encoder(points, batch_index, batch_size=2)
        features = plain(points, batch_index, batch_size=2)
    assert encoder.out_channels == 10 and bev.shape == (2, 10, 4, 4)
    torch.testing.assert_close(bev[:, :8], features)
    expected = torch.zeros(2, 2, 4, 4)
    expected[1, :, 0, 2] = math.log(2)
    expected[1, 0, 3, 0] = math.log(2)
    torch.testing.assert_close(bev[:, 8:], expected)
