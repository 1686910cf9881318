"""Multi-branch networks with MMTM fusion, and architectures chosen by name.

A branch is a list of stages and a classifier head. `MultiBranchNet` runs the branches side by
side, stage by stage, and after each stage listed in `fusion_after` (1-based) passes the branches'
feature maps through one MMTM. With one branch it is a uni-modal network with SE blocks at the
same places. Its output is the list of per-branch logits; the prediction is their mean.

Feature maps may have any number of trailing dimensions (images, video), and nothing here
assumes a device. A new architecture is one `make_branch` function added to ARCHITECTURES.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Sequence

import torch
from torch import nn

from greedy.mmtm import MMTM


class ClassifierHead(nn.Module):
    """Global average pool over all trailing dimensions, then a linear classifier."""

    def __init__(self, in_features: int, num_classes: int):
        super().__init__()
        self.fc = nn.Linear(in_features, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(MMTM.squeeze(x))


class Branch(nn.Module):
    def __init__(self, stages: Sequence[nn.Module], stage_channels: Sequence[int], head: nn.Module):
        super().__init__()
        if len(stages) != len(stage_channels):
            raise ValueError("one output channel count per stage is required")
        self.stages = nn.ModuleList(stages)
        self.stage_channels = list(stage_channels)
        self.head = head


class MultiBranchNet(nn.Module):
    def __init__(self, branches: Sequence[Branch], fusion_after: Sequence[int], gate: str = "2sigmoid",
                 gate_running_mean: str = "regular_passes"):
        super().__init__()
        self.branches = nn.ModuleList(branches)
        depth = len(self.branches[0].stages)
        if any(len(b.stages) != depth for b in self.branches):
            raise ValueError("all branches need the same number of stages")
        bad = [s for s in fusion_after if not 1 <= s <= depth]
        if bad:
            raise ValueError(f"fusion_after {list(fusion_after)}: stages must be in 1..{depth}")
        self.fusion_after = sorted(int(s) for s in fusion_after)
        self.fusions = nn.ModuleDict({
            str(s): MMTM([b.stage_channels[s - 1] for b in self.branches], gate, gate_running_mean)
            for s in self.fusion_after
        })

    @property
    def num_branches(self) -> int:
        return len(self.branches)

    def forward(self, inputs: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        if len(inputs) != self.num_branches:
            raise ValueError(f"model has {self.num_branches} branches, got {len(inputs)} inputs")
        features = list(inputs)
        for s in range(len(self.branches[0].stages)):
            features = [b.stages[s](f) for b, f in zip(self.branches, features)]
            if str(s + 1) in self.fusions:
                features = self.fusions[str(s + 1)](features)
        return [b.head(f) for b, f in zip(self.branches, features)]

    @staticmethod
    def predict(logits: Sequence[torch.Tensor]) -> torch.Tensor:
        """The model's prediction: the mean of the branch outputs."""
        return torch.stack(list(logits)).mean(0)

    # --- parameter groups of the conditional learning speed (REFERENCE section 2) ---
    def speed_groups(self) -> dict[str, list[nn.Parameter]]:
        """theta_k: all of branch k (classifier and BatchNorm included); theta_k': every MMTM's
        shared squeeze layer plus its head to branch k (the shared layer is in every theta_k')."""
        groups: dict[str, list[nn.Parameter]] = {}
        for k, branch in enumerate(self.branches):
            groups[f"theta{k}"] = list(branch.parameters())
        for k in range(self.num_branches):
            groups[f"theta{k}'"] = [p for m in self.fusions.values()
                                    for p in m.squeeze_parameters() + m.excite_parameters(k)]
        return groups

    # --- hooks for the re-balancing step and the conditional utilization rate ---
    @contextmanager
    def _on_fusions(self, name: str, values: dict, reset):
        """Every MMTM's attribute `name` set to values[fusion name] for the block, then `reset`."""
        for key, m in self.fusions.items():
            setattr(m, name, values[key])
        try:
            yield self
        finally:
            for m in self.fusions.values():
                setattr(m, name, reset)

    def rebalancing(self, k: int):
        """Accelerate learning from modality k: in every MMTM, branch k's gate is replaced by
        its running mean (mmtm.MMTM.running_mean), so branch k sees no other modality."""
        for m in self.fusions.values():
            m.mean_gate(k)  # fails here, eagerly, when no mean exists yet
        return self._on_fusions("rebalance_branch", dict.fromkeys(self.fusions, k), None)

    def not_counting(self):
        """Forward passes that leave the official running mean of the gates alone (the trainer's
        evaluation in the state it does not select on: an observation must not change training)."""
        return self._on_fusions("counting", dict.fromkeys(self.fusions, False), True)

    def isolated(self, squeeze_means: dict[str, list[torch.Tensor]]):
        """Each branch k computes its gates from its own squeeze vector and the training-set
        means of the others: branch k's output is then f_k'(x_k)."""
        return self._on_fusions("squeeze_means", squeeze_means, None)


# --- architectures -------------------------------------------------------------------------

def cmnist_convnet_branch(in_channels: int, num_classes: int, channels: Sequence[int]) -> Branch:
    """Four 3x3 conv + BatchNorm + ReLU layers; 2x2 max-pooling after the first two (28->14->7)."""
    stages, c_in = [], in_channels
    for i, c_out in enumerate(channels):
        layers = [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
                  nn.ReLU(inplace=True)]
        if i < 2:
            layers.append(nn.MaxPool2d(2))
        stages.append(nn.Sequential(*layers))
        c_in = c_out
    return Branch(stages, channels, ClassifierHead(c_in, num_classes))


def lnl_convnet_branch(in_channels: int, num_classes: int, channels: Sequence[int]) -> Branch:
    """Kim et al. 2019's "plain network with four convolution layers" (REFERENCE section 3):
    input BatchNorm; conv 5x5 + ReLU, max-pool 3/2 (28->14); conv 3x3 + ReLU; conv 3x3 stride 2
    + ReLU (14->7); conv 3x3 + ReLU; global average pool, linear. No BatchNorm between the
    convolutions. LNL's widths are 32, 32, 64, 64."""
    if len(channels) != 4:
        raise ValueError(f"models.*.channels: lnl_convnet has four conv layers, got {list(channels)}")
    c1, c2, c3, c4 = channels
    stages = [
        nn.Sequential(nn.BatchNorm2d(in_channels), nn.Conv2d(in_channels, c1, 5, padding=2),
                      nn.ReLU(inplace=True), nn.MaxPool2d(3, stride=2, padding=1)),
        nn.Sequential(nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(inplace=True)),
        nn.Sequential(nn.Conv2d(c2, c3, 3, stride=2, padding=1), nn.ReLU(inplace=True)),
        nn.Sequential(nn.Conv2d(c3, c4, 3, padding=1), nn.ReLU(inplace=True)),
    ]
    return Branch(stages, channels, ClassifierHead(c4, num_classes))


def resnet18_branch(in_channels: int, num_classes: int, channels: Sequence[int]) -> Branch:
    """torchvision's ResNet18 from scratch (the official ModelNet40 code), as four stages: the
    stem with layer1, then layer2, layer3, layer4, so that `fusion_after: [2, 3, 4]` puts an MMTM
    after layer2, layer3 and layer4. Its widths are fixed by torchvision: 64, 128, 256, 512."""
    from torchvision.models import resnet18

    if list(channels) != [64, 128, 256, 512]:
        raise ValueError(f"models.*.channels: resnet18 has widths [64, 128, 256, 512], got {list(channels)}")
    net = resnet18(weights=None, num_classes=num_classes)
    if in_channels != 3:  # e.g. a 1-channel depth image: the same stem for another channel count
        net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
    stages = [nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool, net.layer1),
              net.layer2, net.layer3, net.layer4]
    return Branch(stages, channels, ClassifierHead(512, num_classes))


def _lazy_branch(module: str, name: str) -> Callable[..., Branch]:
    """A make_branch that imports `module` only when called (keeps models.py's imports light)."""
    def make_branch(in_channels: int, num_classes: int, channels: Sequence[int]) -> Branch:
        from importlib import import_module
        return getattr(import_module(module), name)(in_channels, num_classes, channels)
    make_branch.__name__ = name
    return make_branch


ARCHITECTURES: dict[str, Callable[..., Branch]] = {
    "lnl_convnet": lnl_convnet_branch,
    "cmnist_convnet": cmnist_convnet_branch,
    "resnet18": resnet18_branch,
    "i3d": _lazy_branch("greedy.i3d", "i3d_branch"),              # NVGesture (greedy/i3d.py)
    "i3d_small": _lazy_branch("greedy.i3d", "i3d_small_branch"),  # widths / 8, CPU smoke runs
}


def build_model(architecture: str, in_channels: Sequence[int], num_classes: int,
                channels: Sequence[int], fusion_after: Sequence[int], gate: str = "2sigmoid",
                gate_running_mean: str = "regular_passes") -> MultiBranchNet:
    """One branch per entry of `in_channels` (one entry: uni-modal network with SE blocks);
    `gate` and `gate_running_mean` are the MMTM switches (mmtm.py, params.yaml `procedure`)."""
    if architecture not in ARCHITECTURES:
        raise ValueError(f"models.*.architecture: unknown or not yet implemented {architecture!r}; "
                         f"available: {sorted(ARCHITECTURES)}")
    make_branch = ARCHITECTURES[architecture]
    branches = [make_branch(c, num_classes, channels) for c in in_channels]
    return MultiBranchNet(branches, fusion_after, gate, gate_running_mean)


# Architectures with a pre-trained weights loader: (module, function(branch, path)), imported on use.
PRETRAINED_LOADERS = {"i3d": ("greedy.i3d", "load_kinetics_weights")}


def load_pretrained(model: MultiBranchNet, architecture: str, path) -> None:
    """Start every branch from the pre-trained weights file (models.<dataset>.pretrained);
    the loader refuses a file with missing keys or wrong shapes, naming the key."""
    if architecture not in PRETRAINED_LOADERS:
        raise ValueError(f"models.*.pretrained: architecture {architecture!r} has no pre-trained weights "
                         f"loader; those with one: {sorted(PRETRAINED_LOADERS)}")
    from importlib import import_module
    module, name = PRETRAINED_LOADERS[architecture]
    load = getattr(import_module(module), name)
    for branch in model.branches:
        load(branch, path)
