"""Colored-and-gray-MNIST (Kim et al. 2019, "Learning Not to Learn", LNL), two modalities per digit.

m0 "mono": the digit painted in one colour on black; m1 "gray": MNIST's gray-scale digit.
Training colours predict the label; validation and test colours do not (how LNL coloured
them, and LNL's own file: colouring.py).

Each split is stored as uint8 arrays (gray [N, 28, 28], mono [N, 3, 28, 28], labels) in one
tensor file. Batches are normalised per modality as LNL and PMR do: CIFAR-10 statistics for the
colour image, MNIST's 0.1307/0.3081 for the gray one.

The package, one module per concept: colouring.py (the colours, LNL's file, `build`: the
prepared splits and their manifest), loader.py (a prepared folder's splits and `Batches`), with
MNIST itself in greedy/data/mnist.py. This module is the data-set interface
(greedy/data/__init__.py) and names theirs as its own, e.g. `greedy.data.cmnist.build`.
"""
from __future__ import annotations

import functools
import gzip
from pathlib import Path

from greedy.data import lazy_exports

__getattr__ = lazy_exports(__name__, {
    "colouring": ("FOREGROUND_THRESHOLD", "LNL_DOWNLOAD", "LNL_KEYS", "NUM_CLASSES", "PALETTES", "SPLIT_FILES",
                  "build", "colorize", "jittered_colors", "read_lnl_file"),
    "loader": ("MODALITY_CHANNELS", "NORMALISATION", "Batches", "load_split", "load_splits", "read_manifest",
               "render"),
})

# ----------------------------------------------------------------------------------------------
# the data-set interface (greedy/data/__init__.py)

CODE = ("data/mnist.py",)
# Images per split of real MNIST; validation is the test split (one pass serves both).
PAPER_SPLIT_SIZES = {"train": 60000, "val": 0, "test": 10000}


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


def identity(data: dict) -> dict:
    """The data.cmnist parameters that shape the prepared data, without paths: where MNIST and
    the output live does not matter, which MNIST (its digit counts) and which LNL file (its
    name, which carries the colour variance) do."""
    identity = {k: v for k, v in data.items() if k not in ("mnist_root", "out_dir")}
    identity["mnist_digits"] = mnist_digits(data["mnist_root"])
    if identity.get("lnl_file"):
        identity["lnl_file"] = Path(identity["lnl_file"]).name
    return identity


def missing(data: dict) -> None:
    """Never: torchvision downloads MNIST (md5-checked) when data.cmnist.mnist_root lacks it."""
    return None


def prepare_data(data: dict, out, download: bool = False) -> dict:
    """Colour MNIST (fetched by torchvision when missing) into `out`."""
    from greedy.data.cmnist.colouring import build
    cfg = {k: v for k, v in data.items() if k not in ("mnist_root", "out_dir")}
    return build(data["mnist_root"], out, **cfg)


def make_fixture(root, source_root="data/mnist", n_train: int = 3000, n_test: int = 1000) -> Path:
    """A real-MNIST subset (the first digits) in MNIST's own format: CMNIST's smoke data."""
    from greedy.data.mnist import make_subset
    return make_subset(source_root, root, n_train, n_test)
