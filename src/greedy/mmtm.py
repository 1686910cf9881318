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
- `rebalance_branch = k`: branch k's gate is replaced by its running mean (the re-balancing
  step of the guided and random algorithms).

Two more choices are switches because the paper's text and the official code
(github.com/nyukat/greedy_multimodal_learning, `src/balanced_mmtm.py`, `MMTM_mitigate.forward`)
differ (params.yaml `procedure`, README "The paper's text and the official code"):
- `gate`: "2sigmoid" (the paper's Eq. 2) or "sigmoid" (the official code).
- `running_mean`: "regular_passes" (the paper's text: the mean over the samples of regular
  training passes; evaluation passes, re-balancing steps and isolation never change it) or
  "official": the mean of per-batch gate means over every forward pass (re-balancing,
  validation and test passes included, each batch weighing the same), branch k >= 1 averaging
  branch 0's gate as the official code does, and a re-balancing pass reading the mean after
  its own batch was added. `counting = False` stops the official count (the trainer's
  observational evaluation in the state it does not select on).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn


GATES = {"2sigmoid": 2.0, "sigmoid": 1.0}   # gate = scale * sigmoid(head)
RUNNING_MEANS = ("regular_passes", "official")


class MMTM(nn.Module):
    def __init__(self, channels: Sequence[int], gate: str = "2sigmoid", running_mean: str = "regular_passes"):
        super().__init__()
        if gate not in GATES:
            raise ValueError(f"procedure.gate: {gate!r}; choose one of {sorted(GATES)}")
        if running_mean not in RUNNING_MEANS:
            raise ValueError(f"procedure.gate_running_mean: {running_mean!r}; choose one of {list(RUNNING_MEANS)}")
        self.channels = [int(c) for c in channels]
        if running_mean == "official" and len(set(self.channels)) > 1:
            raise ValueError("procedure.gate_running_mean: official averages branch 0's gate for every "
                             f"branch, which needs equal channel counts; got {self.channels}")
        self.gate_scale, self.running_mean = GATES[gate], running_mean
        total = sum(self.channels)
        hidden = int(2 * total / 4)
        self.fc_squeeze = nn.Linear(total, hidden)
        self.fc_excite = nn.ModuleList(nn.Linear(hidden, c) for c in self.channels)
        for k, c in enumerate(self.channels):
            self.register_buffer(f"gate_sum_{k}", torch.zeros(c))
        self.register_buffer("gate_count", torch.zeros((), dtype=torch.float64))
        self.rebalance_branch: int | None = None
        self.counting = True
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
        return [self.gate_scale * torch.sigmoid(head(hidden)) for head in self.fc_excite]

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
        if self.squeeze_means is None:
            self._count(gates)
        k = self.rebalance_branch
        if k is not None:
            gates[k] = self._mean(k).to(gates[k]).expand_as(gates[k])
        return gates

    @torch.no_grad()
    def _count(self, gates: list[torch.Tensor]) -> None:
        if self.running_mean == "regular_passes":
            if self.training and self.rebalance_branch is None:
                for k, gate in enumerate(gates):
                    getattr(self, f"gate_sum_{k}").add_(gate.detach().sum(0))
                self.gate_count.add_(gates[0].shape[0])
        elif self.counting:  # official: every pass, one per-batch mean each, branch 0's for all
            batch_mean = gates[0].detach().mean(0)
            for k in range(self.num_branches):
                getattr(self, f"gate_sum_{k}").add_(batch_mean)
            self.gate_count.add_(1)

    def _mean(self, k: int) -> torch.Tensor:
        return (getattr(self, f"gate_sum_{k}") / self.gate_count).to(self.fc_squeeze.weight.dtype)

    def forward(self, features: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        if len(features) != self.num_branches:
            raise ValueError(f"MMTM built for {self.num_branches} branches got {len(features)}")
        gates = self.gates(features)
        return [f * g.view(*g.shape, *([1] * (f.dim() - 2))) for f, g in zip(features, gates)]

    def mean_gate(self, k: int) -> torch.Tensor:
        """The running mean of branch k's gate so far (see `running_mean`)."""
        if self.gate_count.item() == 0:
            raise RuntimeError("no regular training step has been taken: gate mean undefined")
        return self._mean(k)

    def squeeze_parameters(self) -> list[nn.Parameter]:
        return list(self.fc_squeeze.parameters())

    def excite_parameters(self, k: int) -> list[nn.Parameter]:
        return list(self.fc_excite[k].parameters())
