import filecmp
import gzip
import hashlib

import pytest
import torch
from torchvision.datasets import MNIST

from greedy import io
from greedy.data import load_splits
from greedy.data import cmnist
from greedy.data.mnist import fetch_mnist, make_subset

from conftest import SHARED_MNIST_ROOT, SUBSET_ROOT

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
        assert io.sha256(out / entry["path"]) == entry["sha256"]
    train = cmnist.load_split(out, "train")
    assert train["gray"].dtype == torch.uint8 and train["gray"].shape == (3000, 28, 28)
    assert train["color"].shape == (3000, 3) and train["label"].shape == (3000,)


def test_training_colours_follow_the_class_with_the_given_jitter(built):
    out, _ = built
    train = cmnist.load_split(out, "train")
    assert torch.equal(train["color_class"], train["label"])
    # per class, the mean colour is closest to the class's own mean colour
    for c in range(10):
        mean = train["color"][train["label"] == c].mean(0)
        assert int(((cmnist.CLASS_COLORS - mean) ** 2).sum(1).argmin()) == c
    # channels whose mean is 0.5-0.6 are rarely clipped: their spread is the jitter's
    mid = [(6, 1), (7, 0), (8, 1), (9, 0), (9, 1), (9, 2)]
    values = torch.cat([train["color"][train["label"] == c, ch] for c, ch in mid])
    offsets = values - torch.cat([cmnist.CLASS_COLORS[c, ch].expand(int((train["label"] == c).sum()))
                                  for c, ch in mid])
    assert offsets.mean().abs() < 0.02
    assert offsets.std().item() == pytest.approx(0.03 ** 0.5, rel=0.1)


def test_test_colours_are_uncorrelated_with_the_label(built):
    out, _ = built
    test = cmnist.load_split(out, "test")
    agreement = (test["color_class"] == test["label"]).float().mean().item()
    assert agreement == pytest.approx(0.1, abs=0.04)
    assert len(torch.unique(test["color_class"])) == 10


def test_render_paints_the_digit():
    split = {"gray": torch.tensor([[[0, 255], [128, 0]]], dtype=torch.uint8),
             "color": torch.tensor([[1.0, 0.5, 0.0]]), "label": torch.tensor([3])}
    mono = cmnist.render(split, "mono", slice(None))
    gray = cmnist.render(split, "gray", slice(None))
    assert gray.shape == (1, 1, 2, 2) and mono.shape == (1, 3, 2, 2)
    assert torch.allclose(mono[0, :, 0, 1], torch.tensor([1.0, 0.5, 0.0]))
    assert torch.allclose(mono[0, :, 1, 0], torch.tensor([1.0, 0.5, 0.0]) * 128 / 255)
    assert mono[0, :, 0, 0].abs().sum() == 0
    with pytest.raises(ValueError, match="depth"):
        cmnist.render(split, "depth", slice(None))


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
