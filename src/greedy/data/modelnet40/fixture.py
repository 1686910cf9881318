"""The ModelNet40 fixture: a small tree in the exact MVCNN layout (<class>/{train,test}/
<object>.obj.shaded_vNNN.png, twelve views per object) with a learnable, view-dependent signal, for
tests and the smoke run. greedy.data.modelnet40 names these as its own (make_fixture, ...)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from greedy import fileio
from greedy.data import FIXTURE_MARKER
from greedy.data.modelnet40.layout import VIEWS_PER_OBJECT

FIXTURE_CLASSES = ("airplane", "flower_pot", "night_stand", "range_hood")


def fixture_view(label: int, n_classes: int, view: int, size: int,
                 rng: np.random.Generator) -> np.ndarray:
    """uint8 [H, W, 3]: the class is the number of stripes (label + 1), horizontal in the front
    view (v001) and vertical in the rear (v007), views between blending the two, tinted by class;
    the stripes sit at a random offset, so position alone tells nothing.
    A corner block encodes the view number, so a wrong view is visible in the pixels."""
    image = np.zeros((size, size, 3), np.float32)
    stripes = label + 1
    period = size // (n_classes + 1)
    width = max(1, period // 2)
    offset = int(rng.integers(0, size - stripes * period + 1))
    rear = (1 - np.cos(2 * np.pi * view / VIEWS_PER_OBJECT)) / 2  # 0 at v001, 1 at v007
    hue = np.roll([1.0, 0.6, 0.3], label % 3)  # a class tint too: learnable in a few epochs
    for k in range(stripes):
        start = offset + k * period
        image[start:start + width, :, :] += (1 - rear) * 200 * hue
        image[:, start:start + width, :] += rear * 200 * hue
    image[:3, :view + 1, 0] = 255  # view marker in the red channel
    image += rng.normal(0, 12, image.shape)
    return image.clip(0, 255).astype(np.uint8)


def make_fixture(root, classes: Sequence[str] = FIXTURE_CLASSES,
                 objects_per_class: tuple[int, int] = (8, 4), size: int = 32, seed: int = 0) -> Path:
    """Write <root>/<class>/{train,test}/<class>_NNNN.obj.shaded_vNNN.png (12 views per object)
    and FIXTURE.json with the counts, so that `prepare` checks the fixture against its own counts."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    for label, c in enumerate(sorted(classes)):
        number = 0
        for split, n in zip(("train", "test"), objects_per_class):
            folder = root / c / split
            folder.mkdir(parents=True, exist_ok=True)
            for _ in range(n):
                number += 1  # numbered on from train into test, as the real archive
                for view in range(VIEWS_PER_OBJECT):
                    path = folder / f"{c}_{number:04d}.obj.shaded_v{view + 1:03d}.png"
                    Image.fromarray(fixture_view(label, len(classes), view, size, rng)).save(path)
    fileio.write_json(root / FIXTURE_MARKER, {"counts": {c: list(objects_per_class) for c in classes},
                                          "size": size, "seed": seed})
    return root
