"""ModelNet40 as two (or more) views: the MVCNN 12-view shaded renders (Su et al. 2018).

The archive `shaded_images.tar.gz` unpacks to `modelnet40_images_new_12x/<class>/{train,test}/
<object>.obj.shaded_vNNN.png`, twelve 224x224 renders per object, 40 classes, 9,843 training and
2,468 test objects (the paper prints 9,483, a transposition). The official code
(nyukat/greedy_multimodal_learning, src/dataset.py) sorts each object's twelve files and picks
views by index: [0, 6] are v001 (front) and v007 (rear), 180 degrees apart. It reads them with
`Image.open(p).convert("RGB")`, does not resize, and holds 20 % of the training objects out for
validation with `random.Random(10).shuffle` over all training objects (not stratified by class).

`fetch` finds the tree, or extracts the archive (checksum first), or says what to download and where
to put it. `prepare` stores each split as uint8 arrays [N, V, 3, H, W] (`np.load(mmap_mode="r")`
at training time), int64 labels and a manifest. `make_fixture` (modelnet40_fixture.py, named here
too) writes a small tree in the same layout for tests and the smoke run.
"""
from __future__ import annotations

import random
import re
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch
from PIL import Image

from greedy import fileio
from greedy.download import download_verified
from greedy.data import FIXTURE_MARKER, DataMissing, ensure_fixture
from greedy.data.batches import EpochBatches

# Linked as "Shaded Images" from github.com/jongchyisu/mvcnn_pytorch README.md (the MVCNN authors'
# PyTorch code, "put it under modelnet40_images_new_12x"). No checksum is published.
URL = "http://supermoe.cs.umass.edu/shape_recog/shaded_images.tar.gz"
TREE_NAME = "modelnet40_images_new_12x"
VIEWS_PER_OBJECT = 12
SPLITS = ("train", "val", "test")
FILE_PATTERN = re.compile(r"^(?P<object>.+)\.obj\.shaded_v(?P<view>\d+)\.png$")

# Objects per class (train, test) of ModelNet40's standard split; they sum to 9,843 and 2,468.
# The same lists appear in public ModelNet40 loaders (e.g. `train_num_list`/`test_num_test`).
EXPECTED_COUNTS: dict[str, tuple[int, int]] = {
    "airplane": (626, 100), "bathtub": (106, 50), "bed": (515, 100), "bench": (173, 20),
    "bookshelf": (572, 100), "bottle": (335, 100), "bowl": (64, 20), "car": (197, 100),
    "chair": (889, 100), "cone": (167, 20), "cup": (79, 20), "curtain": (138, 20),
    "desk": (200, 86), "door": (109, 20), "dresser": (200, 86), "flower_pot": (149, 20),
    "glass_box": (171, 100), "guitar": (155, 100), "keyboard": (145, 20), "lamp": (124, 20),
    "laptop": (149, 20), "mantel": (284, 100), "monitor": (465, 100), "night_stand": (200, 86),
    "person": (88, 20), "piano": (231, 100), "plant": (240, 100), "radio": (104, 20),
    "range_hood": (115, 100), "sink": (128, 20), "sofa": (680, 100), "stairs": (124, 20),
    "stool": (90, 20), "table": (392, 100), "tent": (163, 20), "toilet": (344, 100),
    "tv_stand": (267, 100), "vase": (475, 100), "wardrobe": (87, 20), "xbox": (103, 20),
}
assert sum(c[0] for c in EXPECTED_COUNTS.values()) == 9843
assert sum(c[1] for c in EXPECTED_COUNTS.values()) == 2468


class ModelNet40Error(RuntimeError):
    """The renders are unusable as they are: wrong checksum, counts, views or file names."""


class ModelNet40Missing(ModelNet40Error, DataMissing):
    """Neither the extracted tree nor the archive is there (and nothing may be downloaded)."""


# ----------------------------------------------------------------------------------------------
# fetch: tree, else archive, else a message saying what to download and where to put it

def _is_tree(path: Path) -> bool:
    return path.is_dir() and any((c / "train").is_dir() for c in path.iterdir() if c.is_dir())


def missing_message(root, archive, url: str = URL) -> str:
    return (f"ModelNet40 renders not found: neither the extracted tree {root}/ nor the archive "
            f"{archive} exists. Download the MVCNN 12-view shaded renders (about 1.6 GB) from\n"
            f"  {url}\nand save the file as\n  {Path(archive).resolve()}\n"
            f"(or extract it so that {Path(root).resolve()}/<class>/{{train,test}}/"
            f"<object>.obj.shaded_vNNN.png exist), then run this step again.")


def download(url: str, archive) -> Path:
    """Download to a temporary name beside `archive`, then rename: no half-archive survives
    (fetch() checks its sha256 afterwards, or prints it when it is not yet known)."""
    return download_verified(url, archive, what="the ModelNet40 renders")


def extract(archive, root) -> Path:
    """Unpack beside `root`, find the class folders inside, and move them to `root` in one rename."""
    root = Path(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".modelnet40-extract-", dir=root.parent))
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(tmp, filter="data")  # refuses absolute paths, "..", devices, links out
        candidates = [tmp / TREE_NAME, tmp] + sorted(p for p in tmp.iterdir() if p.is_dir())
        tree = next((c for c in candidates if _is_tree(c)), None)
        if tree is None:
            raise ModelNet40Error(f"{archive} holds no <class>/train/ folders; is it the MVCNN "
                                  f"shaded-render archive ({URL})?")
        if root.is_dir() and not any(root.iterdir()):
            root.rmdir()
        tree.replace(root)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return root


def fetch(root, archive, url: str = URL, sha256: str | None = None,
          download_missing: bool = False) -> Path:
    """The extracted tree at `root`; extracts `archive` (checksum verified) when the tree is absent."""
    root, archive = Path(root), Path(archive)
    if _is_tree(root):
        return root
    if not archive.exists():
        if not download_missing:
            raise ModelNet40Missing(missing_message(root, archive, url))
        try:
            download(url, archive)
        except (OSError, RuntimeError) as error:
            raise ModelNet40Missing(f"download failed ({error}).\n"
                                    + missing_message(root, archive, url)) from error
    found = fileio.sha256(archive)
    if sha256 is None:
        print(f"sha256 of {archive}: {found}\n(not yet known: record it as data.modelnet40.sha256 "
              f"in params.yaml so that later runs verify the archive)")
    elif found != sha256.lower():
        raise ModelNet40Error(f"{archive} has sha256 {found}, but data.modelnet40.sha256 expects "
                              f"{sha256}: the file is damaged or another archive; download it again "
                              f"from {url}")
    return extract(archive, root)


# ----------------------------------------------------------------------------------------------
# scan and check: {class: {split: {object: [12 sorted paths]}}}

def scan(root) -> dict[str, dict[str, dict[str, list[Path]]]]:
    """Every object's view files, sorted; refuses unknown PNG names and objects without 12 views."""
    root = Path(root)
    if not _is_tree(root):
        raise ModelNet40Missing(f"{root} is not a ModelNet40 render tree (<class>/train/ missing)")
    tree: dict = {}
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        tree[class_dir.name] = {}
        for split in ("train", "test"):
            objects: dict[str, list[Path]] = {}
            folder = class_dir / split
            files = sorted(folder.iterdir()) if folder.is_dir() else []
            for path in files:
                if path.name.startswith(".") or path.suffix != ".png":
                    continue  # e.g. macOS "._" resource forks in tar archives
                match = FILE_PATTERN.match(path.name)
                if match is None:
                    raise ModelNet40Error(f"{path}: not an MVCNN render name "
                                          f"(<object>.obj.shaded_vNNN.png)")
                objects.setdefault(match["object"], []).append(path)
            for name, paths in objects.items():
                if len(paths) != VIEWS_PER_OBJECT:
                    raise ModelNet40Error(f"object {name} ({class_dir.name}/{split}) has "
                                          f"{len(paths)} views, expected {VIEWS_PER_OBJECT}")
            tree[class_dir.name][split] = {name: sorted(objects[name]) for name in sorted(objects)}
    return tree


def counts(tree) -> dict[str, tuple[int, int]]:
    return {c: (len(s["train"]), len(s["test"])) for c, s in tree.items()}


def check_object_counts(found: Mapping[str, Sequence[int]],
                        expected: Mapping[str, Sequence[int]] = EXPECTED_COUNTS) -> None:
    """Refuse a tree whose objects per class and split differ from `expected`, naming each difference."""
    problems = [f"class {c}: missing" for c in sorted(set(expected) - set(found))]
    problems += [f"class {c}: not expected" for c in sorted(set(found) - set(expected))]
    for c in sorted(set(found) & set(expected)):
        for split, want, have in zip(("train", "test"), expected[c], found[c]):
            if want != have:
                problems.append(f"{c}/{split}: expected {want} objects, found {have}")
    if problems:
        totals = [sum(n[i] for n in found.values()) for i in (0, 1)]
        want = [sum(n[i] for n in expected.values()) for i in (0, 1)]
        raise ModelNet40Error(
            f"object counts differ from the expected ({len(expected)} classes, {want[0]} train / "
            f"{want[1]} test; found {len(found)} classes, {totals[0]} / {totals[1]}):\n  "
            + "\n  ".join(problems))


def default_expected(root) -> dict[str, tuple[int, int]]:
    """The real archive's counts, unless the tree is a fixture that declares its own."""
    marker = Path(root) / FIXTURE_MARKER
    if marker.exists():
        return {c: tuple(n) for c, n in fileio.read_json(marker)["counts"].items()}
    return EXPECTED_COUNTS


# ----------------------------------------------------------------------------------------------
# prepare: uint8 arrays [N, V, 3, H, W] per split, labels, manifest

def validation_split(n: int, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """(train, val) indices into the training objects, as the official code: a seeded shuffle of
    all of them (not stratified), the first floor(fraction * n) validate. seed 10 is its split."""
    order = list(range(n))
    random.Random(seed).shuffle(order)
    n_val = int(np.floor(fraction * n))
    return sorted(order[n_val:]), sorted(order[:n_val])


def read_view(path, size: int | None = None) -> np.ndarray:
    """One render as uint8 [3, H, W], read like the official code."""
    image = Image.open(path).convert("RGB")
    if size is not None and image.size != (size, size):
        image = image.resize((size, size), Image.BILINEAR)
    return np.asarray(image).transpose(2, 0, 1)


def _save(path, array) -> None:
    with open(path, "wb") as f:  # a file object: np.save would append ".npy" to a name
        np.save(f, array)


def prepare(root, out_dir, views: Sequence[int] = (0, 6), validation_fraction: float = 0.2,
            seed: int = 10, size: int | None = None,
            expected_counts: Mapping[str, Sequence[int]] | None = None,
            check_counts: bool = True) -> dict:
    """Write {train,val,test}_{images,labels}.npy and manifest.json to `out_dir`; return the manifest.

    expected_counts: None = the fixture's declared counts or else the real archive's."""
    root, out = Path(root), Path(out_dir)
    views = [int(v) for v in views]
    if not views or any(not 0 <= v < VIEWS_PER_OBJECT for v in views) or len(set(views)) != len(views):
        raise ValueError(f"views must be distinct indices in 0..{VIEWS_PER_OBJECT - 1}, got {views}")
    tree = scan(root)
    if check_counts:
        check_object_counts(counts(tree), expected_counts or default_expected(root))
    classes = sorted(tree)
    objects = {"test": [], "train": []}  # (class index, object name, view paths)
    for label, c in enumerate(classes):
        for split in objects:
            objects[split] += [(label, name, paths) for name, paths in tree[c][split].items()]
    keep, held = validation_split(len(objects["train"]), validation_fraction, seed)
    objects["train"], objects["val"] = ([objects["train"][i] for i in keep],
                                        [objects["train"][i] for i in held])
    first = next((o for split in SPLITS for o in objects[split]), None)
    if first is None:
        raise ModelNet40Error(f"{root} holds no objects")
    shape = read_view(first[2][views[0]], size).shape

    out.mkdir(parents=True, exist_ok=True)
    (out / "manifest.json").unlink(missing_ok=True)  # stale until every array below is rewritten
    files = {}
    for split in SPLITS:
        items = objects[split]

        def fill(tmp, items=items):
            array = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8,
                                              shape=(len(items), len(views), *shape))
            for i, (_, _, paths) in enumerate(items):
                for j, v in enumerate(views):
                    image = read_view(paths[v], size)
                    if image.shape != shape:
                        raise ModelNet40Error(f"{paths[v]}: size {image.shape[1:]}, expected "
                                              f"{shape[1:]} like {first[2][views[0]]}")
                    array[i, j] = image
            array.flush()
            del array

        labels = np.array([label for label, _, _ in items], dtype=np.int64)
        files[split] = {"images": f"{split}_images.npy", "labels": f"{split}_labels.npy"}
        # a temporary name in `out`, then one rename: a killed job leaves no half-file
        fileio.atomic_write(out / files[split]["images"], fill)
        fileio.atomic_write(out / files[split]["labels"], lambda tmp, a=labels: _save(tmp, a))

    manifest = {
        "dataset": "modelnet40",
        "source": str(root),
        "classes": classes,
        "views": views,
        "view_files": [FILE_PATTERN.match(first[2][v].name)["view"] for v in views],
        "layout": "images [N, V, 3, H, W] uint8 (RGB), labels [N] int64",
        "image_size": list(shape[1:]),
        "counts": {split: {c: sum(1 for o in objects[split] if o[0] == k)
                           for k, c in enumerate(classes)} for split in SPLITS},
        "totals": {split: len(objects[split]) for split in SPLITS},
        "files": files,
        "sha256": {f: fileio.sha256(out / f) for split in SPLITS for f in files[split].values()},
        "objects": {split: [f"{classes[o[0]]}/{o[1]}" for o in objects[split]] for split in SPLITS},
        "params": {"views": views, "validation_fraction": validation_fraction, "seed": seed,
                   "size": size, "check_counts": check_counts,
                   "validation": "seeded shuffle of all training objects, not stratified"},
    }
    fileio.write_json(out / "manifest.json", manifest)  # written last: its presence means complete
    return manifest


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


# ----------------------------------------------------------------------------------------------
# the data-set interface (greedy/data/__init__.py)

CODE = ("data/modelnet40_fixture.py",)  # its fixture writer: the smoke run's data
PATHS = ("url", "archive", "root", "out_dir")  # where things are, not what the data is
# Objects per split of the real archive with the default 20 % validation (for cost projections).
PAPER_SPLIT_SIZES = {"train": 9843 - 1968, "val": 1968, "test": 2468}


def identity(data: dict) -> dict:
    """The data.modelnet40 parameters that shape the prepared arrays, without paths: the views,
    the validation split, the size and the source (the real archive, by checksum, or a fixture)."""
    identity = {k: v for k, v in data.items() if k not in PATHS}
    if data.get("source") != "fixture":
        identity.pop("fixture", None)
    return identity


def prepare_data(data: dict, out, download: bool = False) -> dict:
    """Find (or extract, or download) the renders and prepare them into `out`; with
    `source: fixture`, first write the fixture tree to `root` (the smoke run's data)."""
    if data.get("source") == "fixture":
        from greedy.data.modelnet40_fixture import FIXTURE_CLASSES, make_fixture
        fixture = {"train": 24, "test": 8, "size": 32, "seed": 0, **(data.get("fixture") or {})}
        wanted = (fixture["size"], fixture["seed"], {c: [fixture["train"], fixture["test"]] for c in FIXTURE_CLASSES})
        root = ensure_fixture(
            data["root"], lambda written: (written.get("size"), written.get("seed"), written.get("counts")) == wanted,
            lambda folder: make_fixture(folder, objects_per_class=(fixture["train"], fixture["test"]),
                                        size=fixture["size"], seed=fixture["seed"]))
    else:
        root = fetch(data["root"], data["archive"], data["url"], data["sha256"], download)
    return prepare(root, out, data["views"], data["validation_fraction"], data["seed"], data["size"])


_FIXTURE_NAMES = ("FIXTURE_CLASSES", "fixture_view", "make_fixture")


def __getattr__(name: str):
    """The fixture writer's names (make_fixture, FIXTURE_CLASSES, fixture_view) live in
    modelnet40_fixture.py, which imports this module's layout: found there on first use."""
    if name in _FIXTURE_NAMES:
        from greedy.data import modelnet40_fixture
        return getattr(modelnet40_fixture, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
