"""The CenterPoint head's decoding and training targets on small hand-made maps.

Decoding: a cell is a candidate only if it is the maximum of its 3×3 neighbourhood in its own class, and the
``max_detections`` cap applies after circle NMS. Targets: CenterNet's gaussian radius, the gaussian's footprint and
values (also where it is cut by the grid's edges), and zero weight for unknown (NaN) velocities.
"""
import dataclasses
import math
from pathlib import Path

import pytest
import torch

from perception.models.config import load_config
from perception.models.heads.centerpoint import HeadOutput
from perception.models.heads.decode import decode, decode_regression
from perception.models.heads.losses import direction_loss
from perception.models.heads.targets import build_targets, class_balance_weights, draw_gaussian, gaussian_radius
from perception.ops.grid import BEVGrid

# 8 × 8 cells of 1 m from the origin: cell (ix, iy) covers x in [ix, ix + 1), y in [iy, iy + 1).
GRID = BEVGrid((0.0, 8.0), (0.0, 8.0), (-1.0, 1.0), 1.0)
ROOT = Path(__file__).resolve().parents[1]
LOW = 1e-3  # the probability of every cell not listed


def head_output(probabilities: dict[tuple[int, int, int], float], num_classes: int = 2) -> HeadOutput:
    """Logits with ``probabilities[(class, iy, ix)]`` and LOW elsewhere; regression puts every box at its cell
    centre with size 1 m, yaw 0 and velocity (0, 0)."""
    heat = torch.full((1, num_classes, *GRID.shape), LOW)
    for (k, iy, ix), p in probabilities.items():
        heat[0, k, iy, ix] = p
    regression = torch.zeros(1, 10, *GRID.shape)
    regression[:, 0:2] = 0.5   # offset within the cell: the centre
    regression[:, 7] = 1.0     # cos yaw (sin yaw stays 0)
    return HeadOutput(torch.logit(heat), regression)


def decoded(output: HeadOutput, max_detections: int = 100, nms_radius=(0.0, 0.0)):
    """Boxes as (class, x, y, score rounded to 4 places), in the decoder's order (descending score)."""
    detections = decode(output, GRID, velocity_unit=1.0, score_threshold=0.1, pre_nms_top_k=100,
                        max_detections=max_detections, nms_radius=torch.tensor(nms_radius))[0]
    return [(int(k), float(b[0]), float(b[1]), round(float(s), 4))
            for k, b, s in zip(detections.labels, detections.boxes, detections.scores)]


def test_only_the_peak_of_a_3x3_neighbourhood_of_its_class_is_a_candidate():
    output = head_output({
        (0, 2, 2): 0.9,
        (0, 2, 3): 0.8,  # beside 0.9 of its class: not a peak
        (0, 2, 5): 0.7,  # two cells from 0.8 (outside its 3×3): a peak
        (1, 2, 3): 0.6,  # beside 0.9 of the other class: a peak of its own class
        (0, 4, 4): 0.5,
        (0, 5, 5): 0.4,  # diagonal neighbour of 0.5: not a peak
    })
    # NMS is off (radius 0), so what is dropped is dropped by the peak test.
    assert decoded(output) == [(0, 2.5, 2.5, 0.9), (0, 5.5, 2.5, 0.7), (1, 3.5, 2.5, 0.6), (0, 4.5, 4.5, 0.5)]


def test_max_detections_caps_what_nms_kept():
    output = head_output({
        (0, 0, 0): 0.95,
        (0, 0, 2): 0.9,   # a peak, 2 m from 0.95 of its class: removed by NMS (radius 3 m)
        (0, 4, 7): 0.8,
        (0, 7, 1): 0.7,
        (0, 7, 5): 0.6,   # 4 m from 0.7, 3.6 m from 0.8: kept by NMS, but fourth
    })
    assert decoded(output, nms_radius=(3.0, 3.0)) == [(0, 0.5, 0.5, 0.95), (0, 7.5, 4.5, 0.8), (0, 1.5, 7.5, 0.7),
                                                      (0, 5.5, 7.5, 0.6)]
    # The cap keeps the three best boxes that survive NMS (capping before NMS would leave two).
    assert decoded(output, max_detections=3, nms_radius=(3.0, 3.0)) == [(0, 0.5, 0.5, 0.95), (0, 7.5, 4.5, 0.8),
                                                                        (0, 1.5, 7.5, 0.7)]
    assert decoded(output, max_detections=1, nms_radius=(3.0, 3.0)) == [(0, 0.5, 0.5, 0.95)]


def test_gaussian_radius_is_centernets():
    """By hand from CenterNet's three cases (b ± sqrt(b² − 4ac)) / 2; the third is the smallest for these boxes.

    10 × 10 cells at overlap 0.1: case 3 has a = 0.4, b = −4, c = −90, so r = (−4 + sqrt(16 + 144)) / 2 = √40 − 2
    (cases 1 and 2 give 14.26 and 26.32). 4 × 2 cells at overlap 0.5: a = 2, b = −6, c = −4, r = (−6 + √68) / 2.
    """
    assert gaussian_radius(10.0, 10.0, 0.1) == pytest.approx(math.sqrt(40) - 2, abs=1e-12)
    assert gaussian_radius(4.0, 2.0, 0.5) == pytest.approx((-6 + math.sqrt(68)) / 2, abs=1e-12)


def expected_gaussian(shape, cx: int, cy: int, radius: int) -> torch.Tensor:
    """exp(−d² / 2σ²) with σ = (2r + 1) / 6 on the (2r + 1)² cells around (cx, cy), 0 elsewhere."""
    sigma = (2 * radius + 1) / 6
    ys, xs = torch.meshgrid(torch.arange(shape[0]), torch.arange(shape[1]), indexing="ij")
    dx, dy = (xs - cx).float(), (ys - cy).float()
    inside = (dx.abs() <= radius) & (dy.abs() <= radius)
    return torch.where(inside, torch.exp(-(dx ** 2 + dy ** 2) / (2 * sigma ** 2)), torch.zeros(()))


def test_heatmap_gaussian_radius_footprint_and_values():
    grid = BEVGrid((0.0, 8.0), (0.0, 8.0), (-1.0, 1.0), 0.5)  # 16 × 16 cells of 0.5 m
    boxes = torch.tensor([[4.25, 4.25, 0.0, 5.0, 5.0, 1.5, 0.0, 0.0, 0.0],    # 10 × 10 cells: radius int(4.32) = 4
                          [1.25, 6.75, 0.0, 0.5, 0.5, 1.5, 0.0, 0.0, 0.0]])   # 1 × 1 cell: radius 0 → min_radius 2
    targets = build_targets([boxes], [torch.tensor([0, 1])], grid, num_classes=2, min_overlap=0.1, min_radius=2,
                            velocity_unit=1.0)
    torch.testing.assert_close(targets.heatmap[0, 0], expected_gaussian(grid.shape, 8, 8, 4))
    torch.testing.assert_close(targets.heatmap[0, 1], expected_gaussian(grid.shape, 2, 13, 2))
    # One cell beside the big box's centre: exp(−1 / (2 · 1.5²)); its footprint is 9 × 9 cells.
    assert targets.heatmap[0, 0, 8, 9].item() == pytest.approx(math.exp(-2 / 9))
    assert (targets.heatmap[0, 0] > 0).sum() == 81 and (targets.heatmap[0, 1] > 0).sum() == 25
    assert targets.cell[0].tolist() == [8 * 16 + 8, 13 * 16 + 2]


def test_gaussian_is_cut_at_the_grid_edges_and_max_blended():
    heatmap = torch.zeros(5, 6)
    draw_gaussian(heatmap, 0, 0, 2)  # top-left corner: only the quarter with dx, dy ≥ 0 lands
    torch.testing.assert_close(heatmap, expected_gaussian((5, 6), 0, 0, 2))
    draw_gaussian(heatmap, 5, 4, 2)  # bottom-right corner
    expected = torch.maximum(expected_gaussian((5, 6), 0, 0, 2), expected_gaussian((5, 6), 5, 4, 2))
    torch.testing.assert_close(heatmap, expected)
    draw_gaussian(heatmap, 1, 1, 1)  # overlaps the first one: the larger value wins, values are not added
    torch.testing.assert_close(heatmap, torch.maximum(expected, expected_gaussian((5, 6), 1, 1, 1)))
    assert heatmap.max() == 1


def test_boxes_on_the_last_cell_count_and_boxes_past_the_edge_do_not():
    boxes = torch.tensor([[7.99, 7.99, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0],   # cell (7, 7), the last one
                          [8.0, 4.5, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0],     # x = x max: outside (half-open)
                          [4.5, -0.01, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0]])  # just below y min: outside
    targets = build_targets([boxes], [torch.tensor([0, 0, 0])], GRID, num_classes=1, min_overlap=0.1, min_radius=1,
                            velocity_unit=1.0)
    torch.testing.assert_close(targets.heatmap[0, 0], expected_gaussian(GRID.shape, 7, 7, 1))
    assert targets.weight[0, :, 0].tolist() == [1.0, 0.0, 0.0]
    assert targets.cell[0, 0] == 7 * 8 + 7


def test_unknown_velocity_gets_zero_weight_and_a_finite_target():
    boxes = [torch.tensor([[2.5, 3.5, 0.5, 4.0, 2.0, 1.5, 0.0, float("nan"), float("nan")],
                           [5.25, 1.75, -0.5, 2.0, 1.0, 1.0, math.pi / 2, 3.0, -1.0]]),
             torch.zeros(0, 9)]  # a sample without boxes: its row is padding
    targets = build_targets(boxes, [torch.tensor([0, 1]), torch.zeros(0, dtype=torch.long)], GRID, num_classes=2,
                            min_overlap=0.1, min_radius=1, velocity_unit=2.0)
    assert targets.weight[0, 0].tolist() == [1.0] * 8 + [0.0, 0.0]
    assert targets.weight[0, 1].tolist() == [1.0] * 10
    assert targets.weight[1].eq(0).all()
    assert targets.regression.isfinite().all()
    # offset x, offset y, z, log l, log w, log h, sin yaw, cos yaw, vx, vy (velocity in units of 2 m/s)
    torch.testing.assert_close(targets.regression[0, 0], torch.tensor(
        [0.5, 0.5, 0.5, math.log(4.0), math.log(2.0), math.log(1.5), 0.0, 1.0, 0.0, 0.0]))
    torch.testing.assert_close(targets.regression[0, 1], torch.tensor(
        [0.25, 0.75, -0.5, math.log(2.0), 0.0, 0.0, 1.0, math.cos(math.pi / 2), 1.5, -0.5]))
    assert targets.cell[0].tolist() == [3 * 8 + 2, 1 * 8 + 5]


# ------------------------------------------------------------------------------------------- direction classifier
HEADINGS = [0.0, 0.3, math.pi / 2 - 0.05, math.pi / 2 + 0.05, 2.5, math.pi - 0.01, -math.pi + 0.01, -2.0, -0.4]


def test_axis_encoding_is_the_same_for_opposite_headings():
    boxes = torch.tensor([[3.5, 3.5, 0.0, 4.0, 2.0, 1.5, h, 0.0, 0.0] for h in HEADINGS])
    turned = boxes.clone()
    turned[:, 6] += math.pi
    targets = [build_targets([b], [torch.zeros(len(HEADINGS), dtype=torch.long)], GRID, 1, 0.1, 1, 1.0,
                             direction_classifier=True) for b in (boxes, turned)]
    torch.testing.assert_close(targets[0].regression[..., 6:8], targets[1].regression[..., 6:8])
    # The direction targets of a heading and its opposite differ everywhere: the classifier alone tells them apart.
    assert (targets[0].direction + targets[1].direction).eq(1).all()


@pytest.mark.parametrize("heading", HEADINGS)
def test_direction_classifier_targets_decode_back_to_the_heading(heading):
    box = torch.tensor([[3.5, 4.5, 0.0, 4.0, 2.0, 1.5, heading, 1.0, -2.0]])
    targets = build_targets([box], [torch.zeros(1, dtype=torch.long)], GRID, 1, 0.1, 1, 1.0,
                            direction_classifier=True)
    regression = torch.zeros(1, 10, *GRID.shape)
    regression.view(1, 10, -1)[0, :, targets.cell[0, 0]] = targets.regression[0, 0]
    direction = torch.full((1, 1, *GRID.shape), -10.0)
    direction.view(-1)[targets.cell[0, 0]] = 10.0 if targets.direction[0, 0] else -10.0
    heat = torch.full((1, 1, *GRID.shape), LOW)
    heat[0, 0, 4, 3] = 0.9
    detections = decode(HeadOutput(torch.logit(heat), regression, direction), GRID, 1.0, 0.1, 100, 100,
                        torch.tensor([0.0]))[0]
    decoded_box = detections.boxes[0]
    torch.testing.assert_close(decoded_box[[0, 1, 3, 4, 5, 7, 8]], box[0, [0, 1, 3, 4, 5, 7, 8]])
    error = math.remainder(float(decoded_box[6]) - heading, 2 * math.pi)
    assert abs(error) < 1e-5


@pytest.mark.parametrize("velocity, expected_yaw", [((-3.0, 0.5), math.pi), ((-0.5, 0.0), 0.0), ((3.0, 0.0), 0.0)])
def test_a_moving_box_faces_where_it_moves(velocity, expected_yaw):
    """Above ``heading_from_velocity`` a heading against the velocity is turned by π; slow boxes keep theirs."""
    regression = torch.tensor([[0.5, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, *velocity]])  # yaw 0
    box = decode_regression(regression, torch.tensor([2]), torch.tensor([3]), GRID, 1.0, heading_from_velocity=1.0)
    assert abs(math.remainder(float(box[0, 6]) - expected_yaw, 2 * math.pi)) < 1e-6
    torch.testing.assert_close(box[0, 7:9], torch.tensor(velocity))


# ------------------------------------------------------------------------- direction pooled along the box's length
def long_box_output(direction_by_column: list[float]) -> HeadOutput:
    """One box 6 m long heading 0 (along x) centred on cell (ix 4, iy 4); the direction logit of every row is
    ``direction_by_column[ix]``."""
    heat = torch.full((1, 1, *GRID.shape), LOW)
    heat[0, 0, 4, 4] = 0.9
    regression = torch.zeros(1, 10, *GRID.shape)
    regression[:, 0:2] = 0.5
    regression[:, 3] = math.log(6.0)
    regression[:, 7] = 1.0  # the axis: sin 2θ 0, cos 2θ 1
    direction = torch.tensor(direction_by_column).expand(1, 1, *GRID.shape).clone()
    return HeadOutput(torch.logit(heat), regression, direction)


@pytest.mark.parametrize("points, expected_yaw", [(0, 0.0), (5, math.pi)])
def test_pooled_direction_hears_the_ends_of_a_long_box(points, expected_yaw):
    """The centre cell says 'front ahead' (-1), the cells near both ends say 'front behind' (+10): read at the centre
    the box keeps yaw 0; pooled at x = 2.1, 3.3, 4.5, 5.7, 6.9 m (±0.4 lengths) the mean logit is
    (10 + 1.2 - 1 + 1.2 + 10) / 5 > 0 and the box turns by π."""
    output = long_box_output([-1.0, 10.0, 10.0, -1.0, -1.0, -1.0, 10.0, 10.0])
    [box] = decode(output, GRID, 1.0, 0.1, 100, 100, torch.tensor([0.0]), direction_points=points)[0].boxes
    assert abs(math.remainder(float(box[6]) - expected_yaw, 2 * math.pi)) < 1e-5


@pytest.mark.parametrize("points", [0, 5])
def test_direction_loss_reaches_the_cells_it_pools(points):
    """Pooled, the cross-entropy of a 6 m box heading along y (centre (4.5, 4.5)) has gradient at the cells along
    its length, y 2.1 to 6.9 m in column 4, and nowhere else; at the centre cell alone without pooling."""
    box = torch.tensor([[4.5, 4.5, 0.0, 6.0, 2.0, 1.5, math.pi / 2, 0.0, 0.0]])
    targets = build_targets([box], [torch.zeros(1, dtype=torch.long)], GRID, 1, 0.1, 1, 1.0,
                            direction_classifier=True, direction_points=points)
    logits = torch.zeros(1, 1, *GRID.shape, requires_grad=True)
    direction_loss(logits, targets).backward()
    touched = {(iy, ix) for iy, ix in torch.nonzero(logits.grad[0, 0]).tolist()}
    assert touched == ({(iy, 4) for iy in range(1, 8)} if points else {(4, 4)})


def test_class_balance_gives_each_class_of_the_batch_the_share_its_power_says():
    """Four cars across two samples and one bus: at p = 1 the bus's direction term weighs as much as all cars
    together, at p = 0.5 as much as two of them; padding weighs nothing."""
    labels = [torch.tensor([0, 0, 0, 1]), torch.tensor([0])]
    torch.testing.assert_close(class_balance_weights(labels, 5, 2, 1.0),
                               torch.tensor([[0.25, 0.25, 0.25, 1.0, 0.0], [0.25, 0.0, 0.0, 0.0, 0.0]]))
    torch.testing.assert_close(class_balance_weights(labels, 4, 2, 0.5),
                               torch.tensor([[0.5, 0.5, 0.5, 1.0], [0.5, 0.0, 0.0, 0.0]]))


def test_class_balanced_direction_loss_pulls_harder_on_the_rare_class():
    """Three cars and a bus, every direction logit 0: balanced at p = 1, the bus's cell gets three times a car's
    gradient (each class half the loss); unbalanced, the same gradient as each car."""
    boxes = torch.tensor([[1.5 + 2 * i, 1.5, 0.0, 1.0, 1.0, 1.5, 0.0, 0.0, 0.0] for i in range(4)])
    labels = [torch.tensor([0, 0, 0, 1])]
    grads = []
    for power in (0.0, 1.0):
        targets = build_targets([boxes], labels, GRID, 2, 0.1, 1, 1.0, direction_classifier=True,
                                direction_class_balance=power)
        logits = torch.zeros(1, 1, *GRID.shape, requires_grad=True)
        direction_loss(logits, targets).backward()
        grads.append(logits.grad.view(-1)[targets.cell[0]].abs())
    torch.testing.assert_close(grads[0], torch.full((4,), grads[0][0].item()))
    torch.testing.assert_close(grads[1][3], 3 * grads[1][0])


@pytest.mark.parametrize("head_changes, message", [
    ({"direction_points": 1}, "direction_points: 0 .the centre cell. or at least 2, got 1"),
    ({"direction_points": 5, "direction_classifier": False}, "direction_points: pools the direction classifier"),
    ({"direction_class_balance": 1.5}, "direction_class_balance: 0 .plain mean. to 1 .every class alike., got 1.5"),
    ({"direction_class_balance": 0.5, "direction_points": 0, "direction_classifier": False},
     "direction_class_balance: weighs the direction classifier's loss"),
])
def test_direction_points_need_two_points_and_a_direction_classifier(head_changes, message):
    head = load_config(ROOT / "configs" / "demo-pooled.yaml").head
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(head, **head_changes)
