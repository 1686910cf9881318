"""Batches for training from a prepared NVGesture folder: a temporal window and one static crop
per clip."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch

from greedy import fileio
from greedy.data.batches import EpochBatches
from greedy.data.nvgesture.lists import MODALITIES, SPLITS

PAD_PIXEL = 0               # missing frames are black, as the reference reader's zeroed buffer


def read_manifest(data_dir) -> dict:
    path = Path(data_dir) / "manifest.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: prepare the NVGesture data first")
    return fileio.read_json(path)


def load_split(data_dir, split: str) -> dict[str, np.ndarray]:
    """{"rgb", "depth"} (memory-mapped uint8), "lengths", "labels" of a prepared split."""
    files = read_manifest(data_dir)["files"][split]
    data_dir = Path(data_dir)
    return {k: np.load(data_dir / f, mmap_mode="r" if k in MODALITIES else None) for k, f in files.items()}


def window(length: int, frames: int, random_start: int | None) -> tuple[int, int, int]:
    """(first stored frame, frames taken, offset in the output) of a clip of `length` frames:
    a clip at least `frames` long gives `frames` consecutive ones from `random_start` (training)
    or centred (evaluation, random_start None); a shorter one is centred in the output and padded
    on both sides (the extra frame, if odd, after)."""
    if length >= frames:
        start = (length - frames) // 2 if random_start is None else random_start
        return start, frames, 0
    return 0, length, (frames - length) // 2


class Batches(EpochBatches):
    """([one float tensor [B, C, T, crop, crop] per modality], labels) over a prepared split, read
    from the memory-mapped arrays batch by batch. Per clip: `frames` consecutive frames (a random
    start when training, centred otherwise; a shorter clip is centred between black frames), one
    crop x crop window at the same place in every frame and every modality (random place and a
    horizontal flip with probability 1/2 when training, shared by the modalities; the centre
    otherwise). Pixels are scaled to [-1, 1] (x / 127.5 - 1), the input range of the
    Kinetics-trained I3D weights; padding frames are black, i.e. -1. The order, windows, crops and
    flips of epoch e come from seed (seed, e), so a resumed run sees the same batches."""

    def __init__(self, arrays: Mapping[str, np.ndarray], lengths, labels, modalities: Sequence[str],
                 batch_size: int, frames: int = 64, crop: int = 224, shuffle: bool = False,
                 augment: bool = False, seed: int = 0, index=None):
        for m in modalities:
            if m not in arrays:
                raise ValueError(f"unknown nvgesture modality {m!r}; use {sorted(MODALITIES)}")
        self.arrays, self.modalities = dict(arrays), list(modalities)
        self.lengths, self.labels = np.asarray(lengths), np.asarray(labels)
        size = next(iter(self.arrays.values())).shape[-1]
        if not 0 < crop <= size:
            raise ValueError(f"crop {crop} must be in 1..{size} (the prepared frame size)")
        self.index = np.arange(len(self.labels)) if index is None else np.asarray(index)
        self.split = {"label": torch.as_tensor(self.labels[self.index])}
        self.batch_size, self.frames, self.crop, self.size = batch_size, frames, crop, size
        self.shuffle, self.augment, self.seed = shuffle, augment, seed
        self.epoch = 0

    def subset(self, index, batch_size: int, shuffle: bool = False) -> "Batches":
        """Batches over the samples `index` (positions in this one), e.g. a held-out part."""
        return Batches(self.arrays, self.lengths, self.labels, self.modalities, batch_size,
                       self.frames, self.crop, shuffle=shuffle, augment=self.augment and shuffle,
                       seed=self.seed, index=self.index[np.asarray(index)])

    def _draw(self, length: int, generator: torch.Generator) -> tuple:
        """(temporal start or None, top, left, flip) of one clip."""
        span = self.size - self.crop
        if not self.augment:
            return None, span // 2, span // 2, False
        draws = torch.randint(0, 1 << 30, (4,), generator=generator).tolist()
        start = draws[0] % (length - self.frames + 1) if length >= self.frames else None
        return start, draws[1] % (span + 1), draws[2] % (span + 1), bool(draws[3] % 2)

    def _views(self, batch: torch.Tensor, generator: torch.Generator) -> list[torch.Tensor]:
        """The clips at positions `batch`, cut and scaled; one `_draw` per clip, in batch order."""
        c = self.crop
        rows = self.index[batch.numpy()]
        # uint8 until the whole batch is cut: one conversion to float per batch and modality
        cut = {m: np.full((len(rows), self.arrays[m].shape[1], self.frames, c, c), PAD_PIXEL, np.uint8)
               for m in set(self.modalities)}
        for i, row in enumerate(rows):
            length = int(self.lengths[row])
            start, top, left, flip = self._draw(length, generator)
            t0, taken, offset = window(length, self.frames, start)
            for m, block in cut.items():
                x = self.arrays[m][row, :, t0:t0 + taken, top:top + c, left:left + c]
                block[i, :, offset:offset + taken] = x[..., ::-1] if flip else x
        # [0, 255] -> [-1, 1]: the input range of the Kinetics-trained I3D weights
        out = {m: torch.from_numpy(block).float().div_(127.5).sub_(1) for m, block in cut.items()}
        seen = set()  # a modality named twice (identical copies) gets its own tensor each time
        return [out[m] if m not in seen and not seen.add(m) else out[m].clone()
                for m in self.modalities]


def load_splits(data_dir, modalities: Sequence[str], batch_size: int, eval_batch_size: int, seed: int,
                frames: int | None = None, crop: int | None = None) -> dict:
    """The fields of greedy.data.Splits for a prepared NVGesture folder; `frames` and `crop`
    default to the values the manifest recorded from the data parameters (64 and 224)."""
    manifest = read_manifest(data_dir)
    frames = manifest["params"]["frames"] if frames is None else frames
    crop = manifest["params"]["crop"] if crop is None else crop
    unknown = [m for m in modalities if m not in MODALITIES]
    if unknown:
        raise ValueError(f"unknown nvgesture modalities {unknown}; use {sorted(MODALITIES)}")
    splits = {s: load_split(data_dir, s) for s in SPLITS}

    def batches(split, size, train=False):
        d = splits[split]
        return Batches({m: d[m] for m in MODALITIES}, d["lengths"], d["labels"], modalities, size,
                       frames, crop, shuffle=train, augment=train, seed=seed)
    return {"train": batches("train", batch_size, train=True),
            "train_eval": batches("train", eval_batch_size),
            "val": batches("val", eval_batch_size),
            "test": batches("test", eval_batch_size),
            "val_is_test": False, "num_classes": len(manifest["classes"]),
            "in_channels": [MODALITIES[m][1] for m in modalities]}
