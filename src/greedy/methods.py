"""Training methods by name: each decides, step by step, which kind of step the trainer takes.

A step kind is "regular" (fusion intact; the conditional-speed sums are updated) or
"rebalance<k>" (accelerate learning from modality k: the trainer runs the step inside
`model.rebalancing(k)`, where branch k's gate in every MMTM is its running mean over earlier
regular steps). `next_step(epoch, speed)` is called before each step; `speed` is the
`ConditionalSpeed` tracker (None for uni-modal models), already updated by every earlier
regular step. Methods keep their state in `state_dict()` so that a resumed run continues exactly.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class Vanilla:
    """Conventional joint training: every step is regular; loss = sum_k CE(y, y_k)."""

    def __init__(self, **_):
        pass

    def attach(self, model) -> list[nn.Parameter]:
        """Called once with the model; returns the method's own trainable parameters."""
        return []

    def next_step(self, epoch: int, speed) -> str:
        return "regular"

    def upcoming(self, epoch: int, speed) -> str:
        """The kind of the next step, which will be taken in `epoch` (it stays the next step's)."""
        return "regular"

    def loss(self, logits: list[torch.Tensor], labels: torch.Tensor) -> torch.Tensor:
        return sum(F.cross_entropy(l, labels) for l in logits)

    def after_backward(self, model, logits: list[torch.Tensor], labels: torch.Tensor, epoch: int) -> None:
        """Called after the backward pass and before the optimiser step (gradient modulation)."""

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


class Guided(Vanilla):
    """The paper's Algorithm 1 (balanced multi-modal learning, guided by d_speed).

    Regular steps only during the first `warmup_epochs`. Afterwards, after each regular step:
    if |d_speed| > alpha, take `rebalance_steps` (Q) re-balancing steps accelerating m0 when
    d_speed > 0, else m1; then a regular step again (d_speed only changes on regular steps).
    With more than two branches (the paper's section 7), d_speed is the difference of the two
    most different speeds and the branch with the highest speed is accelerated; with two branches
    that is the same rule (d_speed > 0 means speed(m0) > speed(m1)).
    `first_step_after_warmup` "regular" (the official code) makes the warm-up's first successor
    regular; "any" lets the last warm-up step's d_speed start a window at once.
    """

    def __init__(self, alpha: float, rebalance_steps: int, warmup_epochs: int = 1,
                 first_step_after_warmup: str = "any", **_):
        self.alpha, self.rebalance_steps, self.warmup_epochs = alpha, rebalance_steps, warmup_epochs
        self.first_regular = first_step_after_warmup == "regular"
        self.remaining = 0          # re-balancing steps left in the current window
        self.target = None          # the modality being accelerated
        self.after_regular = False  # whether the previous step was regular (d_speed is fresh)
        self.unlocked = False       # whether a step after the warm-up has been taken

    def _decide(self, epoch: int, speed) -> int | None:
        """The branch a step in `epoch` accelerates (None: a regular step), without side effects."""
        if self.remaining > 0:
            return self.target
        if epoch < self.warmup_epochs or (self.first_regular and not self.unlocked):
            return None
        if self.after_regular and speed is not None and abs(speed.d_speed()) > self.alpha:
            speeds = speed.speeds()
            return max(speeds, key=speeds.get)
        return None

    def next_step(self, epoch: int, speed) -> str:
        target = self._decide(epoch, speed)
        self.unlocked = self.unlocked or epoch >= self.warmup_epochs
        if target is None:
            self.after_regular = True
            return "regular"
        if self.remaining > 0:
            self.remaining -= 1
        else:
            self.target, self.remaining = target, self.rebalance_steps - 1
        self.after_regular = False
        return f"rebalance{target}"

    def upcoming(self, epoch: int, speed) -> str:
        target = self._decide(epoch, speed)
        return "regular" if target is None else f"rebalance{target}"

    def state_dict(self) -> dict:
        return {"remaining": self.remaining, "target": self.target, "after_regular": self.after_regular,
                "unlocked": self.unlocked}

    def load_state_dict(self, state: dict) -> None:
        self.remaining, self.target, self.after_regular = state["remaining"], state["target"], state["after_regular"]
        self.unlocked = state.get("unlocked", False)


class Random(Vanilla):
    """The random variant: after the warm-up, each step is drawn uniformly from
    {regular, re-balance m0, re-balance m1, ...} with a generator seeded by the run's seed.
    `upcoming` draws the next step's kind ahead and keeps it for that step (the same stream of
    draws); `first_step_after_warmup` "regular" (the official code) makes the first one regular."""

    def __init__(self, seed: int = 0, warmup_epochs: int = 1, first_step_after_warmup: str = "any", **_):
        self.warmup_epochs = warmup_epochs
        self.first_regular = first_step_after_warmup == "regular"
        self.generator = torch.Generator().manual_seed(seed)
        self.kinds = self.step_kinds(2)  # until attached to a model with another branch count
        self.pending: str | None = None  # drawn by upcoming() for the next step
        self.unlocked = False

    @staticmethod
    def step_kinds(num_branches: int) -> tuple[str, ...]:
        return ("regular",) + tuple(f"rebalance{k}" for k in range(num_branches))

    def attach(self, model) -> list[nn.Parameter]:
        self.kinds = self.step_kinds(model.num_branches)
        return []

    def upcoming(self, epoch: int, speed) -> str:
        if epoch < self.warmup_epochs or (self.first_regular and not self.unlocked):
            return "regular"
        if self.pending is None:
            self.pending = self.kinds[int(torch.randint(0, len(self.kinds), (1,), generator=self.generator))]
        return self.pending

    def next_step(self, epoch: int, speed) -> str:
        kind = self.upcoming(epoch, speed)
        self.pending = None
        self.unlocked = self.unlocked or epoch >= self.warmup_epochs
        return kind

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state(), "pending": self.pending, "unlocked": self.unlocked}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
        self.pending, self.unlocked = state.get("pending"), state.get("unlocked", False)


class RUBi(Vanilla):
    """RUBi (Cadene et al. 2019) as published, adapted to two-branch fusion.

    In RUBi a question-only branch reads the question embedding with its gradient blocked
    (`grad_mul_const(q, 0)`), a classifier c1 turns it into bias logits, their sigmoid masks the
    base model's logits in the main loss, and a second head c2 on the bias logits takes a
    bias-only loss; at test time only the base model's logits are used. Here the bias input is
    modality `bias_branch` (default m0, the colour: the shortcut the vanilla model leans on). Its
    embedding is that branch's squeeze vector entering the first MMTM, which depends on its own
    modality only, detached so the bias losses never train the branch. The base model's logits
    are the fused prediction (mean of the branch logits):
        loss = CE(y, fused * sigmoid(c1(e))) + CE(y, c2(c1(e))).
    Every step is regular; evaluation uses the model's own prediction, unmasked.
    """

    def __init__(self, bias_branch: int = 0, **_):
        self.bias_branch = bias_branch
        self.bias_classifier: nn.Module | None = None  # c1
        self.bias_output: nn.Module | None = None      # c2
        self._embedding: torch.Tensor | None = None

    def attach(self, model) -> list[nn.Parameter]:
        if model.num_branches != 2 or not model.fusion_after:
            raise ValueError("RUBi is adapted here for two-branch models with MMTM fusion")
        first = model.fusions[str(model.fusion_after[0])]
        width = first.channels[self.bias_branch]
        classes = model.branches[self.bias_branch].head.fc.out_features
        device = next(model.parameters()).device
        self.bias_classifier = nn.Sequential(nn.Linear(width, width), nn.ReLU(),
                                             nn.Linear(width, classes)).to(device)
        self.bias_output = nn.Linear(classes, classes).to(device)
        first.register_forward_pre_hook(self._capture)
        return list(self.bias_classifier.parameters()) + list(self.bias_output.parameters())

    def _capture(self, module, args):
        self._embedding = module.squeeze(args[0][self.bias_branch]).detach()  # grad_mul_const(q, 0)

    def loss(self, logits, labels):
        if self._embedding is None:
            raise RuntimeError("RUBi.attach(model) must be called before training")
        bias_logits = self.bias_classifier(self._embedding)
        fused = torch.stack(list(logits)).mean(0)
        return (F.cross_entropy(fused * torch.sigmoid(bias_logits), labels)
                + F.cross_entropy(self.bias_output(bias_logits), labels))

    def state_dict(self) -> dict:
        return {"bias_classifier": self.bias_classifier.state_dict(),
                "bias_output": self.bias_output.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.bias_classifier.load_state_dict(state["bias_classifier"])
        self.bias_output.load_state_dict(state["bias_output"])


def ogm_coefficients(scores: torch.Tensor, alpha: float) -> list[float]:
    """OGM's gradient coefficients from the branches' scores s_k (the summed softmax probability
    of the true class over the batch). Branch k's discrepancy ratio is rho_k = s_k / mean of the
    other branches' scores; a branch with rho_k > 1 gets 1 - tanh(alpha * rho_k), the others 1.
    With two branches this is the authors' code (GeWu-Lab/OGM-GE_CVPR2022, main.py: their
    `1 - tanh(alpha * relu(ratio))` for the dominant modality): only the dominant one is slowed.
    Note: rho, not rho - 1, as in their code and Eq. (10); some re-implementations use rho - 1."""
    scores = [float(s) for s in scores]
    coefficients = []
    for k, score in enumerate(scores):
        others = [s for j, s in enumerate(scores) if j != k]
        rho = score / (sum(others) / len(others))
        coefficients.append(1.0 - math.tanh(alpha * rho) if rho > 1 else 1.0)
    return coefficients


class OGMGE(Vanilla):
    """OGM-GE (Peng et al., CVPR 2022, "Balanced Multimodal Learning via On-the-fly Gradient
    Modulation"), adapted to this paper's branches (each with its own head; the prediction is
    the mean of the logits).

    Each step, after the backward pass: the branches' scores from their own logits
    (ogm_coefficients), and, within the epochs [window_start, window_end], every convolution
    kernel of a branch's encoder (its stages; parameters with 4 or more dimensions, as the
    authors' `len(grad.size()) == 4`) has its gradient multiplied by the branch's coefficient.
    With `ge` (Generalisation Enhancement), each of those gradients then gets Gaussian noise of
    the (scaled) gradient's own standard deviation (+1e-8), on every branch, as the authors'
    code does. Heads and MMTM parameters are not modulated (the authors' fusion layer is not).
    The noise comes from the method's own generator, saved in its state, so a resumed run draws
    the same noise.

    Where this differs from the authors' code: their epoch window test (`starts >= epoch >= ends`)
    never holds with their defaults, so they modulate in every epoch and add the noise even
    outside the window; here the window bounds both (defaults: every epoch). Their scores come
    from slices of a shared fusion layer; here each branch has its own head.
    """

    def __init__(self, alpha: float = 0.1, ge: bool = True, window_start: int = 1,
                 window_end: int | None = None, seed: int = 0, **_):
        self.alpha, self.ge = alpha, ge
        self.window_start, self.window_end = window_start, window_end
        self.generator = torch.Generator().manual_seed(seed + 20220619)
        self.last_coefficients: list[float] | None = None

    def in_window(self, epoch: int) -> bool:
        return epoch >= self.window_start and (self.window_end is None or epoch <= self.window_end)

    @staticmethod
    def scores(logits: list[torch.Tensor], labels: torch.Tensor) -> torch.Tensor:
        return torch.stack([l.detach().softmax(1).gather(1, labels[:, None]).sum() for l in logits])

    def after_backward(self, model, logits, labels, epoch: int) -> None:
        if not self.in_window(epoch):
            self.last_coefficients = None
            return
        coefficients = ogm_coefficients(self.scores(logits, labels), self.alpha)
        self.last_coefficients = coefficients
        for branch, coefficient in zip(model.branches, coefficients):
            for parameter in branch.stages.parameters():
                if parameter.grad is None or parameter.grad.dim() < 4:
                    continue
                parameter.grad.mul_(coefficient)
                if self.ge:
                    std = parameter.grad.std().item() + 1e-8
                    noise = torch.randn(parameter.grad.shape, generator=self.generator) * std
                    parameter.grad.add_(noise.to(parameter.grad.device))

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])


def blending_weights(train_before, holdout_before, train_after, holdout_after, eps: float = 1e-12) -> list[float]:
    """Gradient-Blending weights from two snapshots of per-head losses (Wang et al. 2020):
    generalisation gain dG = L_holdout(N) - L_holdout(N+n), overfitting O = L_holdout - L_train,
    dO = O(N+n) - O(N); w_k proportional to dG_k / dO_k^2 (a head that got worse, dG <= 0, gets 0),
    normalised to sum 1. Returns [] when no head improved."""
    raw = []
    for tb, hb, ta, ha in zip(train_before, holdout_before, train_after, holdout_after):
        gain = hb - ha
        overfit = (ha - ta) - (hb - tb)
        raw.append(max(gain, 0.0) / (overfit ** 2 + eps))
    total = sum(raw)
    return [w / total for w in raw] if total > 0 else []


class GradientBlending(Vanilla):
    """Gradient Blending (Wang, Tran, Feiszli, CVPR 2020), an extra baseline beyond the paper.

    Heads: each branch's logits and the fused prediction (their mean); loss = sum_k w_k CE_k.
    The weights start uniform and are estimated from per-head losses on the training split and
    on a split held out from training (`holdout_fraction`, carved out by the trainer):
    "online" re-estimates them after every super-epoch of `super_epoch` epochs, "offline" once,
    after the first super-epoch, and keeps them. All steps are regular.
    """

    def __init__(self, mode: str = "online", super_epoch: int = 1, **_):
        if mode not in ("online", "offline"):
            raise ValueError(f"gradient_blending.mode must be 'online' or 'offline', got {mode!r}")
        self.mode, self.super_epoch = mode, super_epoch
        self.weights: list[float] | None = None
        self.snapshots: list[tuple[list[float], list[float]]] = []  # per epoch: (train, holdout)
        self.estimates = 0

    def loss(self, logits, labels):
        heads = list(logits) + [torch.stack(list(logits)).mean(0)]
        weights = self.weights or [1.0 / len(heads)] * len(heads)
        return sum(w * F.cross_entropy(h, labels) for w, h in zip(weights, heads))

    def end_epoch(self, train_losses: list[float], holdout_losses: list[float]) -> None:
        """Per-head losses (branches, then fused) at the end of an epoch."""
        self.snapshots.append((list(train_losses), list(holdout_losses)))
        due = len(self.snapshots) > self.super_epoch and (len(self.snapshots) - 1) % self.super_epoch == 0
        if due and (self.mode == "online" or self.estimates == 0):
            (tb, hb), (ta, ha) = self.snapshots[-1 - self.super_epoch], self.snapshots[-1]
            weights = blending_weights(tb, hb, ta, ha)
            if weights:
                self.weights = weights
                self.estimates += 1

    def state_dict(self) -> dict:
        return {"weights": self.weights, "snapshots": self.snapshots, "estimates": self.estimates}

    def load_state_dict(self, state: dict) -> None:
        self.weights, self.snapshots, self.estimates = state["weights"], state["snapshots"], state["estimates"]


METHODS = {"vanilla": Vanilla, "guided": Guided, "random": Random, "rubi": RUBi,
           "gradient_blending": GradientBlending, "ogm_ge": OGMGE}


def make_method(name: str, **params):
    if name not in METHODS:
        raise ValueError(f"training method {name!r} is not implemented yet; available: {sorted(METHODS)}")
    return METHODS[name](**params)
