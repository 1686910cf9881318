"""Colored-and-gray-MNIST (Kim et al. 2019), two modalities of each digit.

m0 "mono": the digit painted in one colour on black; m1 "gray": the gray-scale digit.
Training colours are the class's mean colour plus Gaussian jitter of variance `color_variance`
(clipped to [0, 1]), so colour predicts the label; validation/test colours are the mean colour
of a class drawn uniformly at random, independent of the label, with the same jitter.
Each split is stored compactly (gray digits uint8, one RGB colour per digit, labels) in one
tensor file; images are rendered per batch, which costs next to nothing.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Iterator, Sequence

import torch

from greedy import io
from greedy.data.mnist import fetch_mnist

# One mean colour per class (RGB in [0, 1]), well separated.
CLASS_COLORS = torch.tensor([
    [1.0, 0.0, 0.0],   # 0 red
    [0.0, 1.0, 0.0],   # 1 green
    [0.0, 0.0, 1.0],   # 2 blue
    [1.0, 1.0, 0.0],   # 3 yellow
    [1.0, 0.0, 1.0],   # 4 magenta
    [0.0, 1.0, 1.0],   # 5 cyan
    [1.0, 0.5, 0.0],   # 6 orange
    [0.5, 0.0, 1.0],   # 7 violet
    [0.0, 0.5, 0.0],   # 8 dark green
    [0.6, 0.6, 0.6],   # 9 gray
])
MODALITY_CHANNELS = {"mono": 3, "gray": 1}
NUM_CLASSES = 10
SPLIT_FILES = {"train": "train.pt", "val": "val.pt", "test": "test.pt"}


def jittered_colors(classes: torch.Tensor, variance: float, generator: torch.Generator) -> torch.Tensor:
    noise = torch.randn(len(classes), 3, generator=generator) * variance ** 0.5
    return (CLASS_COLORS[classes] + noise).clamp(0.0, 1.0)


def build(mnist_root, out_dir, color_variance: float, validation: str = "test",
          holdout_fraction: float = 0.1, train_size: int | None = None,
          test_size: int | None = None, seed: int = 0) -> dict:
    """Write train.pt, test.pt (and val.pt for validation='holdout') and manifest.json."""
    if validation not in ("test", "holdout"):
        raise ValueError(f"data.cmnist.validation must be 'test' or 'holdout', got {validation!r}")
    out_dir = Path(out_dir)
    generator = torch.Generator().manual_seed(seed)
    train_images, train_labels = fetch_mnist(mnist_root, train=True)
    test_images, test_labels = fetch_mnist(mnist_root, train=False)

    order = torch.randperm(len(train_labels), generator=generator)
    if train_size is not None:
        order = order[:train_size]
    holdout = torch.empty(0, dtype=torch.long)
    if validation == "holdout":
        n_holdout = max(1, int(round(holdout_fraction * len(order))))
        holdout, order = order[:n_holdout], order[n_holdout:]
    test_order = torch.arange(len(test_labels))
    if test_size is not None:
        test_order = torch.randperm(len(test_labels), generator=generator)[:test_size].sort().values

    def split(images, labels, index, correlated: bool) -> dict:
        labels = labels[index]
        color_class = labels if correlated else torch.randint(0, NUM_CLASSES, (len(index),), generator=generator)
        return {"gray": images[index].contiguous(), "label": labels.contiguous(),
                "color": jittered_colors(color_class, color_variance, generator),
                "color_class": color_class.contiguous()}

    splits = {"train": split(train_images, train_labels, order.sort().values, correlated=True)}
    if validation == "holdout":
        splits["val"] = split(train_images, train_labels, holdout.sort().values, correlated=False)
    splits["test"] = split(test_images, test_labels, test_order, correlated=False)

    manifest = {
        "dataset": "cmnist",
        "parameters": {"color_variance": color_variance, "validation": validation,
                       "holdout_fraction": holdout_fraction, "train_size": train_size,
                       "test_size": test_size, "seed": seed, "mnist_root": str(mnist_root)},
        "validation_split": "val" if validation == "holdout" else "test",
        "counts": {name: len(s["label"]) for name, s in splits.items()},
        "files": {},
    }
    for name, tensors in splits.items():
        path = io.torch_save(out_dir / SPLIT_FILES[name], tensors)
        manifest["files"][name] = {"path": path.name, "sha256": io.sha256(path)}
    io.write_json(out_dir / "manifest.json", manifest)  # written last: its presence means done
    return manifest


def render(split: dict, modality: str, index: torch.Tensor | slice) -> torch.Tensor:
    """float images in [0, 1]: mono [B, 3, 28, 28] or gray [B, 1, 28, 28]."""
    gray = split["gray"][index].unsqueeze(1).float().div_(255.0)
    if modality == "gray":
        return gray
    if modality == "mono":
        return gray * split["color"][index][:, :, None, None]
    raise ValueError(f"unknown CMNIST modality {modality!r}; choose from {sorted(MODALITY_CHANNELS)}")


class Batches:
    """Iterates ([modality tensors], labels) over an in-memory split. With `shuffle`, epoch e
    uses the permutation drawn from seed (seed, e), so a resumed run sees the same order."""

    def __init__(self, split: dict, modalities: Sequence[str], batch_size: int,
                 shuffle: bool = False, seed: int = 0):
        self.split, self.modalities = split, list(modalities)
        self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed
        self.epoch = 0

    def __len__(self) -> int:
        return -(-len(self.split["label"]) // self.batch_size)

    def subset(self, index: torch.Tensor, batch_size: int, shuffle: bool = False) -> "Batches":
        """Batches over the samples `index` of this split."""
        part = {key: value[index] for key, value in self.split.items()}
        return Batches(part, self.modalities, batch_size, shuffle=shuffle, seed=self.seed)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[tuple[list[torch.Tensor], torch.Tensor]]:
        n = len(self.split["label"])
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
            order = torch.randperm(n, generator=generator)
        else:
            order = torch.arange(n)
        for start in range(0, n, self.batch_size):
            index = order[start:start + self.batch_size]
            yield [render(self.split, m, index) for m in self.modalities], self.split["label"][index]


def read_manifest(data_dir) -> dict:
    path = Path(data_dir) / "manifest.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: prepare the data first "
                                f"(greedy-prepare-cmnist or the Snakemake 'data' rule)")
    return io.read_json(path)


def load_split(data_dir, name: str) -> dict:
    """A split by name; 'val' resolves to the split the manifest names for validation."""
    if name == "val":
        name = read_manifest(data_dir)["validation_split"]
    else:
        read_manifest(data_dir)
    return torch.load(Path(data_dir) / SPLIT_FILES[name])


def prepare(params: dict) -> Path:
    """The prepared data folder of these parameters, built first if it is not there yet."""
    from greedy.config import cmnist_data_dir
    out = cmnist_data_dir(params)
    if not (out / "manifest.json").exists():
        cfg = dict(params["data"]["cmnist"])
        cfg.pop("out_dir")
        build(cfg.pop("mnist_root"), out, **cfg)
    return out


def main(argv=None) -> None:
    from greedy.config import cmnist_data_dir, load_params
    parser = argparse.ArgumentParser(description="Build Colored-and-gray-MNIST from params.yaml.")
    parser.add_argument("--params", nargs="+", default=["params.yaml"],
                        help="params.yaml and overlays, later files win")
    parser.add_argument("--data-json", help="the data.cmnist section as JSON (as Snakemake passes it)")
    parser.add_argument("--out", help="output folder (default: data.cmnist.out_dir/<params hash>)")
    args = parser.parse_args(argv)
    if args.data_json:
        cfg = json.loads(args.data_json)
        out = args.out or cmnist_data_dir({"data": {"cmnist": cfg}})
    else:
        params = load_params(args.params)
        cfg = dict(params["data"]["cmnist"])
        out = args.out or cmnist_data_dir(params)
    cfg = dict(cfg)
    cfg.pop("out_dir")
    manifest = build(cfg.pop("mnist_root"), out, **cfg)
    print(json.dumps({"out": str(out), "counts": manifest["counts"]}))


if __name__ == "__main__":
    main()
