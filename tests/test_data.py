import filecmp
import gzip
import hashlib

import numpy as np
import pytest
import torch
from torchvision.datasets import MNIST

from greedy import fileio
from greedy.data import load_splits
from greedy.data import cmnist
from greedy.data.mnist import fetch_mnist, make_subset

from helpers import SHARED_MNIST_ROOT, SUBSET_ROOT

pytestmark = pytest.mark.unit

needs_shared = pytest.mark.skipif(not (SHARED_MNIST_ROOT / "MNIST" / "raw").exists(),
                                  reason="../shared/data/MNIST/raw is not beside this checkout")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("cmnist")
    manifest = cmnist.build(SUBSET_ROOT, out, color_variance=0.03, seed=3)
    return out, manifest


def test_manifest_counts_and_checksums(built):
    out, manifest = built
    assert manifest["counts"] == {"train": 3000, "test": 1000}
    assert manifest["validation_split"] == "test"
    for name, entry in manifest["files"].items():
        assert fileio.sha256(out / entry["path"]) == entry["sha256"]
    train = cmnist.load_split(out, "train")
    assert train["gray"].dtype == torch.uint8 and train["gray"].shape == (3000, 28, 28)
    assert train["color"].shape == (3000, 3) and train["label"].shape == (3000,)
    assert train["mono"].dtype == torch.uint8 and train["mono"].shape == (3000, 3, 28, 28)


def test_colour_is_one_flat_colour_on_the_foreground_as_lnl(built):
    """LNL: pixels with gray value above 128 get the image's colour, the background is exactly 0."""
    out, _ = built
    train = cmnist.load_split(out, "train")
    foreground = train["gray"] > 128
    mono = train["mono"]
    assert int(mono.permute(0, 2, 3, 1)[~foreground].abs().sum()) == 0
    expected = (train["color"] * 255).round().to(torch.uint8)
    for i in range(0, 3000, 97):
        pixels = mono[i].permute(1, 2, 0)[foreground[i]]
        assert torch.equal(pixels, expected[i].expand_as(pixels)), i


def test_lnl_palette_is_the_default_and_primary_stays_selectable(tmp_path):
    lnl = cmnist.build(SUBSET_ROOT, tmp_path / "lnl", 0.0, train_size=100, test_size=10, seed=0)
    primary = cmnist.build(SUBSET_ROOT, tmp_path / "primary", 0.0, train_size=100, test_size=10, seed=0,
                           palette="primary")
    assert lnl["parameters"]["palette"] == "lnl" and primary["parameters"]["palette"] == "primary"
    a, b = cmnist.load_split(tmp_path / "lnl", "train"), cmnist.load_split(tmp_path / "primary", "train")
    assert torch.allclose(a["color"], cmnist.PALETTES["lnl"][a["label"]])  # variance 0: the means
    assert torch.allclose(b["color"], cmnist.PALETTES["primary"][b["label"]])
    assert torch.allclose(cmnist.PALETTES["lnl"][0] * 255, torch.tensor([210.0, 25.0, 43.0]))
    # the primary palette scales the gray intensity instead of thresholding it
    i = int((b["gray"] == b["gray"][b["gray"] > 0].min()).flatten(1).any(1).nonzero()[0])
    assert b["mono"][i].float().max() > 0 and a["mono"][i].float().max() > 0


def test_render_normalises_each_modality_as_lnl_and_pmr():
    split = {"gray": torch.tensor([[[0, 255]]], dtype=torch.uint8),
             "mono": torch.tensor([[[[0, 255]], [[0, 255]], [[0, 255]]]], dtype=torch.uint8),
             "label": torch.tensor([3])}
    gray = cmnist.render(split, "gray", slice(None))
    mono = cmnist.render(split, "mono", slice(None))
    assert gray.shape == (1, 1, 1, 2) and mono.shape == (1, 3, 1, 2)
    assert torch.allclose(gray[0, 0, 0], torch.tensor([-0.1307 / 0.3081, (1 - 0.1307) / 0.3081]))
    cifar_mean, cifar_std = torch.tensor([0.4914, 0.4822, 0.4465]), torch.tensor([0.2023, 0.1994, 0.2010])
    assert torch.allclose(mono[0, :, 0, 0], -cifar_mean / cifar_std)
    assert torch.allclose(mono[0, :, 0, 1], (1 - cifar_mean) / cifar_std)
    with pytest.raises(ValueError, match="depth"):
        cmnist.render(split, "depth", slice(None))


def _fake_lnl_file(path, source: dict, train_labels, test_labels, **override):
    """A file in LNL's format: a pickled dict saved with np.save, images [N, 28, 28, 3] uint8."""
    data = {"train_image": source["train"]["mono"].permute(0, 2, 3, 1).numpy(),
            "train_label": train_labels.numpy(),
            "test_image": source["test"]["mono"].permute(0, 2, 3, 1).numpy(),
            "test_label": test_labels.numpy(),
            "test_gray": source["test"]["gray"].numpy()}
    data.update(override)
    for key in [k for k, v in override.items() if v is None]:
        del data[key]
    np.save(path, np.array(data, dtype=object), allow_pickle=True)
    return path


@pytest.fixture(scope="module")
def lnl_source(tmp_path_factory):
    """Colour images for every digit of the subset, in MNIST order, as an LNL file holds them."""
    out = tmp_path_factory.mktemp("lnl-source")
    cmnist.build(SUBSET_ROOT, out, color_variance=0.03, seed=11)
    # build() shuffles nothing for the full subset: sorted order is MNIST order
    return {name: cmnist.load_split(out, name) for name in ("train", "test")}


def test_lnl_file_source_reads_their_images(tmp_path, lnl_source):
    train_labels = fetch_mnist(SUBSET_ROOT, train=True)[1]
    test_labels = fetch_mnist(SUBSET_ROOT, train=False)[1]
    path = _fake_lnl_file(tmp_path / "mnist_10color_jitter_var_0.030.npy", lnl_source, train_labels, test_labels)
    manifest = cmnist.build(SUBSET_ROOT, tmp_path / "out", 0.03, source="lnl_file", lnl_file=str(path),
                            train_size=500, seed=0)
    assert manifest["parameters"]["source"] == "lnl_file" and manifest["counts"]["train"] == 500
    train = cmnist.load_split(tmp_path / "out", "train")
    assert torch.equal(train["mono"], lnl_source["train"]["mono"][train["index"]])
    assert torch.equal(train["gray"], fetch_mnist(SUBSET_ROOT, True)[0][train["index"]])
    # the nearest palette colour names the label for about 77 % of training digits at variance
    # 0.03 (REFERENCE section 3, measured on LNL's own file)
    assert 0.70 < (train["color_class"] == train["label"]).float().mean() < 0.85


def test_lnl_file_errors_name_the_file_and_the_problem(tmp_path, lnl_source):
    train_labels = fetch_mnist(SUBSET_ROOT, train=True)[1]
    test_labels = fetch_mnist(SUBSET_ROOT, train=False)[1]
    missing = tmp_path / "nowhere.npy"
    with pytest.raises(FileNotFoundError, match="drive.google.com") as error:
        cmnist.build(SUBSET_ROOT, tmp_path / "a", 0.03, source="lnl_file", lnl_file=str(missing))
    assert str(missing) in str(error.value)
    no_key = _fake_lnl_file(tmp_path / "k.npy", lnl_source, train_labels, test_labels, test_label=None)
    with pytest.raises(ValueError, match="test_label"):
        cmnist.build(SUBSET_ROOT, tmp_path / "b", 0.03, source="lnl_file", lnl_file=str(no_key))
    bad_shape = _fake_lnl_file(tmp_path / "s.npy", lnl_source, train_labels, test_labels,
                               train_image=np.zeros((3000, 28, 28), np.uint8))
    with pytest.raises(ValueError, match=r"train_image has shape \(3000, 28, 28\)"):
        cmnist.build(SUBSET_ROOT, tmp_path / "c", 0.03, source="lnl_file", lnl_file=str(bad_shape))
    shuffled = _fake_lnl_file(tmp_path / "o.npy", lnl_source, train_labels.flip(0), test_labels)
    with pytest.raises(ValueError, match="MNIST's order"):
        cmnist.build(SUBSET_ROOT, tmp_path / "d", 0.03, source="lnl_file", lnl_file=str(shuffled))
    with pytest.raises(ValueError, match="lnl_file is not set"):
        cmnist.build(SUBSET_ROOT, tmp_path / "e", 0.03, source="lnl_file")


def test_training_colours_follow_the_class_with_the_given_jitter(built):
    out, _ = built
    train = cmnist.load_split(out, "train")
    assert torch.equal(train["color_class"], train["label"])
    # per class, the mean colour is closest to the class's own mean colour
    palette = cmnist.PALETTES["lnl"]
    for c in range(10):
        mean = train["color"][train["label"] == c].mean(0)
        assert int(((palette - mean) ** 2).sum(1).argmin()) == c
    # channels whose mean is 0.35-0.6 are rarely clipped: their spread is the jitter's
    mid = [(1, 1), (3, 1), (4, 1), (5, 0), (8, 0), (9, 0)]
    values = torch.cat([train["color"][train["label"] == c, ch] for c, ch in mid])
    offsets = values - torch.cat([palette[c, ch].expand(int((train["label"] == c).sum()))
                                  for c, ch in mid])
    assert offsets.mean().abs() < 0.02
    assert offsets.std().item() == pytest.approx(0.03 ** 0.5, rel=0.1)


def test_test_colours_are_uncorrelated_with_the_label(built):
    out, _ = built
    test = cmnist.load_split(out, "test")
    agreement = (test["color_class"] == test["label"]).float().mean().item()
    assert agreement == pytest.approx(0.1, abs=0.04)
    assert len(torch.unique(test["color_class"])) == 10


def test_build_is_deterministic_by_seed(tmp_path):
    a = cmnist.build(SUBSET_ROOT, tmp_path / "a", 0.03, train_size=200, test_size=50, seed=7)
    b = cmnist.build(SUBSET_ROOT, tmp_path / "b", 0.03, train_size=200, test_size=50, seed=7)
    c = cmnist.build(SUBSET_ROOT, tmp_path / "c", 0.03, train_size=200, test_size=50, seed=8)
    assert a["files"] == b["files"]
    assert a["files"]["train"]["sha256"] != c["files"]["train"]["sha256"]


def test_holdout_validation_option(tmp_path):
    manifest = cmnist.build(SUBSET_ROOT, tmp_path, 0.03, validation="holdout", holdout_fraction=0.2,
                            train_size=500, seed=0)
    assert manifest["counts"] == {"train": 400, "val": 100, "test": 1000}
    val = cmnist.load_split(tmp_path, "val")
    assert not torch.equal(val["color_class"], val["label"])  # coloured like the test set
    splits = load_splits("cmnist", tmp_path, ["mono", "gray"], 64, 100, seed=0)
    assert not splits.val_is_test and len(splits.val) == 1


def test_batches_shuffle_per_epoch_and_cover_the_split(built):
    out, _ = built
    train = cmnist.load_split(out, "train")
    batches = cmnist.Batches(train, ["mono", "gray"], 128, shuffle=True, seed=1)
    labels_epoch0 = torch.cat([y for _, y in batches])
    assert len(batches) == 24 and len(labels_epoch0) == 3000
    assert torch.equal(labels_epoch0.sort().values, train["label"].sort().values)
    again = torch.cat([y for _, y in batches])
    batches.set_epoch(1)
    epoch1 = torch.cat([y for _, y in batches])
    assert torch.equal(labels_epoch0, again) and not torch.equal(labels_epoch0, epoch1)
    xs, y = next(iter(batches))
    assert xs[0].shape == (128, 3, 28, 28) and xs[1].shape == (128, 1, 28, 28)


def test_missing_prepared_data_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="manifest.json"):
        cmnist.load_split(tmp_path, "train")


def test_missing_mnist_says_what_to_fetch_and_where(tmp_path, monkeypatch):
    # no network needed: point the mirrors at a folder that does not exist
    monkeypatch.setattr(MNIST, "mirrors", [f"file://{tmp_path}/nowhere/"])
    with pytest.raises(FileNotFoundError) as error:
        fetch_mnist(tmp_path / "root", train=True)
    message = str(error.value)
    assert "train-images-idx3-ubyte.gz" in message and str(tmp_path / "root" / "MNIST" / "raw") in message


@needs_shared
def test_real_mnist_loads_offline_with_verified_checksums():
    for name, md5 in MNIST.resources:
        digest = hashlib.md5((SHARED_MNIST_ROOT / "MNIST" / "raw" / name).read_bytes()).hexdigest()
        assert digest == md5
    images, labels = fetch_mnist(SHARED_MNIST_ROOT, train=False)
    assert images.shape == (10000, 28, 28) and labels.bincount().tolist()[0] == 980


@needs_shared
def test_shipped_subset_is_the_first_digits_of_real_mnist(tmp_path):
    raw = make_subset(SHARED_MNIST_ROOT, tmp_path, n_train=3000, n_test=1000)
    shipped = SUBSET_ROOT / "MNIST" / "raw"
    for path in raw.iterdir():
        assert filecmp.cmp(path, shipped / path.name, shallow=False), path.name
    with gzip.open(SHARED_MNIST_ROOT / "MNIST" / "raw" / "train-labels-idx1-ubyte.gz") as f:
        assert f.read()[8:3008] == (shipped / "train-labels-idx1-ubyte").read_bytes()[8:]
