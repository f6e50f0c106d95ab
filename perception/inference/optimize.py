"""Inference-only rewrites of a trained model that make it faster on a CPU and leave its outputs equal within
float rounding: batch norms folded into the convolutions before them, and 4D weights in channels-last layout (what
oneDNN's convolutions run fastest on, so activations stay in it from one convolution to the next). And the thread
setting for it: torch's intra-op threads on all cores but one, which is left to the replay pipeline's other stages
(and to whatever else the machine runs: OpenMP threads that wait for a busy core stall every operator).

The model is changed in place and is for inference only afterwards (a folded batch norm no longer trains).
"""
from __future__ import annotations

import os

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

CONVOLUTIONS = (nn.Conv2d, nn.ConvTranspose2d)
NAMED_PAIRS = (("conv1", "bn1"), ("conv2", "bn2"), ("conv3", "bn3"))
"""Convolution and batch-norm attributes of torchvision's ResNet blocks."""


def folded(conv: nn.Module, norm: nn.BatchNorm2d) -> nn.Module:
    """The convolution whose weights and bias also apply ``norm`` (in eval mode) to its output."""
    return fuse_conv_bn_eval(conv.eval(), norm.eval(), transpose=isinstance(conv, nn.ConvTranspose2d))


def fold_sequential(sequence: nn.Sequential) -> int:
    """Folds each batch norm that directly follows a convolution in ``sequence``; returns how many."""
    count = 0
    for i in range(len(sequence) - 1):
        if isinstance(sequence[i], CONVOLUTIONS) and isinstance(sequence[i + 1], nn.BatchNorm2d):
            sequence[i], sequence[i + 1] = folded(sequence[i], sequence[i + 1]), nn.Identity()
            count += 1
    return count


def fold_named_pairs(module: nn.Module) -> int:
    """Folds ``bnK`` into ``convK`` for a ResNet block; returns how many."""
    count = 0
    for conv_name, norm_name in NAMED_PAIRS:
        conv, norm = getattr(module, conv_name, None), getattr(module, norm_name, None)
        if isinstance(conv, CONVOLUTIONS) and isinstance(norm, nn.BatchNorm2d):
            setattr(module, conv_name, folded(conv, norm))
            setattr(module, norm_name, nn.Identity())
            count += 1
    return count


def fold_batch_norms(model: nn.Module) -> int:
    """Folds every batch norm that follows a convolution, in sequences and in ResNet blocks; returns how many."""
    return sum(fold_sequential(m) if isinstance(m, nn.Sequential) else fold_named_pairs(m)
               for m in list(model.modules()))


def optimize_for_inference(model: nn.Module) -> nn.Module:
    """``model`` in eval mode with its batch norms folded and, on a CPU, its 4D weights channels-last."""
    model.eval()
    fold_batch_norms(model)
    if next(model.parameters()).device.type == "cpu":
        model.to(memory_format=torch.channels_last)
    return model


def inference_threads(cores: int | None = None) -> int:
    """Intra-op threads for the model on a CPU of ``cores`` cores (default: this one's): all but one, at least 1."""
    return max(1, (cores or os.cpu_count() or 1) - 1)
