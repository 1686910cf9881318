"""MNIST through torchvision, and the small real-MNIST subset shipped for offline smoke runs.

torchvision's MNIST knows the mirrors and md5 checksums of the four original files. With the
`.gz` files (or their extracted IDX files) already in `<root>/MNIST/raw/`, nothing is fetched.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from torchvision.datasets import MNIST

from greedy.data import DataMissing


class MNISTMissing(DataMissing, FileNotFoundError):
    """MNIST is not on disk and could not be downloaded."""


class MNISTCorrupt(DataMissing, ValueError):
    """An MNIST file on disk is damaged (a checksum mismatch, a truncated IDX file)."""


def _extracted(raw: Path) -> list[Path]:
    return [raw / Path(name).stem for name, _ in MNIST.resources]


def _check_archives(raw: Path) -> None:
    """Every original .gz file present must match torchvision's md5 (a truncated download fails here)."""
    from torchvision.datasets.utils import calculate_md5
    for name, md5 in MNIST.resources:
        path = raw / name
        if path.exists() and (actual := calculate_md5(str(path))) != md5:
            raise MNISTCorrupt(f"{path} is corrupt: md5 {actual}, expected {md5} (torchvision.datasets.MNIST."
                               f"resources). Delete it and fetch it again from {MNIST.mirrors[0]}.")


def _download(root: Path) -> None:
    """Download (md5-checked) into a temporary folder and move the files into place only when
    all arrived: a failed download, or a mistyped mnist_root offline, leaves no folder behind."""
    import shutil
    import tempfile
    raw = root / "MNIST" / "raw"
    with tempfile.TemporaryDirectory() as tmp:
        try:
            MNIST(tmp, train=True, download=True)
        except Exception as error:  # no network, bad checksum
            files = ", ".join(name for name, _ in MNIST.resources)
            raise MNISTMissing(
                f"MNIST is not in {raw} and could not be downloaded ({error}). Fetch {files} from "
                f"{MNIST.mirrors[0]} (md5s in torchvision.datasets.MNIST.resources) and put them in {raw}/, "
                "or set data.cmnist.mnist_root in params.yaml.") from error
        raw.mkdir(parents=True, exist_ok=True)
        for path in (Path(tmp) / "MNIST" / "raw").iterdir():
            shutil.move(str(path), raw / path.name)


def fetch_mnist(root: str | Path, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(images uint8 [N, 28, 28], labels int64 [N]); downloads and verifies when missing. The
    original .gz files are md5-checked; extracted IDX files (the shipped subset) are read as
    they are, and a damaged one is reported by name."""
    root = Path(root)
    raw = root / "MNIST" / "raw"
    _check_archives(raw)
    if not all(p.exists() for p in _extracted(raw)):
        if all((raw / name).exists() for name, _ in MNIST.resources):
            MNIST(str(root), train=train, download=True)  # extracts the verified archives, no network
        else:
            _download(root)
    try:
        dataset = MNIST(str(root), train=train, download=False)
    except Exception as error:  # a truncated or damaged IDX file
        raise MNISTCorrupt(f"the MNIST files in {raw} cannot be read ({type(error).__name__}: {error}); "
                           "one is damaged: delete the extracted files (or the folder) and fetch them again "
                           f"from {MNIST.mirrors[0]}.") from error
    return dataset.data.clone(), dataset.targets.clone()


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
