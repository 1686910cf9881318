"""FLOPs of one training step, counted from a model's layers on a real forward pass.

Forward hooks on every convolution (Conv1d, Conv2d, Conv3d) and Linear layer record the
multiply-accumulates (MACs) of one forward pass of a given batch, from the real output shapes:
  - convolution: output elements x (input channels / groups) x kernel volume,
  - linear:      output elements x input features.
A FLOP is counted as 2 per MAC. One training step is 3 x the forward FLOPs: the forward pass,
the backward pass to the layer inputs and the backward pass to the weights each cost about one
forward (the first layer's input gradient, which is not computed, is counted all the same).
Normalisation, activations, pooling, the MMTM gating and the optimizer are left out: they move
memory rather than compute, so the count is the work a matmul-speed machine cannot avoid.

    >>> step_flops(model, inputs)["total"] / 1e9   # GFLOP of one training step on `inputs`
"""
from __future__ import annotations

import math

import torch
from torch import nn

CONVOLUTIONS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)


def _layer_macs(module: nn.Module, output: torch.Tensor) -> int:
    if isinstance(module, CONVOLUTIONS):
        return output.numel() * (module.in_channels // module.groups) * math.prod(module.kernel_size)
    return output.numel() * module.in_features  # nn.Linear


@torch.no_grad()
def forward_macs(model: nn.Module, inputs) -> dict[str, int]:
    """MACs of one forward pass of `model(inputs)`, by kind: {"conv": ..., "linear": ...}.
    The pass runs in eval mode (same shapes, no BatchNorm statistics or gate means updated)."""
    macs = {"conv": 0, "linear": 0}

    def hook(module, _args, output):
        macs["conv" if isinstance(module, CONVOLUTIONS) else "linear"] += _layer_macs(module, output)

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, CONVOLUTIONS + (nn.Linear,))]
    was_training = model.training
    model.eval()
    try:
        model(inputs)
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return macs


def step_flops(model: nn.Module, inputs) -> dict[str, int]:
    """FLOPs of one training step on the batch `inputs`: 3 x 2 x forward MACs, by kind and in
    total: {"conv": ..., "linear": ..., "forward": ..., "total": ...}."""
    flops = {kind: 3 * 2 * macs for kind, macs in forward_macs(model, inputs).items()}
    flops["total"] = sum(flops.values())
    flops["forward"] = flops["total"] // 3
    return flops
