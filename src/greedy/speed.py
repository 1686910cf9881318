"""Conditional learning speed (REFERENCE section 2).

mu(theta; i) = sum ||grad||^2 / sum ||theta||^2 over a parameter group at step i (gradients after
backward, before the update). Running sums M accumulate mu from the first regular step, with no
window or reset; d_speed = log10(M_theta0'/M_theta0) - log10(M_theta1'/M_theta1).

The cost per step is two fused norm kernels over all parameters and one small matrix product
(group membership x squared norms); values stay on the model's device until written out.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn


class ConditionalSpeed:
    def __init__(self, groups: dict[str, list[nn.Parameter]]):
        params, seen = [], {}
        for group in groups.values():
            for p in group:
                if id(p) not in seen:
                    seen[id(p)] = len(params)
                    params.append(p)
        self.names = list(groups)
        self.params = params
        membership = torch.zeros(len(groups), len(params), dtype=torch.float64)
        for g, group in enumerate(groups.values()):
            for p in group:
                membership[g, seen[id(p)]] = 1.0
        device = params[0].device if params else torch.device("cpu")
        self.membership = membership.to(device)
        self.running = torch.zeros(len(groups), dtype=torch.float64, device=device)  # M
        self.steps = 0
        self._rows: list[torch.Tensor] = []   # per step: mu per group then M per group

    def _squared_norms(self, tensors) -> torch.Tensor:
        norms = torch._foreach_norm(list(tensors))
        return torch.stack(norms).to(torch.float64).pow(2)

    @torch.no_grad()
    def update(self) -> torch.Tensor:
        """Record mu for every group from the current gradients; returns mu (per group)."""
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in self.params]
        mu = (self.membership @ self._squared_norms(grads)) / (self.membership @ self._squared_norms(self.params))
        self.running += mu
        self.steps += 1
        self._rows.append(torch.cat([mu, self.running]))
        return mu

    def speeds(self) -> dict[int, float]:
        """log10(M_theta_k' / M_theta_k) per branch k."""
        m = dict(zip(self.names, self.running.tolist()))
        out = {}
        for name in self.names:
            if name.startswith("theta") and not name.endswith("'"):
                k = int(name[5:])
                num, den = m[f"theta{k}'"], m[name]
                out[k] = math.log10(num / den) if num > 0 and den > 0 else float("nan")
        return out

    def d_speed(self) -> float:
        """speed(m0) - speed(m1); with more than two branches, the largest minus the smallest."""
        speeds = self.speeds()
        if len(speeds) == 2:
            return speeds[0] - speeds[1]
        return max(speeds.values()) - min(speeds.values())

    def drain_rows(self) -> tuple[list[str], list[list[float]]]:
        """Columns and rows recorded since the last call (mu_<group>, M_<group>)."""
        columns = [f"mu_{n}" for n in self.names] + [f"M_{n}" for n in self.names]
        rows = torch.stack(self._rows).tolist() if self._rows else []
        self._rows = []
        return columns, rows

    def state_dict(self) -> dict:
        # rows not drained yet belong to an epoch a mid-epoch checkpoint cuts off
        return {"names": self.names, "running": self.running.cpu(), "steps": self.steps,
                "rows": [row.cpu() for row in self._rows]}

    def load_state_dict(self, state: dict) -> None:
        if state["names"] != self.names:
            raise ValueError(f"speed groups differ: {state['names']} vs {self.names}")
        self.running = state["running"].to(self.running.device)
        self.steps = state["steps"]
        self._rows = [row.to(self.running.device) for row in state.get("rows", [])]


def d_speed_series(running) -> np.ndarray:
    """d_speed per recorded step from the running-sum columns M_theta0, M_theta0', M_theta1, M_theta1'
    (a DataFrame or a dict of arrays)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return (np.log10(running["M_theta0'"] / running["M_theta0"])
                - np.log10(running["M_theta1'"] / running["M_theta1"]))
