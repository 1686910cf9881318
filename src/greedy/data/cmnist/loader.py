"""A prepared CMNIST folder's splits, and its `Batches`: normalised per modality as LNL and PMR
do (CIFAR-10 statistics for the colour image, MNIST's 0.1307/0.3081 for the gray one)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch

from greedy import fileio
from greedy.data.batches import EpochBatches
from greedy.data.cmnist.colouring import NUM_CLASSES, SPLIT_FILES

MODALITY_CHANNELS = {"mono": 3, "gray": 1}
# Per-modality normalisation (mean, std) as LNL (colour, CIFAR-10 statistics) and PMR (gray).
NORMALISATION = {"mono": ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)),
                 "gray": ((0.1307,), (0.3081,))}


def render(split: dict, modality: str, index: torch.Tensor | slice) -> torch.Tensor:
    """Normalised float images: mono [B, 3, 28, 28] or gray [B, 1, 28, 28]."""
    if modality == "gray":
        images = split["gray"][index].unsqueeze(1)
    elif modality == "mono":
        images = split["mono"][index]
    else:
        raise ValueError(f"unknown CMNIST modality {modality!r}; choose from {sorted(MODALITY_CHANNELS)}")
    mean, std = (torch.tensor(v).view(1, -1, 1, 1) for v in NORMALISATION[modality])
    return (images.float().div_(255.0) - mean) / std


class Batches(EpochBatches):
    """Iterates ([modality tensors], labels) over an in-memory split. With `shuffle`, epoch e
    uses the permutation drawn from seed (seed, e), so a resumed run sees the same order."""

    def __init__(self, split: dict, modalities: Sequence[str], batch_size: int,
                 shuffle: bool = False, seed: int = 0):
        self.split, self.modalities = split, list(modalities)
        self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed
        self.epoch = 0

    def subset(self, index: torch.Tensor, batch_size: int, shuffle: bool = False) -> "Batches":
        """Batches over the samples `index` of this split."""
        part = {key: value[index] for key, value in self.split.items()}
        return Batches(part, self.modalities, batch_size, shuffle=shuffle, seed=self.seed)

    def _views(self, batch: torch.Tensor, generator: torch.Generator) -> list[torch.Tensor]:
        return [render(self.split, m, batch) for m in self.modalities]


def read_manifest(data_dir) -> dict:
    path = Path(data_dir) / "manifest.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: prepare the data first "
                                f"(`greedy prepare` or the Snakemake rule data)")
    return fileio.read_json(path)


def load_split(data_dir, name: str) -> dict:
    """A split by name; 'val' resolves to the split the manifest names for validation."""
    if name == "val":
        name = read_manifest(data_dir)["validation_split"]
    else:
        read_manifest(data_dir)
    return torch.load(Path(data_dir) / SPLIT_FILES[name])




def load_splits(data_dir, modalities: Sequence[str], batch_size: int, eval_batch_size: int, seed: int) -> dict:
    """The fields of greedy.data.Splits for a prepared CMNIST folder."""
    unknown = [m for m in modalities if m not in MODALITY_CHANNELS]
    if unknown:
        raise ValueError(f"unknown cmnist modalities {unknown}; choose from {sorted(MODALITY_CHANNELS)}")
    train, test = load_split(data_dir, "train"), load_split(data_dir, "test")
    val_is_test = read_manifest(data_dir)["validation_split"] == "test"
    val = test if val_is_test else load_split(data_dir, "val")
    return {"train": Batches(train, modalities, batch_size, shuffle=True, seed=seed),
            "train_eval": Batches(train, modalities, eval_batch_size),
            "val": Batches(val, modalities, eval_batch_size),
            "test": Batches(test, modalities, eval_batch_size),
            "val_is_test": val_is_test, "num_classes": NUM_CLASSES,
            "in_channels": [MODALITY_CHANNELS[m] for m in modalities]}
