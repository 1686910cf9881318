"""ModelNet40's layout: the MVCNN render tree (`<class>/{train,test}/<object>.obj.shaded_vNNN.png`,
twelve views per object), where to download it, the expected object counts, the errors and the
message that says what to download and where to put it."""
from __future__ import annotations

import re
from pathlib import Path

from greedy.data import DataMissing

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


def is_tree(path: Path) -> bool:
    return path.is_dir() and any((c / "train").is_dir() for c in path.iterdir() if c.is_dir())


def missing_message(root, archive, url: str = URL) -> str:
    return (f"ModelNet40 renders not found: neither the extracted tree {root}/ nor the archive "
            f"{archive} exists. Download the MVCNN 12-view shaded renders (about 1.6 GB) from\n"
            f"  {url}\nand save the file as\n  {Path(archive).resolve()}\n"
            f"(or extract it so that {Path(root).resolve()}/<class>/{{train,test}}/"
            f"<object>.obj.shaded_vNNN.png exist), then run this step again.")

