"""ModelNet40 data: fixture tree in the MVCNN layout -> prepared uint8 arrays, checks and refusals.

Nothing here downloads; the fixture stands in for the real archive."""
import json
import shutil
import subprocess
import sys
import tarfile

import numpy as np
import pytest
from PIL import Image

from greedy import fileio
from greedy.data import modelnet40 as mn

from helpers import REPO

CLASSES = ("airplane", "flower_pot", "night_stand", "range_hood")
PER_CLASS = (10, 3)  # train, test objects per class


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("mn40") / mn.TREE_NAME
    return mn.make_fixture(root, CLASSES, PER_CLASS, size=24, seed=0)


@pytest.fixture(scope="module")
def prepared(tree, tmp_path_factory):
    out = tmp_path_factory.mktemp("mn40-prepared")
    return out, mn.prepare(tree, out, views=[0, 6], validation_fraction=0.2, seed=10)


def _copy(tree, tmp_path):
    return shutil.copytree(tree, tmp_path / mn.TREE_NAME)


def _png(path):
    return np.asarray(Image.open(path).convert("RGB")).transpose(2, 0, 1)


def test_fixture_uses_the_mvcnn_layout_and_names(tree):
    assert sorted(p.name for p in tree.iterdir() if p.is_dir()) == sorted(CLASSES)
    views = sorted((tree / "night_stand" / "test").glob("night_stand_0011.obj.shaded_v*.png"))
    assert [p.name for p in views] == [f"night_stand_0011.obj.shaded_v{v:03d}.png" for v in range(1, 13)]
    assert len(list((tree / "flower_pot" / "train").iterdir())) == PER_CLASS[0] * 12
    assert Image.open(views[0]).size == (24, 24)


def test_prepare_round_trip(tree, prepared):
    out, manifest = prepared
    assert manifest["classes"] == sorted(CLASSES)
    n_val = int(np.floor(0.2 * 4 * PER_CLASS[0]))
    assert manifest["totals"] == {"train": 40 - n_val, "val": n_val, "test": 4 * PER_CLASS[1]}
    assert manifest["image_size"] == [24, 24] and manifest["view_files"] == ["001", "007"]
    for split in mn.SPLITS:
        images, labels = mn.load_split(out, split)
        assert isinstance(images, np.memmap) and images.dtype == np.uint8
        assert images.shape == (manifest["totals"][split], 2, 3, 24, 24)
        assert labels.dtype == np.int64 and len(labels) == len(images)
        assert sum(manifest["counts"][split].values()) == len(images)
        for i, name in enumerate(manifest["objects"][split]):
            assert manifest["classes"][labels[i]] == name.split("/")[0]
    # The stored views are the sorted 1st and 7th files: v001 (front) and v007 (rear).
    images, _ = mn.load_split(out, "test")
    c, obj = manifest["objects"]["test"][5].split("/")
    folder = tree / c / "test"
    assert np.array_equal(images[5, 0], _png(folder / f"{obj}.obj.shaded_v001.png"))
    assert np.array_equal(images[5, 1], _png(folder / f"{obj}.obj.shaded_v007.png"))
    assert not np.array_equal(images[5, 1], _png(folder / f"{obj}.obj.shaded_v006.png"))
    assert manifest["counts"]["test"] == {c: PER_CLASS[1] for c in sorted(CLASSES)}


def test_manifest_sha256_and_no_temporary_files(prepared):
    out, manifest = prepared
    assert manifest == mn.read_manifest(out)
    assert set(manifest["sha256"]) == {f"{s}_{k}.npy" for s in mn.SPLITS for k in ("images", "labels")}
    for name, digest in manifest["sha256"].items():
        assert fileio.sha256(out / name) == digest
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_validation_split_is_seeded_and_disjoint(tree, prepared, tmp_path):
    _, manifest = prepared
    train, val = set(manifest["objects"]["train"]), set(manifest["objects"]["val"])
    assert not train & val and len(train | val) == 4 * PER_CLASS[0]
    again = mn.prepare(tree, tmp_path / "again", views=[0, 6], seed=10)
    other = mn.prepare(tree, tmp_path / "other", views=[0, 6], seed=11)
    assert again["objects"] == manifest["objects"]
    assert other["objects"]["val"] != manifest["objects"]["val"]
    # The official code's split: random.Random(seed).shuffle over all training objects.
    keep, held = mn.validation_split(100, 0.2, 10)
    assert len(held) == 20 and sorted(keep + held) == list(range(100))


def test_three_views_by_sorted_index(tree, tmp_path):
    manifest = mn.prepare(tree, tmp_path, views=[0, 4, 8])
    images, _ = mn.load_split(tmp_path, "train")
    assert images.shape[1:] == (3, 3, 24, 24) and manifest["view_files"] == ["001", "005", "009"]
    c, obj = manifest["objects"]["train"][0].split("/")
    for j, v in enumerate((1, 5, 9)):
        assert np.array_equal(images[0, j], _png(tree / c / "train" / f"{obj}.obj.shaded_v{v:03d}.png"))


def test_resize_only_when_asked(tree, tmp_path):
    manifest = mn.prepare(tree, tmp_path, views=[0], size=16)
    assert manifest["image_size"] == [16, 16]
    assert mn.load_split(tmp_path, "test")[0].shape[-2:] == (16, 16)


def test_count_check_names_class_and_split(tree, tmp_path):
    root = _copy(tree, tmp_path)
    for path in (root / "night_stand" / "test").glob("night_stand_0012.obj.*"):
        path.unlink()
    with pytest.raises(mn.ModelNet40Error, match=r"night_stand/test: expected 3 objects, found 2"):
        mn.prepare(root, tmp_path / "out", views=[0, 6])
    assert not (tmp_path / "out" / "manifest.json").exists()
    mn.prepare(root, tmp_path / "out", views=[0, 6], check_counts=False)  # the check can be off


def test_real_counts_refuse_a_small_tree(tree):
    found = mn.counts(mn.scan(tree))
    with pytest.raises(mn.ModelNet40Error) as error:
        mn.check_object_counts(found)  # default: the real archive's 9,843 / 2,468 in 40 classes
    message = str(error.value)
    assert "9843 train / 2468 test" in message and "class chair: missing" in message
    assert "airplane/train: expected 626 objects, found 10" in message
    mn.check_object_counts(found, {c: PER_CLASS for c in CLASSES})
    assert sum(n for n, _ in mn.EXPECTED_COUNTS.values()) == 9843 and len(mn.EXPECTED_COUNTS) == 40


def test_object_with_eleven_views_is_refused(tree, tmp_path):
    root = _copy(tree, tmp_path)
    (root / "flower_pot" / "train" / "flower_pot_0003.obj.shaded_v012.png").unlink()
    with pytest.raises(mn.ModelNet40Error, match=r"object flower_pot_0003 \(flower_pot/train\) has 11 views"):
        mn.prepare(root, tmp_path / "out", check_counts=False)


def test_missing_data_names_url_and_target(tmp_path):
    root, archive = tmp_path / "data" / mn.TREE_NAME, tmp_path / "data" / "shaded_images.tar.gz"
    with pytest.raises(mn.ModelNet40Missing) as error:
        mn.fetch(root, archive, mn.URL, None)
    assert isinstance(error.value, RuntimeError)
    message = str(error.value)
    assert "http://supermoe.cs.umass.edu/shape_recog/shaded_images.tar.gz" in message
    assert str(archive.resolve()) in message and str(root.resolve()) in message


def _archive(tree, path):
    with tarfile.open(path, "w:gz") as tar:
        tar.add(tree, arcname=mn.TREE_NAME)
    return path


def test_archive_checksum_then_safe_extraction(tree, tmp_path, capsys):
    archive = _archive(tree, tmp_path / "shaded_images.tar.gz")
    root = tmp_path / "data" / mn.TREE_NAME
    with pytest.raises(mn.ModelNet40Error, match="sha256"):
        mn.fetch(root, archive, sha256="0" * 64)
    assert not root.exists()
    assert mn.fetch(root, archive, sha256=None) == root  # unknown checksum: printed, not refused
    assert fileio.sha256(archive) in capsys.readouterr().out
    assert mn.counts(mn.scan(root)) == mn.counts(mn.scan(tree))
    assert [p.name for p in root.parent.iterdir()] == [mn.TREE_NAME]  # no extraction leftovers
    assert mn.fetch(root, tmp_path / "absent.tar.gz") == root  # an extracted tree needs no archive


def test_archive_escaping_its_folder_is_refused(tmp_path):
    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as tar:
        info = tarfile.TarInfo("../outside.txt")
        tar.addfile(info)
    with pytest.raises(tarfile.TarError):
        mn.fetch(tmp_path / "data" / mn.TREE_NAME, evil)
    assert not (tmp_path / "data" / "outside.txt").exists() and not (tmp_path / "outside.txt").exists()


def test_fixture_command(tmp_path):
    out = tmp_path / "fx"
    subprocess.run([sys.executable, "-m", "greedy.cli", "prepare", "--dataset", "modelnet40",
                    "--fixture", str(out)], check=True, cwd=REPO)
    assert mn.counts(mn.scan(out)) == {c: (8, 4) for c in mn.FIXTURE_CLASSES}
    mn.prepare(out, tmp_path / "prepared", views=[0, 6])  # checked against the fixture's counts


def test_prepare_command_stops_with_the_download_message(tree, tmp_path):
    where = {"sha256": None, "archive": str(tmp_path / "shaded_images.tar.gz"),
             "root": str(tmp_path / mn.TREE_NAME), "out_dir": str(tmp_path / "out")}
    (tmp_path / "where.yaml").write_text(json.dumps({"data": {"modelnet40": where}}))
    command = [sys.executable, "-m", "greedy.cli", "prepare", "--dataset", "modelnet40",
               "--params", str(REPO / "params.yaml"), str(tmp_path / "where.yaml")]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert mn.URL in done.stderr and where["archive"] in done.stderr
    (tmp_path / "there.yaml").write_text(json.dumps({"data": {"modelnet40": {"root": str(tree)}}}))
    subprocess.run(command + [str(tmp_path / "there.yaml")], cwd=REPO, check=True, capture_output=True)
    prepared = next((tmp_path / "out").glob("*/manifest.json")).parent  # out_dir/<data hash>
    assert mn.read_manifest(prepared)["totals"]["test"] == 4 * PER_CLASS[1]


def test_fixture_source_writes_the_fixture_once_and_rewrites_it_when_its_size_changes(tmp_path):
    data = {"source": "fixture", "root": str(tmp_path / "fx"), "views": [0, 6], "validation_fraction": 0.2,
            "seed": 10, "size": None, "fixture": {"train": 2, "test": 1, "size": 16, "seed": 0}}
    first = mn.prepare_data(data, tmp_path / "a")
    assert first["totals"] == {"train": 7, "val": 1, "test": 4} and first["image_size"] == [16, 16]
    marker = (tmp_path / "fx" / mn.FIXTURE_MARKER).stat().st_mtime_ns
    mn.prepare_data(data, tmp_path / "b")
    assert (tmp_path / "fx" / mn.FIXTURE_MARKER).stat().st_mtime_ns == marker  # reused
    bigger = mn.prepare_data({**data, "fixture": {**data["fixture"], "train": 3}}, tmp_path / "c")
    assert bigger["totals"]["train"] + bigger["totals"]["val"] == 12  # rewritten, not mixed
    assert mn.identity(data) != mn.identity({**data, "fixture": {**data["fixture"], "train": 3}})
    assert mn.identity({**data, "root": "/elsewhere"}) == mn.identity(data)


def test_fixture_written_by_concurrent_data_jobs_is_never_seen_half_written(tmp_path):
    """Two data jobs (a data set's variants) write the same fixture at once: each gets the whole
    tree, as if it had been alone (the first rename wins, the other copy is dropped)."""
    import threading
    import time

    from greedy.data import FIXTURE_MARKER, ensure_fixture

    def slow_write(folder):
        for k in range(5):
            (folder / f"part{k}").write_text("x")
            time.sleep(0.05)
        (folder / FIXTURE_MARKER).write_text('{"seed": 1}')

    root, seen, errors = tmp_path / "fixture", [], []

    def job():
        try:
            ensure_fixture(root, lambda written: written == {"seed": 1}, slow_write)
            seen.append(sorted(p.name for p in root.iterdir()))
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=job) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert seen == [[FIXTURE_MARKER] + [f"part{k}" for k in range(5)]] * 3
    assert [p.name for p in tmp_path.iterdir()] == ["fixture"]  # no scratch copy left behind
    # another fixture replaces it whole
    ensure_fixture(root, lambda written: written == {"seed": 2},
                   lambda folder: (folder / FIXTURE_MARKER).write_text('{"seed": 2}'))
    assert [p.name for p in root.iterdir()] == [FIXTURE_MARKER]
