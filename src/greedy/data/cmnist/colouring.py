"""Colouring MNIST as LNL did, and writing the prepared splits (`build`).

As LNL built it (REFERENCE section 3), palette "lnl": pixels whose gray value is above 128 get
one flat RGB colour per image and the background is exactly 0. Training colours are the class's
mean colour plus Gaussian jitter of *variance* `color_variance`, drawn once per image (clipped to
[0, 1]), so colour predicts the label; validation/test colours are the mean colour of a class
drawn uniformly at random, independent of the label, with the same jitter. Palette "primary"
(this pipeline's first colouring) uses saturated primaries that scale the gray intensity.
`source: lnl_file` reads LNL's own `mnist_10color_jitter_var_<v>.npy` instead of colouring here.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from greedy import fileio
from greedy.data.mnist import fetch_mnist

# LNL's ten mean colours (0-255), estimated from their published examples (REFERENCE section 3).
PALETTES = {
    "lnl": torch.tensor([
        [210, 25, 43],    # 0 red
        [19, 142, 118],   # 1 teal
        [222, 227, 45],   # 2 yellow
        [31, 90, 214],    # 3 blue
        [234, 110, 42],   # 4 orange
        [142, 24, 196],   # 5 purple
        [83, 206, 214],   # 6 cyan
        [217, 167, 198],  # 7 pink
        [150, 222, 95],   # 8 lime
        [116, 36, 43],    # 9 maroon
    ], dtype=torch.float32) / 255.0,
    "primary": torch.tensor([
        [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 1.0, 0.0], [1.0, 0.0, 1.0],
        [0.0, 1.0, 1.0], [1.0, 0.5, 0.0], [0.5, 0.0, 1.0], [0.0, 0.5, 0.0], [0.6, 0.6, 0.6],
    ]),
}
FOREGROUND_THRESHOLD = 128  # LNL: pixels brighter than this are the digit
NUM_CLASSES = 10
SPLIT_FILES = {"train": "train.pt", "val": "val.pt", "test": "test.pt"}
# Linked from github.com/feidfoe/learning-not-to-learn, dataset/colored_mnist/README.md (a Google
# Drive file; no checksum is published, so the file's keys and shapes are checked instead).
LNL_DOWNLOAD = "https://drive.google.com/file/d/1NSv4RCSHjcHois3dXjYw_PaLIoVlLgXu/view?usp=sharing"
LNL_KEYS = ("train_image", "train_label", "test_image", "test_label")


def jittered_colors(classes: torch.Tensor, variance: float, generator: torch.Generator,
                    palette: str = "lnl") -> torch.Tensor:
    """One colour per image: the class's mean colour plus N(0, variance) per channel, in [0, 1]."""
    if palette not in PALETTES:
        raise ValueError(f"data.cmnist.palette: unknown palette {palette!r}; choose from {sorted(PALETTES)}")
    noise = torch.randn(len(classes), 3, generator=generator) * variance ** 0.5
    return (PALETTES[palette][classes] + noise).clamp(0.0, 1.0)


def colorize(gray: torch.Tensor, colors: torch.Tensor, palette: str = "lnl") -> torch.Tensor:
    """uint8 colour images [N, 3, 28, 28] from gray digits [N, 28, 28] and colours [N, 3]."""
    if palette == "lnl":  # one flat colour on the foreground, background exactly 0
        intensity = (gray > FOREGROUND_THRESHOLD).float()
    else:                 # the colour scales the gray intensity
        intensity = gray.float() / 255.0
    image = intensity[:, None] * colors[:, :, None, None] * 255.0
    return image.round().clamp(0, 255).to(torch.uint8)


def read_lnl_file(path, n_train: int = 60000, n_test: int = 10000) -> dict:
    """LNL's pickled dict (np.load(..., encoding='latin1').item()), checked for keys and shapes
    (images [N, 28, 28, 3] uint8 and labels [N] for MNIST's N training and test digits)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"data.cmnist.lnl_file: {path} does not exist. Download LNL's "
                                f"mnist_10color_jitter_var_<variance>.npy from {LNL_DOWNLOAD} and put it there.")
    try:
        data = np.load(path, encoding="latin1", allow_pickle=True)
        data = data.item() if isinstance(data, np.ndarray) else dict(data)
    except Exception as error:
        raise ValueError(f"{path}: not a readable LNL .npy dict ({error})") from error
    missing = [k for k in LNL_KEYS if k not in data]
    if missing:
        raise ValueError(f"{path}: missing key(s) {missing}; an LNL file has {list(LNL_KEYS)}")
    shapes = {"train_image": (n_train, 28, 28, 3), "train_label": (n_train,),
              "test_image": (n_test, 28, 28, 3), "test_label": (n_test,)}
    for key, shape in shapes.items():
        got = tuple(np.asarray(data[key]).shape)
        if got != shape:
            raise ValueError(f"{path}: {key} has shape {got}, expected {shape}")
    return data


def _nearest_palette_class(colors: torch.Tensor, palette: str = "lnl") -> torch.Tensor:
    return torch.cdist(colors, PALETTES[palette]).argmin(1)


def build(mnist_root, out_dir, color_variance: float, validation: str = "test",
          holdout_fraction: float = 0.1, train_size: int | None = None,
          test_size: int | None = None, seed: int = 0, palette: str = "lnl",
          source: str = "generate", lnl_file: str | None = None) -> dict:
    """Write train.pt, test.pt (and val.pt for validation='holdout') and manifest.json."""
    if validation not in ("test", "holdout"):
        raise ValueError(f"data.cmnist.validation must be 'test' or 'holdout', got {validation!r}")
    if source not in ("generate", "lnl_file"):
        raise ValueError(f"data.cmnist.source must be 'generate' or 'lnl_file', got {source!r}")
    if source == "lnl_file" and not lnl_file:
        raise ValueError("data.cmnist.source is 'lnl_file' but data.cmnist.lnl_file is not set")
    out_dir = Path(out_dir)
    generator = torch.Generator().manual_seed(seed)
    train_images, train_labels = fetch_mnist(mnist_root, train=True)
    test_images, test_labels = fetch_mnist(mnist_root, train=False)
    if source == "lnl_file":
        lnl = read_lnl_file(lnl_file, len(train_labels), len(test_labels))
        lnl_mono = {"train": torch.from_numpy(np.asarray(lnl["train_image"], np.uint8)).permute(0, 3, 1, 2),
                    "test": torch.from_numpy(np.asarray(lnl["test_image"], np.uint8)).permute(0, 3, 1, 2)}
        for name, labels in (("train", train_labels), ("test", test_labels)):
            if not torch.equal(torch.as_tensor(np.asarray(lnl[f"{name}_label"]), dtype=torch.long), labels):
                raise ValueError(f"{lnl_file}: {name}_label is not in MNIST's order (MNIST at {mnist_root})")

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

    def split(name, images, labels, index, correlated: bool) -> dict:
        labels, gray = labels[index], images[index].contiguous()
        if source == "lnl_file":
            mono = lnl_mono[name][index].contiguous()
            # the mean foreground colour tells which palette colour the file used
            mask = (gray > FOREGROUND_THRESHOLD).float()[:, None]
            colors = (mono.float() / 255 * mask).sum((2, 3)) / mask.sum((2, 3)).clamp(min=1)
            color_class = _nearest_palette_class(colors)
        else:
            color_class = labels if correlated else torch.randint(0, NUM_CLASSES, (len(index),), generator=generator)
            colors = jittered_colors(color_class, color_variance, generator, palette)
            mono = colorize(gray, colors, palette)
        return {"gray": gray, "mono": mono, "label": labels.contiguous(), "color": colors,
                "color_class": color_class.contiguous(), "index": index.contiguous()}  # MNIST's index

    splits = {"train": split("train", train_images, train_labels, order.sort().values, correlated=True)}
    if validation == "holdout":
        splits["val"] = split("train", train_images, train_labels, holdout.sort().values, correlated=False)
        if source == "lnl_file":
            raise ValueError("data.cmnist.validation 'holdout' needs test-like colours; "
                             "with source 'lnl_file' use validation 'test'")
    splits["test"] = split("test", test_images, test_labels, test_order, correlated=False)

    manifest = {
        "dataset": "cmnist",
        "parameters": {"color_variance": color_variance, "validation": validation,
                       "holdout_fraction": holdout_fraction, "train_size": train_size,
                       "test_size": test_size, "seed": seed, "palette": palette, "source": source,
                       "lnl_file": lnl_file, "mnist_root": str(mnist_root)},
        "validation_split": "val" if validation == "holdout" else "test",
        "counts": {name: len(s["label"]) for name, s in splits.items()},
        "files": {},
    }
    for name, tensors in splits.items():
        path = fileio.torch_save(out_dir / SPLIT_FILES[name], tensors)
        manifest["files"][name] = {"path": path.name, "sha256": fileio.sha256(path)}
    fileio.write_json(out_dir / "manifest.json", manifest)  # written last: its presence means done
    return manifest
