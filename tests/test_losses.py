"""The CenterPoint losses on hand-computed cases: gaussian focal loss, masked L1 regression loss, their weighting."""
import math

import pytest
import torch

from perception.models.heads.centerpoint import HeadOutput
from perception.models.heads.losses import detection_loss, gaussian_focal_loss, regression_l1_loss
from perception.models.heads.targets import HeadTargets

LN_08, LN_02 = math.log(0.8), math.log(0.2)


def logits_of(*probabilities: float) -> torch.Tensor:
    return torch.logit(torch.tensor(probabilities, dtype=torch.float64)).float()


def test_focal_loss_hand_computed():
    """Cells (prob, target): a centre (0.8, 1), a gaussian flank (0.2, 0.5), a background cell (0.2, 0), and a
    second centre (0.5, 1). With alpha 2, beta 4:
    centres: −(1 − p)² ln p          → −0.04 ln 0.8 and −0.25 ln 0.5
    others:  −(1 − t)⁴ p² ln(1 − p)  → −0.0625 · 0.04 ln 0.8 and −0.04 ln 0.8
    summed and divided by the number of centres (2)."""
    logits = logits_of(0.8, 0.2, 0.2, 0.5).reshape(1, 1, 2, 2)
    target = torch.tensor([1.0, 0.5, 0.0, 1.0]).reshape(1, 1, 2, 2)
    expected = -(0.04 * LN_08 + 0.25 * math.log(0.5) + 0.0625 * 0.04 * LN_08 + 0.04 * LN_08) / 2
    assert gaussian_focal_loss(logits, target).item() == pytest.approx(expected, rel=1e-5)
    # Exponents other than the defaults: alpha 1, beta 2 on the same cells.
    expected = -(0.2 * LN_08 + 0.5 * math.log(0.5) + 0.25 * 0.2 * LN_08 + 0.2 * LN_08) / 2
    assert gaussian_focal_loss(logits, target, alpha=1.0, beta=2.0).item() == pytest.approx(expected, rel=1e-5)


def test_focal_loss_without_centres_is_the_negative_sum():
    """No target cell equals 1: the sum is divided by 1, not by 0 or by the number of cells."""
    logits = logits_of(0.2, 0.2).reshape(1, 1, 1, 2)
    target = torch.tensor([0.0, 0.999]).reshape(1, 1, 1, 2)  # almost a centre is not a centre
    expected = -(0.04 * LN_08 + 0.001 ** 4 * 0.04 * LN_08)
    assert gaussian_focal_loss(logits, target).item() == pytest.approx(expected, rel=1e-5)


def test_focal_loss_gradient_at_a_centre_and_a_background_cell():
    """d/dx of the loss for a logit x with p = sigmoid(x), dp/dx = p (1 − p):
    centre:     d/dx[−(1 − p)² ln p]  = 2 p (1 − p)² ln p − (1 − p)³  → at p = 0.5: 0.25 ln 0.5 − 0.125
    background: d/dx[−p² ln(1 − p)]   = −2 p² (1 − p) ln(1 − p) + p³  → at p = 0.2: −0.064 ln 0.8 + 0.008"""
    logits = torch.zeros(1, 1, 1, 2)
    logits[0, 0, 0, 1] = math.log(0.25)  # p = 0.2
    logits.requires_grad_()
    gaussian_focal_loss(logits, torch.tensor([1.0, 0.0]).reshape(1, 1, 1, 2)).backward()
    expected = [0.25 * math.log(0.5) - 0.125, -0.064 * LN_08 + 0.008]
    torch.testing.assert_close(logits.grad.reshape(2), torch.tensor(expected), rtol=1e-5, atol=1e-7)


def test_focal_loss_stays_finite_for_confident_logits():
    """Probabilities are clamped to [1e-4, 1 − 1e-4]: a confident wrong logit costs −ln(1e-4), not infinity."""
    logits = torch.tensor([30.0, -30.0]).reshape(1, 1, 1, 2)  # a background cell at p ≈ 1, a centre at p ≈ 0
    loss = gaussian_focal_loss(logits, torch.tensor([0.0, 1.0]).reshape(1, 1, 1, 2))
    expected = -2 * (1 - 1e-4) ** 2 * math.log(1e-4)
    assert loss.item() == pytest.approx(expected, rel=1e-4)


def two_box_targets() -> HeadTargets:
    """Batch of 2 on a 2 × 2 map: sample 0 has a box at cell 3 whose velocity is unknown (weight 0) and a box at
    cell 0; sample 1 has one box at cell 2 and a padding row."""
    regression = torch.zeros(2, 2, 10)
    regression[0, 0] = torch.arange(10.0)
    regression[0, 1] = 1.0
    regression[1, 0] = -1.0
    weight = torch.ones(2, 2, 10)
    weight[0, 0, 8:] = 0
    weight[1, 1] = 0
    return HeadTargets(torch.zeros(2, 1, 2, 2), torch.tensor([[3, 0], [2, 0]]), regression, weight)


def test_regression_l1_hand_computed():
    targets = two_box_targets()
    predicted = torch.zeros(2, 10, 2, 2)
    predicted[0, :, 1, 1] = torch.arange(10.0) + 0.5   # cell 3 = (row 1, col 1): off by 0.5 in every channel
    predicted[0, 8:, 1, 1] = 100.0                     # wrong velocity where the velocity is unknown: no cost
    predicted[0, :, 0, 0] = 1.0                        # cell 0: exact
    predicted[1, :, 1, 0] = 1.0                        # cell 2 = (row 1, col 0): off by 2 in every channel
    predicted[1, :, 0, 0] = 50.0                       # padding points at cell 0: no cost
    code_weights = torch.ones(10)
    # per channel: (0.5 + 0 + 2) / 3 boxes for the first 8, (0 + 0 + 2) / 3 for the velocity, unknown in box 1
    per_channel = regression_l1_loss(predicted, targets, code_weights)
    torch.testing.assert_close(per_channel, torch.tensor([2.5 / 3] * 8 + [2 / 3] * 2))
    assert per_channel.sum().item() == pytest.approx(24 / 3)
    code_weights = torch.tensor([1.0] * 8 + [0.2, 0.2])
    assert regression_l1_loss(predicted, targets, code_weights).sum().item() == pytest.approx((4 + 16 + 0.8) / 3)


def test_smooth_velocity_loss_is_quadratic_below_beta_only_on_velocity():
    targets = two_box_targets()
    predicted = torch.zeros(2, 10, 2, 2)
    predicted[0, :, 0, 0] = 1.5                        # cell 0 (target 1): off by 0.5 in every channel
    predicted[1, :, 1, 0] = 1.0                        # cell 2 (target -1): off by 2 in every channel
    per_channel = regression_l1_loss(predicted, targets, torch.ones(10), velocity_beta=1.0)
    # box 1 of sample 0 (targets 0..9 at cell 3, predicted 0) costs |t| on channels 0..7, its velocity is unknown
    l1 = (torch.arange(8.0) + 0.5 + 2) / 3
    # velocity: 0.5 < beta costs 0.5 · 0.5² / 1 = 0.125; 2 > beta costs 2 − 0.5 = 1.5
    torch.testing.assert_close(per_channel, torch.cat([l1, torch.tensor([1.625 / 3] * 2)]))


def test_regression_l1_gradient_is_the_weighted_sign_at_the_target_cells():
    targets = two_box_targets()
    predicted = torch.zeros(2, 10, 2, 2, requires_grad=True)
    code_weights = torch.linspace(0.5, 1.4, 10)
    regression_l1_loss(predicted, targets, code_weights).sum().backward()
    expected = torch.zeros(2, 10, 2, 2)
    # d|p − t|/dp = sign(p − t) = −sign(t) at p = 0 (and 0 where t = 0), times weight × code weight / 3 boxes
    expected[0, :, 1, 1] = -torch.sign(torch.arange(10.0)) * code_weights * targets.weight[0, 0] / 3
    expected[0, :, 0, 0] = -code_weights / 3
    expected[1, :, 1, 0] = code_weights / 3
    torch.testing.assert_close(predicted.grad, expected)


def test_detection_loss_weights_the_two_terms():
    targets = two_box_targets()
    targets.heatmap[0, 0, 0, 0] = 1.0
    output = HeadOutput(torch.zeros(2, 1, 2, 2), torch.zeros(2, 10, 2, 2))
    losses = detection_loss(output, targets, torch.ones(10), heatmap_weight=2.0, regression_weight=0.25)
    assert losses["heatmap"].item() == pytest.approx(gaussian_focal_loss(output.heatmap, targets.heatmap).item())
    per_channel = regression_l1_loss(output.regression, targets, torch.ones(10))
    assert losses["regression"].item() == pytest.approx(per_channel.sum().item())
    # One centre at p = 0.5 and 7 background cells at p = 0.5: 0.25 ln 2 + 7 · 0.25 ln 2, over 1 centre.
    assert losses["heatmap"].item() == pytest.approx(8 * 0.25 * math.log(2), rel=1e-5)
    # |0 − t| summed: box 1 of sample 0 has 0..7 (velocity masked) = 28, box 2 has 10, sample 1's box 10; / 3 boxes.
    assert losses["regression"].item() == pytest.approx(48 / 3)
    assert losses["velocity"].item() == pytest.approx(4 / 3)  # 1 + 1 in box 2 and in sample 1's box
    assert losses["total"].item() == pytest.approx(2.0 * 8 * 0.25 * math.log(2) + 0.25 * 16, rel=1e-5)


def test_direction_loss_is_the_cross_entropy_of_objects_with_a_heading():
    targets = two_box_targets()
    targets.direction = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    logits = torch.zeros(2, 1, 2, 2)
    logits.view(2, -1)[0, targets.cell[0, 0]] = 2.0   # right side of the first box's target, 1 + e^-2
    output = HeadOutput(torch.zeros(2, 1, 2, 2), torch.zeros(2, 10, 2, 2), logits)
    losses = detection_loss(output, targets, torch.ones(10), heatmap_weight=1.0, regression_weight=0.0,
                            direction_weight=0.5)
    known = targets.weight[..., 6].sum().item()
    expected = (math.log(1 + math.exp(-2.0)) + (known - 1) * math.log(2)) / known
    assert losses["direction"].item() == pytest.approx(expected, rel=1e-5)
    assert losses["total"].item() == pytest.approx(losses["heatmap"].item() + 0.5 * expected, rel=1e-5)
