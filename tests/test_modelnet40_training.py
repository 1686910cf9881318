"""ModelNet40 from the fixture tree to a trained two-view ResNet18 with d_util: the loader
(views as modalities, ImageNet normalisation, seeded flips) and the trainer on the new data set."""
import copy

import numpy as np
import pytest
import torch

from greedy.config import load_params, run_config
from greedy.data import load_splits
from greedy.data import modelnet40 as mn
from greedy.train import train
from greedy.utilization import evaluate_run

from helpers import REPO


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = mn.make_fixture(tmp_path_factory.mktemp("mn40") / mn.TREE_NAME, objects_per_class=(5, 2), size=32)
    out = tmp_path_factory.mktemp("mn40-prepared")
    mn.prepare(root, out, views=[0, 6], validation_fraction=0.2, seed=10)
    return out


def test_views_are_the_modalities_normalised_as_imagenet(prepared):
    splits = load_splits("modelnet40", prepared, ["front", "rear"], 4, 8, seed=0)
    assert splits.num_classes == 4 and splits.in_channels == [3, 3] and not splits.val_is_test
    images, labels = mn.load_split(prepared, "test")
    (front, rear), y = next(iter(splits.test))
    assert front.shape == (8, 3, 32, 32) and rear.shape == (8, 3, 32, 32)
    mean, std = torch.tensor(mn.IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(mn.IMAGENET_STD).view(1, 3, 1, 1)
    stored = torch.from_numpy(np.array(images[:8])).float() / 255
    assert torch.allclose(front * std + mean, stored[:, 0], atol=1e-5)
    assert torch.allclose(rear * std + mean, stored[:, 1], atol=1e-5)
    assert torch.equal(y, torch.as_tensor(labels[:8]))
    with pytest.raises(ValueError, match="view2"):
        load_splits("modelnet40", prepared, ["front", "view2"], 4, 8, seed=0)


def test_training_batches_are_seeded_flipped_and_cover_the_split(prepared):
    splits = load_splits("modelnet40", prepared, ["front", "rear"], 4, 8, seed=0)
    images, labels = mn.load_split(prepared, "train")
    splits.train.set_epoch(3)
    first = [(torch.cat(v), y) for v, y in splits.train]
    again = [(torch.cat(v), y) for v, y in splits.train]
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(first, again))
    seen = torch.cat([y for _, y in first])
    assert sorted(seen.tolist()) == sorted(labels.tolist())  # every training object once
    # some views come out mirrored: compare each front view with the stored pixels and their mirror
    mean, std = torch.tensor(mn.IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(mn.IMAGENET_STD).view(1, 3, 1, 1)
    stored = torch.from_numpy(np.array(images)).float()[:, 0] / 255
    mirrored = same = 0
    for views, _ in splits.train:
        for x in views[0] * std + mean:
            same += any(torch.allclose(x, s, atol=1e-5) for s in stored)
            mirrored += any(torch.allclose(x, s.flip(-1), atol=1e-5) for s in stored)
    assert same > 0 and mirrored > 0


def test_two_view_resnet18_trains_with_guided_and_gets_d_util(params, prepared, tmp_path):
    overlay = copy.deepcopy(params)
    overlay["models"]["modelnet40"] = load_params([REPO / "params.yaml"])["models"]["modelnet40"]  # not smoke's
    config = run_config(overlay, "modelnet40", ["front", "rear"], 0.1, 0, method="guided")
    config["device"], config["data_dir"] = "cpu", str(prepared)
    config["training"]["max_epochs"] = 2
    assert config["model"]["architecture"] == "resnet18" and config["training"]["batch_size"] == 8
    status = train(config, tmp_path / "run")
    assert status["status"] == "completed" and status["epochs_run"] == 2
    result = evaluate_run(tmp_path / "run")
    assert 0.0 <= result["test_acc"] <= 1.0 and result["d_util"] is not None
    kinds = (tmp_path / "run" / "steps.csv").read_text()
    assert "regular" in kinds


def test_greedy_prepare_modelnet40_says_what_to_download_and_where(tmp_path):
    import subprocess
    import sys
    (tmp_path / "where.yaml").write_text(f"data:\n  modelnet40:\n    root: {tmp_path}/tree\n"
                                         f"    archive: {tmp_path}/shaded.tar.gz\n")
    from helpers import REPO
    result = subprocess.run([sys.executable, "-m", "greedy.cli", "prepare", "--dataset", "modelnet40",
                             "--params", str(REPO / "params.yaml"), str(tmp_path / "where.yaml")],
                            capture_output=True, text=True)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert mn.URL in result.stderr and f"{tmp_path}/shaded.tar.gz" in result.stderr
    fixture = subprocess.run([sys.executable, "-m", "greedy.cli", "prepare", "--dataset", "modelnet40",
                              "--fixture", str(tmp_path / "tree")], capture_output=True, text=True)
    assert fixture.returncode == 0 and (tmp_path / "tree" / "night_stand" / "train").is_dir()


def test_held_out_part_and_the_rest_partition_the_training_objects(prepared):
    from greedy.data import carve_holdout
    splits = carve_holdout(load_splits("modelnet40", prepared, ["front", "rear"], 4, 8, seed=0), 0.25, seed=0)
    _, labels = mn.load_split(prepared, "train")
    held = torch.cat([y for _, y in splits.holdout])
    kept = torch.cat([y for _, y in splits.train_eval])
    assert len(held) == round(0.25 * len(labels)) and len(held) + len(kept) == len(labels)
    assert sorted(torch.cat([held, kept]).tolist()) == sorted(labels.tolist())
    assert not splits.holdout.flip and splits.train.flip
