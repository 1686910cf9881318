"""ModelNet40's renders on disk: `fetch` finds the tree, or extracts the archive (checksum first),
or says what to download and where to put it; `scan` and the count checks read the tree;
`prepare` writes each split as uint8 arrays [N, V, 3, H, W], int64 labels and a manifest."""
from __future__ import annotations

import random
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
from PIL import Image

from greedy import fileio
from greedy.download import download_verified
from greedy.data import FIXTURE_MARKER
from greedy.data.modelnet40.layout import (EXPECTED_COUNTS, FILE_PATTERN, SPLITS, TREE_NAME, URL,
                                           VIEWS_PER_OBJECT, ModelNet40Error, ModelNet40Missing,
                                           is_tree, missing_message)


# ----------------------------------------------------------------------------------------------
# fetch: tree, else archive, else a message saying what to download and where to put it

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
        tree = next((c for c in candidates if is_tree(c)), None)
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
    if is_tree(root):
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
    if not is_tree(root):
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
