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
at training time), int64 labels and a manifest. `make_fixture` writes a small tree in the same
layout for tests and the smoke run.

The package, one module per concept: layout.py (the render tree's layout, the URL, the expected
counts, the errors and the message when the renders are missing), source.py (download, extraction,
scanning and checking the tree, `prepare` and its manifest), loader.py (a prepared folder's splits
and `Batches`), fixture.py (`make_fixture`). This module is the data-set interface
(greedy/data/__init__.py) and names theirs as its own, e.g. `greedy.data.modelnet40.prepare`.
"""
from __future__ import annotations

from pathlib import Path

# The modules by concept; their names are this package's, as when it was one module, imported on
# first use (lazy_exports).
from greedy.data import FIXTURE_MARKER, lazy_exports  # noqa: F401

__getattr__ = lazy_exports(__name__, {
    "fixture": ("FIXTURE_CLASSES", "fixture_view", "make_fixture"),
    "layout": ("EXPECTED_COUNTS", "FILE_PATTERN", "SPLITS", "TREE_NAME", "URL", "VIEWS_PER_OBJECT", "ModelNet40Error",
               "ModelNet40Missing", "is_tree", "missing_message"),
    "loader": ("IMAGENET_MEAN", "IMAGENET_STD", "VIEW_ALIASES", "Batches", "load_split", "load_splits",
               "read_manifest", "view_position"),
    "source": ("check_object_counts", "counts", "default_expected", "download", "extract", "fetch", "prepare",
               "read_view", "scan", "validation_split"),
})


# ----------------------------------------------------------------------------------------------
# the data-set interface (greedy/data/__init__.py)

CODE = ()
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


def missing(data: dict) -> str | None:
    """The message when neither the render tree nor the archive is there (the data job does not
    download it); None for the fixture, which the data job writes."""
    from greedy.data.modelnet40.layout import is_tree, missing_message
    if data.get("source") == "fixture" or is_tree(Path(data["root"])) or Path(data["archive"]).exists():
        return None
    return missing_message(data["root"], data["archive"], data["url"])


def prepare_data(data: dict, out, download: bool = False) -> dict:
    """Find (or extract, or download) the renders and prepare them into `out`; with
    `source: fixture`, first write the fixture tree to `root` (the smoke run's data)."""
    from greedy.data import ensure_fixture
    from greedy.data.modelnet40.fixture import FIXTURE_CLASSES, make_fixture
    from greedy.data.modelnet40.source import fetch, prepare
    if data.get("source") == "fixture":
        fixture = {"train": 24, "test": 8, "size": 32, "seed": 0, **(data.get("fixture") or {})}
        wanted = (fixture["size"], fixture["seed"], {c: [fixture["train"], fixture["test"]] for c in FIXTURE_CLASSES})
        root = ensure_fixture(
            data["root"], lambda written: (written.get("size"), written.get("seed"), written.get("counts")) == wanted,
            lambda folder: make_fixture(folder, objects_per_class=(fixture["train"], fixture["test"]),
                                        size=fixture["size"], seed=fixture["seed"]))
    else:
        root = fetch(data["root"], data["archive"], data["url"], data["sha256"], download)
    return prepare(root, out, data["views"], data["validation_fraction"], data["seed"], data["size"])

