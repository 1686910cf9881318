"""A run's checkpoints: last.pt (everything to resume, checksummed and written atomically) and
previous.pt (the one before it), at the end of every epoch and every `checkpoint_minutes` inside
one. A checkpoint of another configuration is refused; one of other training code is ignored
(the run starts fresh); a damaged one is set aside and the one before it is used.
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import torch

from greedy import fileio

CHECKPOINTS = ("last.pt", "previous.pt")  # newest first
REQUIRED = {"config_hash", "model", "optimizer", "method", "state", "rng"}


def save_checkpoint(run_dir: Path, payload: dict) -> None:
    """Write last.pt (checksummed, atomically), keeping the one before as previous.pt: a damaged
    last.pt then costs one checkpoint interval, not the run."""
    last, previous = (run_dir / name for name in CHECKPOINTS)
    if last.exists():
        os.replace(last, previous)
    fileio.torch_save_verified(last, payload)


def load_checkpoint(run_dir: Path, device, log: logging.Logger) -> dict | None:
    """The newest checkpoint of the run that reads back intact (last.pt, else previous.pt), or
    None. A damaged one (truncated, a changed byte, a missing key) is logged and renamed
    <name>.corrupt, never resumed from and never deleted."""
    for name in CHECKPOINTS:
        path = run_dir / name
        if not path.exists():
            continue
        try:
            checkpoint = fileio.torch_load_verified(path, map_location=device)
            missing = REQUIRED - set(checkpoint)
            if missing:
                raise fileio.CorruptFileError(f"{path}: missing {sorted(missing)}")
            return checkpoint
        except fileio.CorruptFileError as error:
            corrupt = path.with_name(path.name + ".corrupt")
            os.replace(path, corrupt)
            log.warning("%s; moved to %s, resuming from the state before it", error, corrupt)
    return None


class Checkpointer:
    """Saves and restores one run's training objects (model, optimizer, scheduler, method,
    speed log) with the loop's `state`. `every` is training.checkpoint_minutes: mid-epoch
    checkpoints that often (None: at epoch ends only; 0: after every step), because epochs of the
    full-size models take hours and a preempted cluster job should lose at most that much."""

    def __init__(self, run_dir: Path, config_hash: str, code: str, log: logging.Logger, *, model, optimizer,
                 method, scheduler=None, speed=None, every: float | None = None):
        self.run_dir, self.config_hash, self.code, self.log = run_dir, config_hash, code, log
        self.model, self.optimizer, self.method = model, optimizer, method
        self.scheduler, self.speed, self.every = scheduler, speed, every
        self.last_saved = time.monotonic()

    def resume(self, device) -> tuple[dict, dict | None] | None:
        """(state, partial epoch or None) restored from the newest intact checkpoint of this
        configuration and training code, or None to start fresh."""
        checkpoint = load_checkpoint(self.run_dir, device, self.log)
        if checkpoint is None:
            return None
        last = self.run_dir / CHECKPOINTS[0]
        if checkpoint["config_hash"] != self.config_hash:
            raise FileExistsError(f"{last} was written with another configuration; remove it first")
        if checkpoint.get("training_code") != self.code:
            self.log.info("%s was written by other training code (%s, now %s): starting fresh",
                          last, checkpoint.get("training_code"), self.code)
            return None
        self.model.load_state_dict(checkpoint["model"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        if self.scheduler is not None:
            self.scheduler.load_state_dict(checkpoint["scheduler"])
        self.method.load_state_dict(checkpoint["method"])
        if self.speed is not None:
            self.speed.load_state_dict(checkpoint["speed"])
        torch.set_rng_state(checkpoint["rng"])
        state, partial = checkpoint["state"], checkpoint.get("partial")
        if partial is None:
            self.log.info("resuming %s after epoch %d", self.run_dir, state["epoch"])
        else:
            self.log.info("resuming %s in epoch %d after step %d of it", self.run_dir, state["epoch"] + 1,
                          len(partial["kinds"]))
        return state, partial

    def save(self, state: dict, partial: dict | None = None) -> None:
        """last.pt: everything to resume, at the end of an epoch or (partial) in the middle of one."""
        save_checkpoint(self.run_dir, {
            "config_hash": self.config_hash, "training_code": self.code, "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(), "method": self.method.state_dict(),
            "speed": self.speed.state_dict() if self.speed is not None else None,
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "state": state, "rng": torch.get_rng_state(), "partial": partial})
        self.last_saved = time.monotonic()

    def maybe_save(self, state: dict, partial: dict) -> None:
        """A mid-epoch checkpoint when `every` minutes have passed since the last one."""
        if self.every is not None and time.monotonic() - self.last_saved >= 60 * self.every:
            self.save(state, partial)
