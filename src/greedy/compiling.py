"""torch.compile for the trainer: on where it pays, eager where it cannot be had.

`training.<dataset>.compile` (params.yaml): true, false or "auto". Like the device it says how a
run is computed, not what: it is not in the run id (config.result_identity). "auto" compiles
when the run plans at least AUTO_MIN_STEPS training steps (max_epochs x batches per epoch), so
short runs (the smoke overlay's, the tests') stay eager and real runs compile. Measured on two
shared CPU cores (README "Performance"): the CMNIST model's compiled step is ~1.1x faster (1.24x
at the smoke widths, one thread; convolutions, the same oneDNN kernels either way, are most of
the step); its training graphs (regular, re-balance m0, m1) compile in 15-60 s with a cold
Inductor cache (seconds warm: /tmp/torchinductor_<user>), repaid after a few epochs of a real run
(469 steps each). ResNet18: ~1.1x, ~95 s. I3D (AUTO_EAGER_ON_CPU): no gain after 8 minutes of
compiling, so "auto" keeps it eager on the CPU. CUDA was not measured here; "auto" compiles
there too. MPS stays eager (Inductor's MPS support is partial).

What is compiled: the model's forward pass in training mode (`fullgraph=True`, static shapes),
with its backward lowered at the same time (AOTAutograd), so that a compilation failure (no C++
compiler, an unsupported operation, a damaged cache entry) shows on the forward call, before
anything ran: it is logged once and the run goes on eagerly, same weights, same state.
  - Re-balancing (models.MultiBranchNet.rebalancing) swaps a branch's gate for its running mean:
    one more graph per accelerated branch, compiled once, never per step (the gate mean is a
    graph input, not a constant). tests/test_compiling.py counts the compilations.
  - A batch of another size than the configured one (an epoch's last, partial batch) runs
    eagerly rather than compiling a graph for one step an epoch.
  - Evaluation (evaluation.evaluate, utilization's isolation) runs the eager module: `eager()`.
  - The checkpoints hold the eager module's state_dict (no `_orig_mod.` prefixes): the trainer
    saves `model`, never the wrapper.
"""
from __future__ import annotations

import logging

import torch
from torch import nn

AUTO_MIN_STEPS = 5000
# Architectures "auto" leaves eager on the CPU: I3D's compiled step measured no faster (136 vs
# 139 ms, i3d_small at smoke scale, one thread) after 8 minutes of compiling.
AUTO_EAGER_ON_CPU = frozenset({"i3d", "i3d_small"})
SETTINGS = (True, False, "auto")
BACKEND = "inductor"  # torch.compile's backend (the tests put a failing one here)


# --- max-pooling as one opaque operation ------------------------------------------------------
# Inductor's CPU code for a 2-D max-pool in training (values with int8 window offsets, and its
# backward) ran ~3x slower than ATen's kernels on the CMNIST model (3x3 stride-2 pools, measured
# with torch.profiler: 84 ms against 4 ms a call at batch 128), which ate the whole gain of
# compiling. On the CPU the trainer's compiled models therefore call ATen's max-pool through a
# custom operator that Inductor keeps as one call: the same kernels as eager, bit for bit.

@torch.library.custom_op("greedy::max_pool2d", mutates_args=())
def _max_pool2d(x: torch.Tensor, kernel_size: list[int], stride: list[int], padding: list[int],
                dilation: list[int], ceil_mode: bool) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.ops.aten.max_pool2d_with_indices(x, kernel_size, stride, padding, dilation, ceil_mode)


@_max_pool2d.register_fake
def _(x, kernel_size, stride, padding, dilation, ceil_mode):
    return torch.ops.aten.max_pool2d_with_indices(x, kernel_size, stride, padding, dilation, ceil_mode)


@torch.library.custom_op("greedy::max_pool2d_backward", mutates_args=())
def _max_pool2d_backward(grad: torch.Tensor, x: torch.Tensor, indices: torch.Tensor,
                         kernel_size: list[int], stride: list[int], padding: list[int],
                         dilation: list[int], ceil_mode: bool) -> torch.Tensor:
    out = torch.empty_like(x)  # the layout the fake kernel below promises
    return torch.ops.aten.max_pool2d_with_indices_backward.grad_input(
        grad, x, kernel_size, stride, padding, dilation, ceil_mode, indices, grad_input=out)


@_max_pool2d_backward.register_fake
def _(grad, x, indices, kernel_size, stride, padding, dilation, ceil_mode):
    return torch.empty_like(x)


def _pool_setup_context(ctx, inputs, output):
    x, *ctx.pool_args = inputs
    ctx.save_for_backward(x, output[1])


def _pool_backward(ctx, grad, _grad_indices):
    x, indices = ctx.saved_tensors
    return (_max_pool2d_backward(grad, x, indices, *ctx.pool_args),) + (None,) * 5


_max_pool2d.register_autograd(_pool_backward, setup_context=_pool_setup_context)


class OpaqueMaxPool2d(nn.MaxPool2d):
    """nn.MaxPool2d through the custom operator (no state: state_dict and results unchanged)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        def pair(v):
            return [int(v), int(v)] if isinstance(v, int) else [int(e) for e in v]
        stride = self.stride if self.stride else self.kernel_size
        return _max_pool2d(x, pair(self.kernel_size), pair(stride), pair(self.padding),
                           pair(self.dilation), bool(self.ceil_mode))[0]


def opaque_max_pools(model: nn.Module) -> int:
    """Make every nn.MaxPool2d of `model` (the class itself, without indices) an
    OpaqueMaxPool2d, in place; returns how many."""
    count = 0
    for module in model.modules():
        if type(module) is nn.MaxPool2d and not module.return_indices:
            module.__class__ = OpaqueMaxPool2d
            count += 1
    return count


def should_compile(setting, device: torch.device, planned_steps: int, architecture: str | None = None) -> bool:
    """Whether the trainer compiles: `setting` is training.<dataset>.compile."""
    if setting not in SETTINGS:
        raise ValueError(f"training.*.compile: {setting!r}; choose true, false or auto")
    if setting != "auto":
        return bool(setting)
    if device.type == "mps" or (device.type == "cpu" and architecture in AUTO_EAGER_ON_CPU):
        return False
    return planned_steps >= AUTO_MIN_STEPS


class Compiled:
    """The model for training steps: calls go to the compiled module (batches of `batch_size`
    samples), attributes (rebalancing, train, parameters, num_branches, ...) to the eager one.
    The first failure to compile is logged and every later call runs eagerly."""

    def __init__(self, module: nn.Module, batch_size: int | None = None,
                 log: logging.Logger | None = None, backend=None):
        import torch._functorch.config as functorch_config
        # the backward graph is compiled with the forward one (not lazily at the first
        # backward), so that every compilation error surfaces where the fallback catches it
        functorch_config.force_non_lazy_backward_lowering = True
        backend = backend or BACKEND
        options = None
        if next(module.parameters()).device.type == "cpu":
            opaque_max_pools(module)
            if backend == "inductor":
                # keep the layout evaluation.memory_format_for chose: Inductor's own choice of
                # channels-last made ResNet18's backward reorder every weight gradient again
                options = {"layout_optimization": False}
        self.module = module
        self.compiled = torch.compile(module, fullgraph=True, dynamic=False, backend=backend, options=options)
        self.batch_size = batch_size
        self.log = log or logging.getLogger(__name__)
        self.error: str | None = None

    def __getattr__(self, name):
        return getattr(self.__dict__["module"], name)

    def __call__(self, inputs):
        if self.error is None and (self.batch_size is None or len(inputs[0]) == self.batch_size):
            try:
                return self.compiled(inputs)
            except Exception as error:  # compile-time errors; a real model error recurs below
                self.error = f"{type(error).__name__}: {str(error).strip().splitlines()[0] if str(error).strip() else ''}"
                self.log.warning("torch.compile failed (%s); training eagerly from here", self.error)
        return self.module(inputs)

    @property
    def active(self) -> bool:
        return self.error is None


def eager(model):
    """The eager module behind a training model (Compiled, torch.compile's wrapper, or itself)."""
    if isinstance(model, Compiled):
        return model.module
    return getattr(model, "_orig_mod", model)


def for_training(model: nn.Module, setting, device: torch.device, planned_steps: int,
                 batch_size: int | None, log: logging.Logger | None = None, architecture: str | None = None):
    """`model` wrapped in Compiled when should_compile says so, else `model` itself."""
    if not should_compile(setting, device, planned_steps, architecture):
        return model
    return Compiled(model, batch_size, log)
