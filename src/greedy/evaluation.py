"""Building, loading and evaluating a run's model, without the trainer.

Everything that reads a trained run (utilization, diagnose, benchmark) imports from here; the
trainer (train.py) imports from here too, so evaluation is computed one way everywhere.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from greedy import fileio
from greedy.compiling import eager
from greedy.data import Splits, carve_holdout, load_splits
from greedy.models import MultiBranchNet, build_model, load_pretrained


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(name)


# Architectures whose 2-D convolutions stay contiguous on the CPU. Channels-last is ~30 % faster
# for the CMNIST nets (oneDNN, 2 cores), but ResNet18's backward then reorders every 3x3 weight
# gradient into the weights' layout, a strided copy of up to 512x512x3x3 floats per convolution:
# a third of the step at the smoke run's 32x32 renders (1.8x slower than contiguous), 4 % at
# 224x224 (torch.profiler, README "Performance").
CONTIGUOUS_ON_CPU = frozenset({"resnet18"})


def memory_format_for(architecture: str, device, video: bool = False) -> torch.memory_format:
    """The memory format of a model's weights and image batches (video, 5-D: contiguous)."""
    if video or (torch.device(device).type == "cpu" and architecture in CONTIGUOUS_ON_CPU):
        return torch.contiguous_format
    return torch.channels_last


def input_format(model) -> torch.memory_format:
    """The memory format build_for_config chose for `model`'s image batches."""
    return getattr(eager(model), "input_format", torch.channels_last)


def to_device(inputs, labels, device, memory_format: torch.memory_format = torch.channels_last):
    """Move a batch; image batches go to `memory_format` (input_format(model))."""
    inputs = [x.to(device, non_blocking=True) for x in inputs]
    if memory_format == torch.channels_last:
        inputs = [x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x for x in inputs]
    return inputs, labels.to(device, non_blocking=True)


@torch.no_grad()
def collect_logits(model: MultiBranchNet, batches, device) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Every branch's logits over `batches` in evaluation mode, and the labels (a compiled
    training model is evaluated by its eager module: compiling.py)."""
    model = eager(model)
    model.eval()
    outputs, targets, memory_format = [], [], input_format(model)
    for inputs, labels in batches:
        inputs, labels = to_device(inputs, labels, device, memory_format)
        outputs.append(model(inputs))
        targets.append(labels)
    return [torch.cat([o[k] for o in outputs]) for k in range(model.num_branches)], torch.cat(targets)


def evaluate(model: MultiBranchNet, batches, device) -> dict:
    """Mean summed-CE loss, accuracy of the mean prediction and of every branch."""
    logits, labels = collect_logits(model, batches, device)
    return epoch_metrics(model, logits, labels)


def epoch_metrics(model: MultiBranchNet, logits: list[torch.Tensor], labels: torch.Tensor) -> dict:
    """loss (sum of the branches' mean CE), accuracy of the prediction and of every branch, and
    each head's mean CE (branches and the fused prediction)."""
    fused = model.predict(logits)
    head_losses = [F.cross_entropy(l.float(), labels).item() for l in logits]
    out = {"loss": sum(head_losses), "acc": (fused.argmax(1) == labels).double().mean().item()}
    out.update({f"acc_b{k}": (l.argmax(1) == labels).double().mean().item() for k, l in enumerate(logits)})
    out.update({f"loss_b{k}": v for k, v in enumerate(head_losses)})
    out["loss_fused"] = F.cross_entropy(fused.float(), labels).item()
    return out


def build_for_config(config: dict, splits: Splits, device, pretrained: bool = True) -> MultiBranchNet:
    """The run's model, initialised by its seed, then (`pretrained`, and the configuration names
    weights) every branch loaded from the pre-trained weights file. A trained checkpoint loaded
    over it next needs no weights file: pass pretrained=False."""
    torch.manual_seed(config["seed"])
    model_cfg = config["model"]
    switches = config.get("procedure") or {}  # the MMTM's official-code switches (procedure.py)
    model = build_model(model_cfg["architecture"], splits.in_channels, splits.num_classes,
                        model_cfg["channels"], model_cfg["fusion_after"], switches.get("gate", "2sigmoid"),
                        switches.get("gate_running_mean", "regular_passes"))
    if pretrained and config.get("weights"):
        load_pretrained(model, model_cfg["architecture"], config["weights"]["path"])
    # video (I3D): channels_last is for 4-D weights
    memory_format = memory_format_for(model_cfg["architecture"], device,
                                      video=any(p.dim() == 5 for p in model.parameters()))
    model.input_format = memory_format
    return model.to(device, memory_format=memory_format)


def splits_for_config(config: dict) -> Splits:
    training = config["training"]
    splits = load_splits(config["dataset"], config["data_dir"], config["modalities"],
                         training["batch_size"], training["eval_batch_size"], config["seed"])
    holdout_fraction = config.get("method_params", {}).get("holdout_fraction")
    return carve_holdout(splits, holdout_fraction, config["seed"]) if holdout_fraction else splits


@dataclass
class LoadedRun:
    """A finished run: its status.json, configuration, data splits, and the best-validation model
    with the rest of best.pt (epoch, d_speed, ...)."""
    run_dir: Path
    status: dict
    config: dict
    device: torch.device
    splits: Splits
    model: MultiBranchNet
    best: dict


def load_run(run_dir, device: str | None = None) -> LoadedRun:
    """Load a completed run's best-validation model and its data; `device` overrides the one the
    run's configuration names (e.g. evaluate a GPU-trained run on the CPU)."""
    run_dir = Path(run_dir)
    status = fileio.read_json(run_dir / "status.json")
    if status["status"] != "completed" or not (run_dir / "best.pt").exists():
        raise ValueError(f"{run_dir}: status {status['status']!r}, no best-validation model to load")
    config = status["config"]
    resolved = resolve_device(device or config["device"])
    splits = splits_for_config(config)
    model = build_for_config(config, splits, resolved, pretrained=False)
    best = torch.load(run_dir / "best.pt", map_location=resolved, weights_only=False)
    model.load_state_dict(best["model"])
    return LoadedRun(run_dir, status, config, resolved, splits, model, best)
