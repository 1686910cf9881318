"""Data sets by name. Each provides its modalities' channel counts and batch iterables."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Iterable, Sequence

import torch


@dataclass
class Splits:
    train: Iterable        # shuffled, has set_epoch(epoch)
    train_eval: Iterable   # the training split in fixed order (squeeze means for d_util)
    val: Iterable
    test: Iterable
    val_is_test: bool      # the paper's CMNIST split: one pass serves both
    num_classes: int
    in_channels: list[int]
    holdout: Iterable | None = None  # carved out of training for methods that need it


def carve_holdout(splits: Splits, fraction: float, seed: int) -> Splits:
    """Hold `fraction` of the training split out of training (seeded), e.g. for Gradient Blending."""
    train = splits.train
    n = len(train.split["label"])
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_held = max(1, int(round(fraction * n)))
    held, kept = order[:n_held].sort().values, order[n_held:].sort().values
    eval_batch = splits.train_eval.batch_size
    return dataclasses.replace(
        splits,
        train=train.subset(kept, train.batch_size, shuffle=True),
        train_eval=train.subset(kept, eval_batch),
        holdout=train.subset(held, eval_batch))


def load_splits(dataset: str, data_dir: str, modalities: Sequence[str], batch_size: int,
                eval_batch_size: int, seed: int) -> Splits:
    from greedy.data import cmnist  # imported here so `python -m greedy.data.cmnist` runs cleanly
    if dataset == "modelnet40":
        from greedy.data import modelnet40
        return Splits(**modelnet40.load_splits(data_dir, modalities, batch_size, eval_batch_size, seed))
    if dataset != "cmnist":
        raise ValueError(f"data set {dataset!r} is not in the pipeline yet; available: ['cmnist', 'modelnet40']")
    unknown = [m for m in modalities if m not in cmnist.MODALITY_CHANNELS]
    if unknown:
        raise ValueError(f"unknown cmnist modalities {unknown}; choose from {sorted(cmnist.MODALITY_CHANNELS)}")
    train = cmnist.load_split(data_dir, "train")
    test = cmnist.load_split(data_dir, "test")
    val_is_test = cmnist.read_manifest(data_dir)["validation_split"] == "test"
    val = test if val_is_test else cmnist.load_split(data_dir, "val")
    return Splits(
        train=cmnist.Batches(train, modalities, batch_size, shuffle=True, seed=seed),
        train_eval=cmnist.Batches(train, modalities, eval_batch_size),
        val=cmnist.Batches(val, modalities, eval_batch_size),
        test=cmnist.Batches(test, modalities, eval_batch_size),
        val_is_test=val_is_test,
        num_classes=cmnist.NUM_CLASSES,
        in_channels=[cmnist.MODALITY_CHANNELS[m] for m in modalities],
    )
