"""The multi-modal transfer module (MMTM, Joze et al. 2020) for any number of branches.

Squeeze each branch's feature map (any number of spatial or temporal dimensions) by global
average pooling, concatenate, one shared `fc_squeeze` layer + ReLU, one `fc_excite[k]` head per
branch; gate_k = 2 * sigmoid(head_k); each feature map is multiplied channel-wise by its gate.
With one branch it is a Squeeze-and-Excitation block (reduction 2, gate 2*sigmoid), which is how
the uni-modal baselines get SE blocks "at the same places".

Two switches serve the paper's procedures:
- `isolate(squeeze_means)`: gate k is computed from branch k's own squeeze vector and the
  *training-set means* of the other branches' squeeze vectors, so branch k depends on its own
  modality only (f0', f1' of the conditional utilization rate). One forward pass gives every f_k'.
- `gate_override[k] = vector`: branch k's gate is replaced by a fixed vector (the re-balancing
  step of the guided and random algorithms uses `mean_gate(k)`).
The running mean of each gate is updated only in regular training forward passes (training mode,
no override, no isolation): evaluation passes and re-balancing steps never change it. This is
where we deliberately differ from the official code, which also counted evaluation passes and
updated branch 1's mean from branch 0's gate.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn


class MMTM(nn.Module):
    def __init__(self, channels: Sequence[int]):
        super().__init__()
        self.channels = [int(c) for c in channels]
        total = sum(self.channels)
        hidden = int(2 * total / 4)
        self.fc_squeeze = nn.Linear(total, hidden)
        self.fc_excite = nn.ModuleList(nn.Linear(hidden, c) for c in self.channels)
        for k, c in enumerate(self.channels):
            self.register_buffer(f"gate_sum_{k}", torch.zeros(c))
        self.register_buffer("gate_count", torch.zeros((), dtype=torch.float64))
        self.gate_override: dict[int, torch.Tensor] = {}
        self.squeeze_means: list[torch.Tensor] | None = None

    @property
    def num_branches(self) -> int:
        return len(self.channels)

    @staticmethod
    def squeeze(feature: torch.Tensor) -> torch.Tensor:
        """Global average pool over every dimension after (batch, channel); vectors pass through."""
        return feature if feature.dim() == 2 else feature.flatten(2).mean(-1)

    def excite(self, squeezed: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        hidden = torch.relu(self.fc_squeeze(torch.cat(list(squeezed), dim=1)))
        return [2 * torch.sigmoid(head(hidden)) for head in self.fc_excite]

    def gates(self, features: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        squeezed = [self.squeeze(f) for f in features]
        if self.squeeze_means is None:
            gates = self.excite(squeezed)
        else:
            gates = []
            for k in range(self.num_branches):
                mixed = [s if j == k else self.squeeze_means[j].to(s).expand_as(s)
                         for j, s in enumerate(squeezed)]
                gates.append(self.excite(mixed)[k])
        if self.training and not self.gate_override and self.squeeze_means is None:
            with torch.no_grad():
                for k, gate in enumerate(gates):
                    getattr(self, f"gate_sum_{k}").add_(gate.detach().sum(0))
                self.gate_count.add_(gates[0].shape[0])
        for k, gate in self.gate_override.items():
            gates[k] = gate.to(gates[k]).expand_as(gates[k])
        return gates

    def forward(self, features: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        if len(features) != self.num_branches:
            raise ValueError(f"MMTM built for {self.num_branches} branches got {len(features)}")
        gates = self.gates(features)
        return [f * g.view(*g.shape, *([1] * (f.dim() - 2))) for f, g in zip(features, gates)]

    def mean_gate(self, k: int) -> torch.Tensor:
        """Mean of branch k's gate over every sample of the regular training steps so far."""
        if self.gate_count.item() == 0:
            raise RuntimeError("no regular training step has been taken: gate mean undefined")
        return (getattr(self, f"gate_sum_{k}") / self.gate_count).to(self.fc_squeeze.weight.dtype)

    def squeeze_parameters(self) -> list[nn.Parameter]:
        return list(self.fc_squeeze.parameters())

    def excite_parameters(self, k: int) -> list[nn.Parameter]:
        return list(self.fc_excite[k].parameters())
