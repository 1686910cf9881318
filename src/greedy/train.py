"""The one trainer, for every data set and method.

SGD (momentum, weight decay from the parameters) on CE(y, y0) + CE(y, y1) (+ L1 weight x sum|theta|),
until the training accuracy has been 100 % for `stop_after_perfect_epochs` epochs or
`max_epochs` is reached. Outputs in the run folder, all written atomically:
  config.json   the run's configuration
  metrics.csv   per epoch: loss, accuracy and per-branch accuracy on train / val / test, the
                latter two in both evaluation states (clean: val_*, test_*; carried: the
                re-balancing state the epoch's last step left, carried_kind, carried_val_*,
                carried_test_*; procedure.py)
  steps.csv     per step: its kind (regular, rebalance0, rebalance1), for plots of re-balancing
  speed.csv     per regular step: mu and running sums M per parameter group, d_speed
  best.pt       the best-validation-accuracy model (with d_speed at that step)
  last.pt       everything needed to resume (model, optimizer, method, speed sums, history)
  status.json   written last: status "completed" or "diverged", and the run's summary
  train.log     the log
A killed run restarts from last.pt and reaches the same final result. last.pt and status.json
record the training code's fingerprint (greedy.fingerprint); a run written by other
training code is trained again from scratch, never resumed or reused. A run whose loss becomes
NaN or infinite stops with status "diverged" and returns normally.
"""
from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from tqdm import tqdm

from greedy import compiling, fileio, procedure
from greedy.checkpoint import Checkpointer
from greedy.config import run_hash
from greedy.fingerprint import training_code_fingerprint
from greedy.data import Splits
from greedy.evaluation import (build_for_config, epoch_metrics, evaluate, input_format, resolve_device,
                               splits_for_config, to_device)
from greedy.methods import make_method
from greedy.models import MultiBranchNet
from greedy.speed import ConditionalSpeed, d_speed_series


def l1_norm(model) -> torch.Tensor:
    """sum |theta| over all parameters, in one fused kernel (it runs every step of the L1 study)."""
    return torch.stack(torch._foreach_norm(list(model.parameters()), 1)).sum()


# The loss is checked for NaN/inf every this many steps and at the end of the epoch, not after every
# step: a check reads the value back to the host, which on a GPU waits for the step to finish.
# A diverged step makes every later loss non-finite, so the run is still recorded as diverged in
# the same epoch; it only trains on for at most this many useless steps first.
FINITE_CHECK_STEPS = 50


def new_epoch_state() -> dict:
    """What one epoch accumulates step by step (a mid-epoch checkpoint saves it)."""
    return {"losses": [], "outputs": [], "targets": [], "kinds": []}


def train_one_epoch(model: MultiBranchNet, optimizer, batches, device, *, epoch: int = 0,
                    method=None, speed: ConditionalSpeed | None = None, l1: float = 0.0,
                    step_kinds: list | None = None, progress: bool = False, gradient_reset: str = "none",
                    partial: dict | None = None, on_step: Callable[[dict], None] | None = None) -> dict | None:
    """One pass over `batches`. Returns the epoch's running metrics, or None if the loss diverged.

    `partial` (new_epoch_state(), from a mid-epoch checkpoint) resumes the epoch: its batches are
    skipped (the epoch's order is seeded, so the rest come as they would have) and its
    accumulators continue. `on_step(partial)` runs after every step (the trainer checkpoints).
    `model` may be a compiling.Compiled model (the trainer's, when compiling). `gradient_reset`
    "zero" zeroes the gradients before each step instead of setting them to None (procedure.py)."""
    model.train()
    # Per-step metrics are kept as detached tensors and reduced once at the end of the epoch:
    # fewer small ops per step (the trainer must stay within 5 % of a bare training loop).
    partial = partial if partial is not None else new_epoch_state()
    losses, outputs, targets = partial["losses"], partial["outputs"], partial["targets"]
    objectives = []  # not checked for NaN/inf yet (FINITE_CHECK_STEPS)
    memory_format = input_format(model)
    done = len(partial["kinds"])
    if step_kinds is not None:
        step_kinds.extend(partial["kinds"])
    for index, (inputs, labels) in enumerate(tqdm(batches, desc=f"epoch {epoch}", disable=not progress,
                                                  mininterval=10, leave=False)):
        if index < done:
            continue  # trained before the checkpoint this epoch resumes from
        inputs, labels = to_device(inputs, labels, device, memory_format)
        kind = method.next_step(epoch, speed) if method is not None else "regular"
        rebalance = model.rebalancing(int(kind[-1])) if kind.startswith("rebalance") else contextlib.nullcontext()
        with rebalance:
            logits = model(inputs)
        loss = method.loss(logits, labels) if method is not None else sum(
            F.cross_entropy(l, labels) for l in logits)
        objective = loss + l1 * l1_norm(model) if l1 > 0 else loss
        objectives.append(objective.detach())
        if len(objectives) >= FINITE_CHECK_STEPS:
            if not torch.isfinite(torch.stack(objectives)).all():
                return None
            objectives.clear()
        optimizer.zero_grad(set_to_none=gradient_reset == "none")
        objective.backward()
        if method is not None:  # gradient modulation (OGM-GE): the speed sees the applied gradients
            method.after_backward(compiling.eager(model), logits, labels, epoch)
        if speed is not None and kind == "regular":
            speed.update()
        if step_kinds is not None:
            step_kinds.append(kind)
        optimizer.step()
        losses.append(loss.detach() * len(labels))
        outputs.append([l.detach() for l in logits])
        targets.append(labels)
        partial["kinds"].append(kind)
        if on_step is not None:
            on_step(partial)
    if not targets or (objectives and not torch.isfinite(torch.stack(objectives)).all()):
        return None
    with torch.no_grad():
        labels = torch.cat(targets)
        logits = [torch.cat([o[k] for o in outputs]) for k in range(model.num_branches)]
        out = epoch_metrics(model, logits, labels)
        out["loss"] = (torch.stack(losses).sum() / len(labels)).item()  # the method's training loss
    if not np.isfinite(out["loss"]):
        return None
    return out


def make_scheduler(optimizer, schedule: dict):
    """The learning-rate schedule by name: "plateau" (ReduceLROnPlateau on the training loss, as
    the official configuration) or "constant"."""
    name = schedule.get("name", "constant")
    if name == "constant":
        return None
    if name == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="min", factor=schedule.get("factor", 0.3), patience=schedule.get("patience", 10))
    raise ValueError(f"training.*.lr_schedule.name: unknown schedule {name!r}; choose plateau or constant")


def count_perfect_epochs(previous: int, train_acc: float, counting: str = "consecutive") -> int:
    """Epochs at 100 % training accuracy after this one: `consecutive` restarts at a worse epoch
    (the paper's "until 100 %" with a patience), `cumulative` never does (the official code's
    CompletedStopping)."""
    if train_acc >= 1.0:
        return previous + 1
    return previous if counting == "cumulative" else 0


def evaluate_in(model: MultiBranchNet, splits: Splits, device, kind: str) -> tuple[dict, dict]:
    """Validation and test metrics with the model in the state of a `kind` step (regular, or
    rebalance<k>: branch k's gates at their running mean)."""
    context = model.rebalancing(int(kind[-1])) if kind.startswith("rebalance") else contextlib.nullcontext()
    with context:
        val = evaluate(model, splits.val, device)
        test = val if splits.val_is_test else evaluate(model, splits.test, device)
    return val, test


def evaluate_states(model: MultiBranchNet, splits: Splits, device, carried_kind: str, selected: str) -> dict:
    """{"clean": (val, test), "carried": (val, test)}. The state the run selects on is evaluated
    first; the other only observes (no pass of it counts in an official running mean of the gates),
    and is the same numbers when both states are the same (a regular next step)."""
    kinds = {"clean": "regular", "carried": carried_kind}
    other = "carried" if selected == "clean" else "clean"
    out = {selected: evaluate_in(model, splits, device, kinds[selected])}
    if kinds[other] == kinds[selected]:
        out[other] = out[selected]
    else:
        with model.not_counting():
            out[other] = evaluate_in(model, splits, device, kinds[other])
    return out


def _logger(run_dir: Path) -> logging.Logger:
    logger = logging.getLogger(f"greedy.train.{run_dir}")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    if not logger.handlers:
        run_dir.mkdir(parents=True, exist_ok=True)
        for handler in (logging.FileHandler(run_dir / "train.log"), logging.StreamHandler()):
            handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
            logger.addHandler(handler)
    return logger


class RunBusy(RuntimeError):
    """Another process is training in the same run folder."""


def check_config(config: dict) -> None:
    """What can be refused before any data is loaded or any file written: the method's name and
    the learning rate (a non-positive one; a YAML `1e-2` arrives as a string)."""
    from greedy.methods import METHODS
    if config["method"] not in METHODS:
        raise ValueError(f"method {config['method']!r} is not implemented; available: {sorted(METHODS)}")
    lr = config["lr"]
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not np.isfinite(lr) or lr <= 0:
        raise ValueError(f"learning rate {lr!r}: it must be a positive number (in YAML write 1.0e-2 or 0.01; "
                         "1e-2 is read as a string)")


@contextlib.contextmanager
def run_lock(run_dir: Path):
    """One trainer per run folder: an flock the kernel drops when the process dies, so a second
    `greedy train` on the same folder fails at once instead of racing on last.pt."""
    import fcntl
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / ".train.lock", "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            raise RunBusy(f"{run_dir} is being trained by another process ({lock.read().strip() or 'unknown'}); "
                          "wait for it to finish or stop it") from None
        lock.truncate(0)
        lock.write(f"pid {os.getpid()}\n")
        lock.flush()
        yield


def train(config: dict, run_dir, splits: Splits | None = None, progress: bool = False,
          on_epoch_end: Callable[[int], None] | None = None,
          on_step: Callable[[int], None] | None = None) -> dict:
    """Train one model as `config` says (see config.run_config); returns the status summary.
    `on_epoch_end(epoch)` and `on_step(step)` (1-based, over the whole run) are called as training
    goes (progress reports; the fault-injection tests kill the process from them)."""
    check_config(config)
    run_dir = Path(run_dir)
    with run_lock(run_dir):
        return _train(config, run_dir, splits, progress, on_epoch_end, on_step)


# A finished run's own files, copied for a run of the same configuration (its evaluation,
# utilization.json, is made for each folder by its own job).
RUN_FILES = ("config.json", "metrics.csv", "steps.csv", "speed.csv", "train.log", "best.pt", "last.pt",
             "previous.pt")


def copy_finished_run(source, run_dir, config: dict) -> dict:
    """`run_dir` as the finished run `source` of the same configuration and training code left
    it (studies: "same_as"), status.json last: one training serves both studies. A source of
    another configuration or training code is refused (its train job runs first)."""
    source, run_dir = Path(source), Path(run_dir)
    status = fileio.read_json(source / "status.json") if (source / "status.json").exists() else {}
    wanted = {"config_hash": run_hash(config, 16), "training_code": training_code_fingerprint(dataset=config["dataset"])}
    if {k: status.get(k) for k in wanted} != wanted:
        raise FileNotFoundError(f"{source} is not a finished run of this configuration and training code "
                                "(its train job, an input of this one, makes it)")
    with run_lock(run_dir):
        for name in RUN_FILES:
            if (source / name).exists():
                fileio.atomic_write(run_dir / name, lambda tmp, name=name: shutil.copyfile(source / name, tmp))
        _logger(run_dir).info("the same configuration as %s: its finished run copied, not trained again", source)
        fileio.write_json(run_dir / "status.json", status)
    return status


def _train(config: dict, run_dir: Path, splits: Splits | None, progress: bool,
           on_epoch_end: Callable[[int], None] | None, on_step: Callable[[int], None] | None) -> dict:
    config_hash = run_hash(config, 16)  # what changes results only (config.result_identity)
    code = training_code_fingerprint(dataset=config["dataset"])
    done = _finished_run(run_dir, config_hash, code)
    if done is not None:
        return done
    log = _logger(run_dir)
    fileio.write_json(run_dir / "config.json", config)
    device = resolve_device(config["device"])
    training = config["training"]
    switches = config.get("procedure") or procedure.PRESETS["paper"]
    splits = splits or splits_for_config(config)
    model, method, optimizer, scheduler, speed = _training_objects(config, splits, device, switches)
    # The training steps' model: compiled where training.*.compile says (compiling.py), after
    # method.attach (RUBi's hook is compiled in). Evaluation and checkpoints use `model`, eager.
    net = compiling.for_training(model, training.get("compile", "auto"), device,
                                 len(splits.train) * training["max_epochs"], training["batch_size"], log,
                                 config["model"]["architecture"])
    if net is not model:
        log.info("training steps compiled (training.*.compile: %s)", training.get("compile", "auto"))
    checkpoints = Checkpointer(run_dir, config_hash, code, log, model=model, optimizer=optimizer, method=method,
                               scheduler=scheduler, speed=speed, every=training.get("checkpoint_minutes"))
    state, partial = checkpoints.resume(device) or (new_run_state(), None)

    def after_step(partial: dict) -> None:
        checkpoints.maybe_save(state, partial)
        if on_step is not None:
            on_step(state["steps_done"] + len(partial["kinds"]))

    status, stopped_by = "completed", "epoch_cap"
    while state["epoch"] < training["max_epochs"]:
        # checked first, so a run killed after its last epoch's checkpoint stops on resume too
        if state["perfect_epochs"] >= training["stop_after_perfect_epochs"]:
            stopped_by = "perfect_train"
            log.info("training accuracy 100 %% for %d epoch(s): stopping", state["perfect_epochs"])
            break
        epoch = state["epoch"]
        started = time.perf_counter()
        splits.train.set_epoch(epoch)
        step_kinds: list[str] = []
        train_metrics = train_one_epoch(net, optimizer, splits.train, device, epoch=epoch,
                                        method=method, speed=speed, l1=training["l1"],
                                        step_kinds=step_kinds, progress=progress,
                                        gradient_reset=switches["gradient_reset"],
                                        partial=partial, on_step=after_step)
        partial = None
        if train_metrics is None:
            status, stopped_by = "diverged", "diverged"
            state["diverged_epoch"] = epoch
            log.info("epoch %d: loss is not finite, run recorded as diverged", epoch)
            break
        # both evaluation states; the run selects its checkpoint on switches["evaluation_state"]
        carried_kind = method.upcoming(epoch + 1, speed)
        states = evaluate_states(model, splits, device, carried_kind, switches["evaluation_state"])
        holdout = _blend_weights(model, method, splits, device)
        _log_steps(state, epoch, step_kinds, speed)
        row = _epoch_row(epoch, optimizer, speed, train_metrics, states, carried_kind, holdout, started)
        state["wall_seconds"] += time.perf_counter() - started
        state["history"].append(row)
        log.info("epoch %d: train acc %.4f loss %.4f | val acc %.4f | test acc %.4f | carried (%s) test acc "
                 "%.4f | d_speed %.4f", epoch + 1, row["train_acc"], row["train_loss"], row["val_acc"],
                 row["test_acc"], carried_kind, row["carried_test_acc"], row["d_speed"])
        selected_val = states[switches["evaluation_state"]][0]
        if selected_val["acc"] > state["best_val_acc"]:
            state["best_val_acc"], state["best_epoch"] = selected_val["acc"], epoch + 1
            _save_best(run_dir, model, config, epoch, states, carried_kind, row["d_speed"], speed)
        state["perfect_epochs"] = count_perfect_epochs(state["perfect_epochs"], train_metrics["acc"],
                                                       switches["perfect_epochs"])
        state["epoch"] = epoch + 1
        if scheduler is not None:
            scheduler.step(train_metrics["loss"])  # official configuration: plateau of the training loss
        _write_tables(run_dir, state)
        checkpoints.save(state)
        if on_epoch_end is not None:
            on_epoch_end(epoch + 1)

    if stopped_by == "epoch_cap" and state["perfect_epochs"] >= training["stop_after_perfect_epochs"]:
        stopped_by = "perfect_train"  # the last allowed epoch completed the patience
    if stopped_by == "epoch_cap":
        log.info("stopped at the epoch cap (%d) before %d epoch(s) at 100 %% training accuracy",
                 training["max_epochs"], training["stop_after_perfect_epochs"])
    _write_tables(run_dir, state)
    summary = {"status": status, "config_hash": config_hash, "training_code": code, "config": config,
               **run_summary(state, stopped_by, model.num_branches, switches["evaluation_state"]),
               "device": str(device), "compiled": isinstance(net, compiling.Compiled) and net.active}
    fileio.write_json(run_dir / "status.json", summary)
    return summary


def new_run_state() -> dict:
    """The loop's bookkeeping, saved in every checkpoint."""
    return {"epoch": 0, "best_val_acc": -1.0, "best_epoch": None, "perfect_epochs": 0,
            "history": [], "steps_done": 0, "step_log": [], "speed_rows": [], "speed_columns": None,
            "wall_seconds": 0.0}


def _finished_run(run_dir: Path, config_hash: str, code: str) -> dict | None:
    """The status of a run already done with this configuration and training code, or None. A
    run of another configuration is refused; one of other training code is trained again."""
    status_path = run_dir / "status.json"
    if not status_path.exists():
        return None
    status = fileio.read_json(status_path)
    if status.get("config_hash") != config_hash:
        raise FileExistsError(f"{run_dir} holds a run with another configuration; remove it first")
    if status.get("training_code") == code:
        return status
    _logger(run_dir).info("%s was written by other training code (%s, now %s): training again",
                          status_path, status.get("training_code"), code)
    status_path.unlink()
    return None


def _training_objects(config: dict, splits: Splits, device, switches: dict) -> tuple:
    """(model, method, optimizer, scheduler, speed log) of a fresh run."""
    training = config["training"]
    model = build_for_config(config, splits, device)
    method = make_method(config["method"], seed=config["seed"], **config.get("method_params", {}),
                         first_step_after_warmup=switches["first_step_after_warmup"])
    optimizer = torch.optim.SGD(list(model.parameters()) + method.attach(model), lr=config["lr"],
                                momentum=training["momentum"], weight_decay=training["weight_decay"])
    scheduler = make_scheduler(optimizer, training.get("lr_schedule", {"name": "constant"}))
    speed = ConditionalSpeed(model.speed_groups()) if model.num_branches > 1 else None
    return model, method, optimizer, scheduler, speed


def _blend_weights(model: MultiBranchNet, method, splits: Splits, device) -> dict:
    """Gradient Blending's end of epoch: both losses the same way (evaluation mode), the
    method's new weights; {} for every other method."""
    if splits.holdout is None or not hasattr(method, "end_epoch"):
        return {}
    train_eval = evaluate(model, splits.train_eval, device)
    holdout = evaluate(model, splits.holdout, device)
    heads = [f"loss_b{k}" for k in range(model.num_branches)] + ["loss_fused"]
    method.end_epoch([train_eval[h] for h in heads], [holdout[h] for h in heads])
    holdout.update({f"blend_w{k}": w for k, w in enumerate(method.weights or [])})
    return holdout


def _log_steps(state: dict, epoch: int, step_kinds: list[str], speed) -> None:
    """The epoch's step kinds (steps.csv) and its regular steps' speed rows (speed.csv)."""
    steps = range(state["steps_done"] + 1, state["steps_done"] + len(step_kinds) + 1)
    state["step_log"].extend([step, epoch, kind] for step, kind in zip(steps, step_kinds))
    state["steps_done"] += len(step_kinds)
    if speed is not None:
        columns, rows = speed.drain_rows()
        regular = [step for step, kind in zip(steps, step_kinds) if kind == "regular"]
        state["speed_columns"] = columns
        state["speed_rows"].extend([[step, epoch] + row for step, row in zip(regular, rows)])


def _epoch_row(epoch: int, optimizer, speed, train_metrics: dict, states: dict, carried_kind: str,
               holdout: dict, started: float) -> dict:
    """One line of metrics.csv."""
    (val, test), (carried_val, carried_test) = states["clean"], states["carried"]
    return {"epoch": epoch + 1, "lr": optimizer.param_groups[0]["lr"],
            "d_speed": speed.d_speed() if speed is not None else float("nan"),
            "seconds": time.perf_counter() - started,
            **{f"train_{k}": v for k, v in train_metrics.items()},
            **{f"val_{k}": v for k, v in val.items()},
            **{f"test_{k}": v for k, v in test.items()},
            "carried_kind": carried_kind,
            **{f"carried_val_{k}": v for k, v in carried_val.items()},
            **{f"carried_test_{k}": v for k, v in carried_test.items()},
            **{f"holdout_{k}": v for k, v in holdout.items()}}


def _save_best(run_dir: Path, model, config: dict, epoch: int, states: dict, carried_kind: str, d_speed: float,
               speed) -> None:
    (val, test), (carried_val, carried_test) = states["clean"], states["carried"]
    fileio.torch_save(run_dir / "best.pt", {
        "model": model.state_dict(), "config": config, "epoch": epoch + 1,
        "val": val, "test": test, "carried_kind": carried_kind, "carried_val": carried_val,
        "carried_test": carried_test, "d_speed": d_speed,
        "speeds": speed.speeds() if speed is not None else {}})


def run_summary(state: dict, stopped_by: str, num_branches: int, selected: str) -> dict:
    """status.json's account of the run: how it stopped and its chosen epoch's numbers."""
    history = state["history"]
    best = next((r for r in history if r["epoch"] == state["best_epoch"]), None)
    return {"epochs_run": state["epoch"], "diverged_epoch": state.get("diverged_epoch"),
            # "perfect_train": stopped as the paper does; "epoch_cap": hit max_epochs first
            "stopped_by": stopped_by,
            "reached_perfect_train": any(r["train_acc"] >= 1.0 for r in history),
            "first_perfect_epoch": next((r["epoch"] for r in history if r["train_acc"] >= 1.0), None),
            "best_epoch": state["best_epoch"],
            **best_summary(best, num_branches, selected),
            "d_speed_at_best": best["d_speed"] if best else None,
            "final_train_acc": history[-1]["train_acc"] if history else None,
            "wall_seconds": state["wall_seconds"]}


def best_summary(best: dict | None, num_branches: int, selected: str) -> dict:
    """The chosen epoch's numbers: test_acc, test_acc_branches in the state the run selected on
    (`evaluation_state`), and both states' test accuracies beside them."""
    def columns(prefix: str) -> tuple:
        return (best[f"{prefix}test_acc"], [best[f"{prefix}test_acc_b{k}"] for k in range(num_branches)])
    if best is None:
        return {"evaluation_state": selected, "best_val_acc": None, "test_acc": None, "test_acc_branches": None,
                "test_acc_clean": None, "test_acc_carried": None, "test_acc_branches_clean": None,
                "test_acc_branches_carried": None, "carried_kind": None}
    clean, carried = columns(""), columns("carried_")
    chosen = clean if selected == "clean" else carried
    return {"evaluation_state": selected,
            "best_val_acc": best["val_acc" if selected == "clean" else "carried_val_acc"],
            "test_acc": chosen[0], "test_acc_branches": chosen[1],
            "test_acc_clean": clean[0], "test_acc_carried": carried[0],
            "test_acc_branches_clean": clean[1], "test_acc_branches_carried": carried[1],
            "carried_kind": best["carried_kind"]}


def _write_tables(run_dir: Path, state: dict) -> None:
    fileio.write_csv(run_dir / "metrics.csv", pd.DataFrame(state["history"]))
    fileio.write_csv(run_dir / "steps.csv", pd.DataFrame(state["step_log"], columns=["step", "epoch", "kind"]))
    if state["speed_columns"]:
        frame = pd.DataFrame(state["speed_rows"], columns=["step", "epoch"] + state["speed_columns"])
        if "M_theta1" in frame:
            frame["d_speed"] = d_speed_series(frame)
        fileio.write_csv(run_dir / "speed.csv", frame)
