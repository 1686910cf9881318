"""Where the paper's text and the official code differ: one named switch each, and two presets.

The official code is github.com/nyukat/greedy_multimodal_learning (its ModelNet40 loop; REFERENCE
section 2). Each switch's first value is the paper's text (preset "paper", this pipeline's
default); its second is what the official code does (preset "official"):

  evaluation_state         clean | carried. carried: the epoch-end validation and test passes
                           run in the re-balancing state the last training step left (the step
                           the method would take next), as `src/framework.py`
                           `Model_._eval_generator` does with the `curation_mode` and
                           `caring_modality` that `src/callbacks.py` (`Bias_Mitigation_Strong`,
                           `Bias_Mitigation_Random`, `on_backward_end`) set; the best checkpoint
                           is chosen on that state's validation accuracy. Every run records both
                           states; d_util is always computed clean.
  gate                     2sigmoid | sigmoid: the MMTM gate (`src/balanced_mmtm.py`, σ).
  gate_running_mean        regular_passes | official: the mean a re-balancing step puts in place
                           of a gate (`MMTM_mitigate.forward`: every pass, per-batch means,
                           branch 1 from branch 0's gate).
  gradient_reset           none | zero: `optimizer.zero_grad` sets gradients to None (PyTorch 2)
                           or zeroes them (PyTorch 1.x, the official code): with zeros, momentum
                           keeps moving a gate head that a re-balancing step gives no gradient.
  perfect_epochs           consecutive | cumulative: how the epochs at 100 % training accuracy
                           are counted for stopping (`CompletedStopping.on_epoch_end`).
  first_step_after_warmup  any | regular: the official callbacks decide after a step's backward,
                           and the last warm-up step decides "regular", so the first step after
                           the warm-up is always regular.
"""
from __future__ import annotations

SWITCHES: dict[str, tuple[str, str]] = {
    "evaluation_state": ("clean", "carried"),
    "gate": ("2sigmoid", "sigmoid"),
    "gate_running_mean": ("regular_passes", "official"),
    "gradient_reset": ("none", "zero"),
    "perfect_epochs": ("consecutive", "cumulative"),
    "first_step_after_warmup": ("any", "regular"),
}
PRESETS = {"paper": {name: values[0] for name, values in SWITCHES.items()},
           "official": {name: values[1] for name, values in SWITCHES.items()}}
# Switches that act only through re-balancing steps: inert for methods that never take one.
REBALANCING_ONLY = ("evaluation_state", "gate_running_mean", "gradient_reset", "first_step_after_warmup")
REBALANCING_METHODS = ("guided", "random")  # methods.py: those whose next_step can re-balance


def resolve(section: dict | None, where: str = "procedure") -> dict:
    """The switches' values: the preset's, with any switch named in `section` replacing it."""
    section = dict(section or {})
    preset = section.pop("preset", "paper")
    if preset not in PRESETS:
        raise ValueError(f"{where}.preset: {preset!r}; choose one of {sorted(PRESETS)}")
    resolved = dict(PRESETS[preset])
    for name, value in section.items():
        if name not in SWITCHES:
            raise ValueError(f"{where}.{name}: unknown switch; the switches are {sorted(SWITCHES)}")
        if value is None:
            continue
        if value not in SWITCHES[name]:
            raise ValueError(f"{where}.{name}: {value!r}; choose one of {list(SWITCHES[name])}")
        resolved[name] = value
    return resolved


def inert(method: str, section: dict | None, methods: list[str] | None = None) -> bool:
    """Whether the ablation skips `section`'s variant for `method`: every switch it changes acts
    through re-balancing steps and the method is not among `methods` (default: those that take
    re-balancing steps; for the others the variant cannot change a paper-preset run)."""
    changed = differences(resolve(section))
    methods = REBALANCING_METHODS if methods is None else methods
    return bool(changed) and method not in methods and set(changed) <= set(REBALANCING_ONLY)


def differences(resolved: dict) -> dict:
    """The switches that differ from the paper's text: what a run id hashes (paper-preset runs
    keep the ids they had before the switches existed)."""
    return {name: value for name, value in resolved.items() if value != PRESETS["paper"][name]}


def label(resolved: dict) -> str:
    """A short name for a set of switch values: "paper", "official", or the differences."""
    for name, values in PRESETS.items():
        if resolved == values:
            return name
    return "paper + " + ", ".join(f"{k}={v}" for k, v in differences(resolved).items())
