"""Class-aware circle NMS (CenterPoint style), computed with tensor ops only."""
from __future__ import annotations

import torch
from torch import Tensor


def circle_nms(centres_xy: Tensor, scores: Tensor, labels: Tensor, radius: Tensor) -> Tensor:
    """Greedy circle NMS: a box is dropped when a kept, higher-ranked box of the same class has its BEV centre
    strictly closer than ``radius[label]`` (so a radius of 0 disables suppression for that class).

    centres_xy: (K, 2); scores: (K,); labels: (K,) long class index; radius: (num_classes,) metres.
    Returns the kept indices (M,) long, by descending score; equal scores rank by ascending index.

    Exactly equal to the sequential greedy loop: with boxes ranked, keep[j] = no kept i < j suppresses j. That
    recursion has a single solution, which the parallel iteration below reaches: after t rounds the first t ranks
    are final, so it stops after at most K rounds, and in practice after a few (the longest suppression chain).
    Memory is O(K²): cap K (e.g. top scores per class) before calling.
    """
    order = torch.argsort(scores, descending=True, stable=True)
    xy = centres_xy[order].to(torch.float32)
    ranked_labels = labels[order]
    reach = radius.to(device=xy.device, dtype=torch.float32)[ranked_labels]
    distance_sq = (xy[:, None, :] - xy[None, :, :]).square().sum(dim=-1)  # exact, unlike cdist's matmul path
    count = order.shape[0]
    higher = torch.ones(count, count, dtype=torch.bool, device=xy.device).triu(diagonal=1)  # [i, j]: i ranks above j
    suppresses = higher & (ranked_labels[:, None] == ranked_labels[None, :]) & (distance_sq < reach.square()[:, None])

    keep = torch.ones(count, dtype=torch.bool, device=xy.device)
    for _ in range(count):
        updated = ~(suppresses & keep[:, None]).any(dim=0)
        if torch.equal(updated, keep):
            break
        keep = updated
    return order[keep]
