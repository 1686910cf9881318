"""What the data sets' batch iterators share: the length, the epoch and the order of the samples.

Each data set's `Batches` (cmnist, modelnet40, nvgesture) subclasses `EpochBatches` and says how a
batch of samples becomes its modalities' tensors (`_views`); where the samples live (in memory,
memory-mapped arrays) and how they are cut, normalised and augmented stays its own.
"""
from __future__ import annotations

from typing import Iterator

import torch


class EpochBatches:
    """([one tensor per modality], labels) over a split, `batch_size` samples at a time (the last
    batch may be smaller). Without `shuffle` the samples come in split order; with it, epoch e uses
    the permutation drawn from seed (seed, e), so a resumed run sees the same order. The same
    generator, after the permutation, is handed to `_views` batch by batch for the augmentations
    (random crops, flips) of the data sets that have any.

    A subclass sets `split["label"]` (the labels of its samples, a tensor), `batch_size`, `shuffle`,
    `seed` and `epoch` (0), and defines `_views(batch, generator)`: the modalities' tensors of the
    samples `batch` (positions in this split, a tensor), and `subset`."""

    split: dict
    batch_size: int
    shuffle: bool
    seed: int
    epoch: int

    def __len__(self) -> int:
        return -(-len(self.split["label"]) // self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _views(self, batch: torch.Tensor, generator: torch.Generator) -> list[torch.Tensor]:
        raise NotImplementedError

    def __iter__(self) -> Iterator[tuple[list[torch.Tensor], torch.Tensor]]:
        n = len(self.split["label"])
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        order = torch.randperm(n, generator=generator) if self.shuffle else torch.arange(n)
        for first in range(0, n, self.batch_size):
            batch = order[first:first + self.batch_size]
            yield self._views(batch, generator), self.split["label"][batch]
