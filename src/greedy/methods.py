"""Training methods by name: each decides, step by step, which kind of step the trainer takes.

A step kind is "regular" (fusion intact; the conditional-speed sums are updated) or
"rebalance<k>" (accelerate modality k: the trainer runs the step inside
`model.rebalancing(k)`). `next_step(epoch, speed)` is called before each step; `speed` is the
`ConditionalSpeed` tracker (None for uni-modal models).
"""
from __future__ import annotations


class Vanilla:
    """Conventional joint training: every step is regular."""

    def __init__(self, **_):
        pass

    def next_step(self, epoch: int, speed) -> str:
        return "regular"

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


METHODS = {"vanilla": Vanilla}


def make_method(name: str, **params):
    if name not in METHODS:
        raise ValueError(f"training method {name!r} is not implemented yet; available: {sorted(METHODS)}")
    return METHODS[name](**params)
