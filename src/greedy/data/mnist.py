"""MNIST through torchvision, and the small real-MNIST subset shipped for offline smoke runs.

torchvision's MNIST knows the mirrors and md5 checksums of the four original files. With the
`.gz` files (or their extracted IDX files) already in `<root>/MNIST/raw/`, nothing is fetched.
"""
from __future__ import annotations

import argparse
import functools
import gzip
from pathlib import Path

import numpy as np
import torch
from torchvision.datasets import MNIST

from greedy.data import DataMissing


class MNISTMissing(DataMissing, FileNotFoundError):
    """MNIST is not on disk and could not be downloaded."""


def fetch_mnist(root: str | Path, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(images uint8 [N, 28, 28], labels int64 [N]); downloads and verifies when missing."""
    root = Path(root)
    try:
        dataset = MNIST(str(root), train=train, download=True)
    except Exception as error:  # no network, bad checksum, unreadable file
        files = ", ".join(name for name, _ in MNIST.resources)
        raise MNISTMissing(
            f"MNIST is not in {root / 'MNIST' / 'raw'} and could not be downloaded ({error}). "
            f"Fetch {files} from {MNIST.mirrors[0]} (md5s in torchvision.datasets.MNIST.resources) "
            f"and put them in {root / 'MNIST' / 'raw'}/, or set data.cmnist.mnist_root in params.yaml."
        ) from error
    return dataset.data.clone(), dataset.targets.clone()


@functools.lru_cache(maxsize=None)
def _mnist_digits(root: str) -> tuple[tuple[str, int], ...]:
    counts = {"train": 60000, "test": 10000}
    raw = Path(root) / "MNIST" / "raw"
    for split, prefix in (("train", "train"), ("test", "t10k")):
        for name, opener in ((f"{prefix}-labels-idx1-ubyte", open), (f"{prefix}-labels-idx1-ubyte.gz", gzip.open)):
            if (raw / name).exists():
                with opener(raw / name, "rb") as f:
                    counts[split] = int.from_bytes(f.read(8)[4:8], "big")
                break
    return tuple(counts.items())


def mnist_digits(root: str | Path) -> dict:
    """How many training and test digits the MNIST files under `root` hold (read from the IDX
    headers): what identifies the source in hashes, instead of its path. Missing files are the
    standard 60,000 / 10,000 that torchvision downloads."""
    return dict(_mnist_digits(str(Path(root).resolve())))


def _write_idx(path: Path, array: np.ndarray) -> None:
    """IDX format (LeCun): 0x0000, dtype code 0x08 (ubyte), ndim, big-endian dims, data."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def make_subset(source_root: str | Path, dest_root: str | Path, n_train: int, n_test: int) -> Path:
    """Cut the first n_train / n_test digits of the real MNIST into extracted IDX files under
    `<dest_root>/MNIST/raw/`, which torchvision's loader reads as already downloaded."""
    raw = Path(dest_root) / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for train, prefix, n in ((True, "train", n_train), (False, "t10k", n_test)):
        images, labels = fetch_mnist(source_root, train)
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", images[:n].numpy())
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels[:n].numpy())
    return raw


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Cut a small real-MNIST subset in IDX format.")
    parser.add_argument("--source", default="../shared/data", help="root holding MNIST/raw/*.gz")
    parser.add_argument("--dest", default="data/mnist-subset")
    parser.add_argument("--train", type=int, default=3000)
    parser.add_argument("--test", type=int, default=1000)
    args = parser.parse_args(argv)
    print(make_subset(args.source, args.dest, args.train, args.test))


if __name__ == "__main__":
    main()
