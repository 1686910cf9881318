"""Data sets by name: the registry every stage reads instead of naming a data set.

A data set is one module `greedy/data/<name>.py`, or a package `greedy/data/<name>/` of modules by
concept (nvgesture), listed in DATASETS, that defines:

    CODE                 extra source files (relative to the package) whose edits change its data,
                         beyond its own module or package (code_files)
    identity(data)       the data.<name> parameters that shape the prepared data, without paths
    prepare_data(data, out, download=False) -> manifest   build the prepared folder `out`
    load_splits(data_dir, modalities, batch_size, eval_batch_size, seed) -> Splits fields
    make_fixture(root)   a small tree in the real on-disk format, for tests and the smoke run
                         (its own module: nvgesture/fixture.py, modelnet40/fixture.py, mnist.py)

A package imports its modules lazily (`lazy_exports`): Snakemake imports every data set's
interface while it parses the workflow, and torch alone takes seconds to import.
    PAPER_SPLIT_SIZES    samples per split of the real data (greedy cost's projection)
    MODEL_CODE           (optional) its architecture's own modules, e.g. ("i3d.py",): training
                         code of its runs, not of its data
    missing(data)        (optional) None, or the message when its raw data is not here and the
                         pipeline cannot fetch it (Snakemake then leaves the data set out)

Its batches (`load_splits`) subclass batches.EpochBatches: the epoch's order and generator are
shared. Adding a data set is its module, its architecture (models.py), its params.yaml blocks
(data, models, training, methods, studies, resources) and its artifacts; the rules, run ids and
the command line take it by name.
"""
from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Callable, Iterable, Sequence

from greedy.hashing import short_hash

DATASETS = ("cmnist", "modelnet40", "nvgesture")


class DataMissing(RuntimeError):
    """The raw data is not there and cannot be fetched here: the message says what to download
    and where to put it."""


def lazy_exports(package: str, exports: dict[str, Sequence[str]]) -> Callable[[str], object]:
    """A data-set package's module `__getattr__`: the names of its modules ({module: names}) are
    its own, imported on first use. Importing the package for its interface (`identity`, `CODE`,
    what Snakemake reads while it parses) then loads no torch, PyAV or PIL: seconds per
    Snakemake invocation, and per job on SLURM."""
    where = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str):
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{where[name]}"), name)

    return __getattr__


def dataset_module(name: str) -> ModuleType:
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; registered: {list(DATASETS)} (greedy/data/__init__.py)")
    return importlib.import_module(f"greedy.data.{name}")


SHARED_CODE = ("data/__init__.py", "data/batches.py")  # every data set's: the registry, EpochBatches


def module_files(name: str) -> list[str]:
    """The data set's module, or every module of its package (sorted), relative to the package."""
    module = dataset_module(name)
    if not hasattr(module, "__path__"):
        return [f"data/{name}.py"]
    folder = Path(module.__file__).parent
    return [f"data/{name}/{path.name}" for path in sorted(folder.glob("*.py"))]


def code_files(name: str) -> list[str]:
    """The data set's own source files, relative to the package: editing another data set's module
    retrains nothing here."""
    return [*SHARED_CODE, *module_files(name), *dataset_module(name).CODE]


def data_dir(params: dict, name: str) -> Path:
    """Prepared-data folder: data.<name>.out_dir/<hash of the data's identity>, so changed data
    parameters give a new folder and moving the raw files does not."""
    data = params["data"][name]
    return Path(data["out_dir"]) / short_hash(dataset_module(name).identity(data))


def missing_raw_data(params: dict, name: str, prepared_folders: Iterable[str | Path]) -> str | None:
    """Why the data set cannot run here, or None: its raw data is absent and the pipeline cannot
    fetch it (the data set's `missing(data)`: what to fetch, its size and where to put it), and
    its prepared folders are not all there either. Files are only looked at, nothing is read."""
    if all((Path(folder) / "manifest.json").exists() for folder in prepared_folders):
        return None
    missing = getattr(dataset_module(name), "missing", None)
    return missing(params["data"][name]) if missing else None


def prepare(params: dict, name: str, download: bool = False) -> Path:
    """The prepared folder of these parameters, built first when its manifest is not there."""
    out = data_dir(params, name)
    if not (out / "manifest.json").exists():
        dataset_module(name).prepare_data(params["data"][name], out, download=download)
    return out


FIXTURE_MARKER = "FIXTURE.json"  # a fixture tree's parameters, written last by make_fixture


def ensure_fixture(root, matches: Callable[[dict], bool], write: Callable[[Path], object]) -> Path:
    """The fixture tree at `root`, written once: `write(folder)` makes it (marker last) in a
    temporary folder beside root, which is then renamed into place. Data jobs that run at once
    (a data set's variants share one fixture) never see a half-written tree: the first rename
    wins and the others discard their copy. A tree whose marker does not `match` is replaced."""
    import json
    import os
    import shutil
    import tempfile
    root = Path(root)
    marker = root / FIXTURE_MARKER

    def current() -> dict | None:
        try:
            return json.loads(marker.read_text())
        except (OSError, ValueError):
            return None

    if current() is not None and matches(current()):
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{root.name}.", dir=root.parent))
    try:
        write(scratch)
        if root.exists() and not (current() is not None and matches(current())):
            shutil.rmtree(root, ignore_errors=True)  # another fixture: replace it, never mix the two
        try:
            os.rename(scratch, root)
        except OSError:  # another job's copy got there first
            pass
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if current() is None or not matches(current()):
        raise RuntimeError(f"{root}: the fixture could not be written (its {FIXTURE_MARKER} does not match)")
    return root


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
    import torch  # here, so that naming data folders (studies, Snakemake) does not load torch
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
    return Splits(**dataset_module(dataset).load_splits(data_dir, modalities, batch_size, eval_batch_size, seed))
