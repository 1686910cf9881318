"""Batches for training from a prepared ModelNet40 folder: one modality per prepared view."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from greedy import fileio
from greedy.data.batches import EpochBatches
from greedy.data.modelnet40.layout import SPLITS


def read_manifest(data_dir) -> dict:
    path = Path(data_dir) / "manifest.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: prepare the ModelNet40 data first")
    return fileio.read_json(path)


def load_split(data_dir, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(images [N, V, 3, H, W] uint8, memory-mapped; labels [N] int64) of a prepared split."""
    files = read_manifest(data_dir)["files"][split]
    return (np.load(Path(data_dir) / files["images"], mmap_mode="r"),
            np.load(Path(data_dir) / files["labels"]))


# ----------------------------------------------------------------------------------------------
# batches for training: one modality per prepared view

# ImageNet statistics, as the official code's torchvision transforms use them.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
VIEW_ALIASES = {"front": 0, "rear": 1}  # of the default views [0, 6]; any view is also "view<k>"


def view_position(modality: str, n_views: int) -> int:
    """The position of a modality among the prepared views: front, rear or view<k>."""
    position = VIEW_ALIASES.get(modality)
    if position is None and re.fullmatch(r"view\d+", modality):
        position = int(modality[4:])
    if position is None or position >= n_views:
        raise ValueError(f"unknown modelnet40 modality {modality!r}: the data holds {n_views} views; "
                         f"use front, rear or view0..view{n_views - 1}")
    return position


class Batches(EpochBatches):
    """([view tensors], labels) over a prepared split, read from the memory-mapped array batch by
    batch. Training (`flip`) flips each view of each object horizontally with probability 1/2,
    independently, as the official per-image transforms do; the order and the flips of epoch e
    come from seed (seed, e), so a resumed run sees the same batches."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, positions: Sequence[int], batch_size: int,
                 shuffle: bool = False, flip: bool = False, seed: int = 0, index=None):
        self.images, self.labels, self.positions = images, np.asarray(labels), list(positions)
        self.index = np.arange(len(self.labels)) if index is None else np.asarray(index)
        self.split = {"label": torch.as_tensor(self.labels[self.index])}
        self.batch_size, self.shuffle, self.flip, self.seed = batch_size, shuffle, flip, seed
        self.epoch = 0
        self.mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        self.std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)

    def subset(self, index, batch_size: int, shuffle: bool = False) -> "Batches":
        """Batches over the samples `index` (positions in this one), e.g. a held-out part."""
        return Batches(self.images, self.labels, self.positions, batch_size, shuffle=shuffle,
                       flip=self.flip and shuffle, seed=self.seed, index=self.index[np.asarray(index)])

    def _views(self, batch: torch.Tensor, generator: torch.Generator) -> list[torch.Tensor]:
        """The objects at positions `batch`, one normalised tensor per view; flips drawn per view."""
        rows = self.index[batch.numpy()]
        sorted_rows = np.sort(rows)  # memory-mapped reads in file order, then back to batch order
        block = torch.from_numpy(np.ascontiguousarray(self.images[sorted_rows]))
        block = block[torch.as_tensor(np.searchsorted(sorted_rows, rows))]
        views = []
        for position in self.positions:
            x = block[:, position].float().div_(255)
            if self.flip:
                flipped = torch.rand(len(x), generator=generator) < 0.5
                x[flipped] = x[flipped].flip(-1)
            views.append((x - self.mean) / self.std)
        return views


def load_splits(data_dir, modalities: Sequence[str], batch_size: int, eval_batch_size: int, seed: int) -> dict:
    """The fields of greedy.data.Splits for a prepared ModelNet40 folder."""
    manifest = read_manifest(data_dir)
    positions = [view_position(m, len(manifest["views"])) for m in modalities]
    train, val, test = (load_split(data_dir, split) for split in SPLITS)
    return {"train": Batches(*train, positions, batch_size, shuffle=True, flip=True, seed=seed),
            "train_eval": Batches(*train, positions, eval_batch_size),
            "val": Batches(*val, positions, eval_batch_size),
            "test": Batches(*test, positions, eval_batch_size),
            "val_is_test": False, "num_classes": len(manifest["classes"]),
            "in_channels": [3] * len(modalities)}

