"""NVGesture data: list files, fixture videos in the real layout -> prepared uint8 arrays -> batches.

Nothing here downloads; the fixture (real .avi files, real list format) stands in for the
licence-gated data set. Small sizes throughout: frames are prepared at 32x32, batches take
16 frames and a 28x28 crop."""
import shutil

import av
import numpy as np
import pytest
import torch

from greedy import data as registry
from greedy import fileio
from greedy.data import DataMissing
from greedy.data import nvgesture as nv

pytestmark = pytest.mark.unit

CLASSES, SUBJECTS, FRAMES = 4, (3, 2), 40  # fixture: 12 training and 8 test clips of 40 frames
SIZE, T, CROP = 32, 16, 28                 # prepared frame size, frames and crop of a batch
EXAMPLE = ("path:./Video_data/class_01/subject13_r0 depth:sk_depth:138:218 color:sk_color:138:218 "
           "duo_left:duo_left:161:254 label:1")


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return nv.make_fixture(tmp_path_factory.mktemp("nvg") / "nvgesture", classes=CLASSES,
                           subjects=SUBJECTS, seed=0, frames=FRAMES)


@pytest.fixture(scope="module")
def prepared(tree, tmp_path_factory):
    out = tmp_path_factory.mktemp("nvg-prepared")
    return out, nv.prepare(tree, out, size=SIZE, frames=T, crop=CROP, validation_fraction=0.2,
                           seed=0, workers=2)


def _clips(tree, split):
    return {c.name: c for c in nv.parse_list(tree / nv.LIST_FILES[split])}


# ----------------------------------------------------------------------------------------------
# list files

def test_list_lines_parse_every_field(tmp_path):
    lines = [EXAMPLE,
             "path:./Video_data/class_25/subject3_r2 depth:sk_depth:40:120 color:sk_color:41:121 "
             "duo_left:duo_left:55:150 label:25"]
    path = tmp_path / nv.LIST_FILES["train"]
    path.write_bytes(("\r\n".join(lines) + "\r\n\r\n").encode())  # CRLF and a trailing blank line
    first, last = nv.parse_list(path)
    assert first.path == "./Video_data/class_01/subject13_r0" and first.name == "Video_data/class_01/subject13_r0"
    assert (first.label, first.class_number) == (0, 1)
    assert first.sensors == {"depth": nv.Sensor("sk_depth", 138, 218), "color": nv.Sensor("sk_color", 138, 218),
                             "duo_left": nv.Sensor("duo_left", 161, 254)}
    assert first.sensors["color"].length == 80 and not first.mismatched
    assert first.video(tmp_path, "depth") == tmp_path / "Video_data/class_01/subject13_r0/sk_depth.avi"
    assert first.source == f"{path}:1"
    assert (last.label, last.class_number, last.mismatched) == (24, 25, True)
    assert last.sensors["color"] == nv.Sensor("sk_color", 41, 121)


@pytest.mark.parametrize("line, why", [
    ("depth:sk_depth:1:81 color:sk_color:1:81 label:3", "missing field.*path"),
    ("path:./Video_data/class_03/s depth:sk_depth:1:81 color:sk_color:1:81", "missing field.*label"),
    ("path:./Video_data/class_03/s depth:sk_depth:1:81 label:3", "missing field.*color"),
    ("path:./Video_data/class_03/s color:sk_color:1:81 label:3", "missing field.*depth"),
    ("path:./Video_data/class_03/s depth:sk_depth:1:x81 color:sk_color:1:81 label:3", "must be integers"),
    ("path:./Video_data/class_03/s depth:sk_depth:81:1 color:sk_color:1:81 label:3", "start <= end"),
    ("path:./Video_data/class_03/s depth:sk_depth:1:81 color:sk_color:1:81 label:26", "outside 1..25"),
    ("path:./Video_data/class_03/s depth:sk_depth:1:81 color:sk_color:1:81 label:0", "outside 1..25"),
    ("path:./Video_data/class_03/s depth:sk_depth:1:81 color:sk_color:1:81 label:three", "not an integer"),
    ("path:./Video_data/class_03/s depth:sk_depth:1:81 color:sk_color:1 label:3", "neither"),
    ("path:./Video_data/class_03/s depth:sk_depth:1:81 color:sk_color:1:81 label:3 junk", "neither"),
    ("path:./Video_data/class_03/s depth:sk_depth:1:81 color:sk_color:1:81 color:sk_color:1:81 label:3",
     "given twice"),
    ("path:../elsewhere depth:sk_depth:1:81 color:sk_color:1:81 label:3", "relative"),
])
def test_malformed_lines_name_file_and_line(tmp_path, line, why):
    path = tmp_path / "list.lst"
    path.write_text(EXAMPLE + "\n" + line + "\n")
    with pytest.raises(nv.NVGestureError, match=why) as error:
        nv.parse_list(path)
    assert f"{path}:2:" in str(error.value)


# ----------------------------------------------------------------------------------------------
# fixture

def test_fixture_has_the_real_layout_and_decodable_videos(tree):
    assert sorted(p.name for p in tree.iterdir()) == sorted(["Video_data", nv.FIXTURE_MARKER, *nv.LIST_FILES.values()])
    assert sorted(p.name for p in (tree / "Video_data").iterdir()) == [f"class_{k:02d}" for k in range(1, CLASSES + 1)]
    assert sorted(p.name for p in (tree / "Video_data" / "class_03").iterdir()) == [
        f"subject{s}_r0" for s in range(1, sum(SUBJECTS) + 1)]
    train, test = _clips(tree, "train"), _clips(tree, "test")
    assert len(train) == CLASSES * SUBJECTS[0] and len(test) == CLASSES * SUBJECTS[1]
    assert not set(train) & set(test)
    text = (tree / nv.LIST_FILES["train"]).read_text().splitlines()[0]
    assert text.startswith("path:./Video_data/class_01/subject1_r0 depth:sk_depth:")
    assert " color:sk_color:" in text and " duo_left:duo_left:" in text and text.endswith(" label:1")
    for clip in list(train.values())[:2] + list(test.values())[:1]:
        for sensor in ("color", "depth"):
            with av.open(str(clip.video(tree, sensor))) as container:
                stream = container.streams.video[0]
                assert (stream.codec_context.width, stream.codec_context.height) == (320, 240)
                n = sum(1 for _ in container.decode(stream))
            assert n >= clip.sensors[sensor].end
    lengths = sorted(c.sensors["color"].length for c in [*train.values(), *test.values()])
    assert lengths == [FRAMES // 2] + [FRAMES] * (len(lengths) - 1)  # one short clip
    assert [c.name for c in train.values() if c.mismatched] == ["Video_data/class_01/subject1_r0"]
    assert fileio.read_json(tree / nv.FIXTURE_MARKER)["frames"] == FRAMES


def test_fixture_motion_depends_on_the_class(tree):
    """The disc moves in the class's direction: the brightest depth pixels' mean position moves."""
    moves = []
    for label in range(CLASSES):
        clip = _clips(tree, "train")[f"Video_data/class_{label + 1:02d}/subject2_r0"]
        c = clip.sensors["color"]
        depth = nv.read_frames(clip.video(tree, "depth"), c.start, c.end, 64, depth=True)
        centres = [np.argwhere(f > 100).mean(0) for f in (depth[0], depth[-1])]
        moves.append(centres[1] - centres[0])  # (dy, dx)
    assert moves[0][1] > 5 and moves[1][0] > 5 and moves[2][1] < -5 and moves[3][0] < -5


# ----------------------------------------------------------------------------------------------
# prepare

def test_prepare_round_trip(tree, prepared):
    out, manifest = prepared
    n_val = int(np.floor(0.2 * CLASSES * SUBJECTS[0]))
    assert manifest["totals"] == {"train": 12 - n_val, "val": n_val, "test": 8}
    assert manifest["classes"] == [f"class_{k:02d}" for k in range(1, CLASSES + 1)]
    assert manifest["failed"] == [] and manifest["size"] == SIZE
    assert manifest["params"]["frames"] == T and manifest["params"]["crop"] == CROP
    assert manifest["frames_per_clip"]["test"] == {str(FRAMES // 2): 1, str(FRAMES): 7}
    assert sum(manifest["counts"]["test"].values()) == 8
    assert manifest == nv.read_manifest(out)
    listed = {**_clips(tree, "train"), **_clips(tree, "test")}
    for split in nv.SPLITS:
        arrays = nv.load_split(out, split)
        n = manifest["totals"][split]
        assert isinstance(arrays["rgb"], np.memmap) and arrays["rgb"].dtype == np.uint8
        assert arrays["rgb"].shape == (n, 3, FRAMES, SIZE, SIZE)
        assert arrays["depth"].shape == (n, 1, FRAMES, SIZE, SIZE) and arrays["depth"].dtype == np.uint8
        assert arrays["labels"].dtype == np.int64 and arrays["lengths"].dtype == np.int64
        for i, name in enumerate(manifest["clips"][split]):
            assert arrays["labels"][i] == listed[name].label
            assert manifest["classes"][arrays["labels"][i]] == name.split("/")[1]
    # the stored frames are the clip's range, decoded and resized; after its length, zeros
    arrays = nv.load_split(out, "test")
    i = next(i for i, length in enumerate(arrays["lengths"]) if length == FRAMES // 2)
    clip = listed[manifest["clips"]["test"][i]]
    c = clip.sensors["color"]
    rgb = nv.read_frames(clip.video(tree, "color"), c.start, c.end, SIZE)
    assert np.array_equal(arrays["rgb"][i, :, :FRAMES // 2], rgb.transpose(3, 0, 1, 2))
    assert not arrays["rgb"][i, :, FRAMES // 2:].any() and not arrays["depth"][i, :, FRAMES // 2:].any()


def test_manifest_sha256_and_no_temporary_files(prepared):
    out, manifest = prepared
    assert set(manifest["sha256"]) == {f"{s}_{k}.npy" for s in nv.SPLITS for k in ("rgb", "depth", "lengths", "labels")}
    for name, digest in manifest["sha256"].items():
        assert fileio.sha256(out / name) == digest
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_mismatched_ranges_use_the_colour_range_for_both(tree, prepared):
    out, manifest = prepared
    name = "Video_data/class_01/subject1_r0"
    clip = _clips(tree, "train")[name]
    (entry,) = manifest["mismatched_ranges"]
    c, d = clip.sensors["color"], clip.sensors["depth"]
    assert entry == {"clip": name, "split": entry["split"], "color": [c.start, c.end],
                     "depth": [d.start, d.end], "used": "color"} and d.start == c.start + 3
    split = entry["split"]
    i = manifest["clips"][split].index(name)
    stored = nv.load_split(out, split)["depth"][i, 0]
    video = clip.video(tree, "depth")
    assert np.array_equal(stored, nv.read_frames(video, c.start, c.end, SIZE, depth=True))
    assert not np.array_equal(stored, nv.read_frames(video, d.start, d.end, SIZE, depth=True))


def test_validation_split_is_seeded_and_disjoint(tree, prepared, tmp_path):
    _, manifest = prepared
    train, val = set(manifest["clips"]["train"]), set(manifest["clips"]["val"])
    assert not train & val and train | val == set(_clips(tree, "train"))
    keep, held = nv.validation_split(12, 0.2, 0)
    assert {list(_clips(tree, "train"))[i] for i in held} == val  # indices into the list's order
    assert nv.validation_split(12, 0.2, 0) != nv.validation_split(12, 0.2, 1)
    keep, held = nv.validation_split(1050, 0.2, 0)  # the real training list: 840 / 210
    assert (len(keep), len(held)) == (840, 210) and sorted(keep + held) == list(range(1050))


def test_corrupt_and_missing_videos_are_reported_and_skipped(tree, tmp_path):
    root = shutil.copytree(tree, tmp_path / "nvgesture")
    train = list(_clips(root, "train").values())
    garbage, truncated, missing = train[4], train[7], _clips(root, "test")["Video_data/class_03/subject5_r0"]
    garbage.video(root, "depth").write_bytes(b"\x00not a video\xff" * 50)
    data = truncated.video(root, "color").read_bytes()
    truncated.video(root, "color").write_bytes(data[:len(data) // 3])
    missing.video(root, "color").unlink()
    manifest = nv.prepare(root, tmp_path / "out", size=SIZE, frames=T, crop=CROP, seed=0, workers=1)
    failed = {f["clip"]: f for f in manifest["failed"]}
    assert set(failed) == {garbage.name, truncated.name, missing.name}
    assert str(garbage.video(root, "depth")) in failed[garbage.name]["reason"]
    assert "cannot decode" in failed[garbage.name]["reason"]
    assert str(truncated.video(root, "color")) in failed[truncated.name]["reason"]
    assert "file missing" in failed[missing.name]["reason"] and failed[missing.name]["split"] == "test"
    assert failed[missing.name]["list"].startswith(str(root / nv.LIST_FILES["test"]) + ":")
    assert sum(manifest["totals"].values()) == 20 - 3 and sum(manifest["listed"].values()) == 20
    for split in nv.SPLITS:
        arrays = nv.load_split(tmp_path / "out", split)
        assert len(arrays["rgb"]) == len(arrays["labels"]) == manifest["totals"][split]
        assert not set(failed) & set(manifest["clips"][split])
        assert arrays["lengths"].min() > 0  # no empty row left where a clip was skipped


def test_missing_data_says_where_to_get_it_and_where_to_put_it(tmp_path):
    root = tmp_path / "nvgesture"
    with pytest.raises(nv.NVGestureMissing) as error:
        nv.prepare(root, tmp_path / "out")
    assert isinstance(error.value, DataMissing) and isinstance(error.value, nv.NVGestureError)
    message = str(error.value)
    assert str(root.resolve()) in message and nv.PAGE in message
    assert "nvGesture_v1.7z.001" in message and "7z x nvGesture_v1.7z.001" in message
    assert f"{root.resolve()}/Video_data/" in message and nv.LIST_FILES["test"] in message
    (root / "Video_data").mkdir(parents=True)
    (root / nv.LIST_FILES["train"]).write_text(EXAMPLE + "\n")
    with pytest.raises(nv.NVGestureMissing, match=f"{nv.LIST_FILES['test']} missing"):
        nv.prepare(root, tmp_path / "out")
    data = {"source": "nvgesture", "root": str(root), "out_dir": str(tmp_path / "out")}
    with pytest.raises(nv.NVGestureMissing, match="cannot fetch NVGesture"):
        nv.prepare_data(data, tmp_path / "out", download=True)
    assert not (tmp_path / "out").exists()


def test_archive_unpacked_into_its_own_folder_is_found(tree, tmp_path):
    root = tmp_path / "nvgesture"
    shutil.copytree(tree, root / "nvGesture_v1")
    assert nv.find_root(root) == root / "nvGesture_v1"


# ----------------------------------------------------------------------------------------------
# batches

def test_window_pads_short_clips_on_both_sides():
    assert nv.window(80, 64, None) == (8, 64, 0)       # evaluation: centred
    assert nv.window(80, 64, 16) == (16, 64, 0)        # training: the drawn start
    assert nv.window(40, 64, None) == (0, 40, 12)      # 12 black frames before, 12 after
    assert nv.window(41, 64, 5) == (0, 41, 11)         # the odd frame after


def test_loader_shapes_range_and_splits(prepared):
    out, manifest = prepared
    splits = registry.load_splits("nvgesture", out, ["rgb", "depth"], 4, 8, 0)
    assert splits.num_classes == CLASSES and splits.in_channels == [3, 1] and not splits.val_is_test
    assert [len(b.split["label"]) for b in (splits.train, splits.train_eval, splits.val, splits.test)] == [
        manifest["totals"]["train"]] * 2 + [manifest["totals"]["val"], manifest["totals"]["test"]]
    assert len(splits.train) == 3 and len(splits.test) == 1
    seen = []
    for (rgb, depth), labels in splits.train:
        assert rgb.dtype == depth.dtype == torch.float32 and labels.dtype == torch.int64
        assert rgb.shape == (len(labels), 3, T, CROP, CROP) and depth.shape == (len(labels), 1, T, CROP, CROP)
        assert rgb.min() >= -1 and rgb.max() <= 1 and depth.min() >= -1 and depth.max() <= 1
        seen += labels.tolist()
    assert sorted(seen) == sorted(splits.train.split["label"].tolist())
    (only_depth,), labels = next(iter(registry.load_splits("nvgesture", out, ["depth"], 4, 8, 0).test))
    assert only_depth.shape == (8, 1, T, CROP, CROP)
    with pytest.raises(ValueError, match="unknown nvgesture modalities"):
        nv.load_splits(out, ["rgb", "flow"], 4, 8, 0)
    held = registry.carve_holdout(splits, 0.25, seed=0)  # subset() works for held-out parts
    assert len(held.holdout.split["label"]) + len(held.train.split["label"]) == manifest["totals"]["train"]


def _batches(loader, epoch=0):
    loader.set_epoch(epoch)
    return [([x.clone() for x in views], labels) for views, labels in loader]


def _same(a, b):
    return all(torch.equal(x, y) for (va, la), (vb, lb) in zip(a, b) for x, y in zip([*va, la], [*vb, lb]))


def test_batches_are_seeded_by_seed_and_epoch(prepared):
    out, _ = prepared
    first = nv.load_splits(out, ["rgb", "depth"], 4, 8, seed=0)["train"]
    again = nv.load_splits(out, ["rgb", "depth"], 4, 8, seed=0)["train"]
    other = nv.load_splits(out, ["rgb", "depth"], 4, 8, seed=1)["train"]
    assert _same(_batches(first, 3), _batches(again, 3))      # a resumed run sees the same batches
    assert not _same(_batches(first, 3), _batches(first, 4))
    assert not _same(_batches(first, 3), _batches(other, 3))
    test = nv.load_splits(out, ["rgb", "depth"], 4, 8, seed=0)["test"]
    assert _same(_batches(test, 0), _batches(test, 5))        # evaluation: fixed


def test_short_clip_is_centred_between_black_frames(prepared):
    out, _ = prepared
    frames = 32
    test = nv.load_splits(out, ["rgb", "depth"], 4, 8, 0, frames=frames, crop=CROP)["test"]
    arrays = nv.load_split(out, "test")
    i = int(np.flatnonzero(arrays["lengths"] == FRAMES // 2)[0])
    (rgb, depth), _ = next(iter(test))
    pad = (frames - FRAMES // 2) // 2
    for x in (rgb[i], depth[i]):
        assert (x[:, :pad] == -1).all() and (x[:, pad + FRAMES // 2:] == -1).all()  # pixel 0
        assert (x[:, pad:pad + FRAMES // 2] > -1).any(dim=(0, 2, 3)).all()
    lo = (SIZE - CROP) // 2
    expected = torch.from_numpy(arrays["rgb"][i, :, :FRAMES // 2, lo:lo + CROP, lo:lo + CROP].astype(np.float32))
    assert torch.allclose(rgb[i, :, pad:pad + FRAMES // 2], expected / 127.5 - 1)


def _pattern(n=6, length=20, size=12):
    """rgb channel 0 and depth hold the column (x * 20), rgb channel 1 the row, channel 2 the
    frame number: where a crop came from, and whether it was flipped, shows in the values."""
    t, y, x = np.meshgrid(np.arange(length), np.arange(size), np.arange(size), indexing="ij")
    rgb = np.stack([x * 20, y * 20, t * 10]).astype(np.uint8)
    rgb = np.repeat(rgb[None], n, axis=0)
    depth = rgb[:, :1].copy()
    return {"rgb": rgb, "depth": depth}, np.full(n, length), np.arange(n) % 3


def test_one_crop_shared_by_frames_and_modalities_and_flipped_together():
    arrays, lengths, labels = _pattern()
    crop, frames = 8, 10
    loader = nv.Batches(arrays, lengths, labels, ["rgb", "depth"], 6, frames, crop,
                        shuffle=True, augment=True, seed=0)
    flips, corners, starts = set(), set(), set()
    for epoch in range(4):
        loader.set_epoch(epoch)
        (rgb, depth), _ = next(iter(loader))
        pixels = torch.round((torch.cat([rgb, depth], 1) + 1) * 127.5).long()
        for clip in pixels:
            column, row, frame, column_depth = clip[0], clip[1], clip[2], clip[3]
            assert torch.equal(column, column_depth)                     # same crop, same flip
            assert (column == column[:1]).all() and (row == row[:1]).all()  # static over time
            xs, ys = column[0, 0] // 20, row[0, :, 0] // 20
            assert torch.equal(ys, ys[0] + torch.arange(crop))         # rows in order, never flipped
            flipped = bool(xs[0] > xs[-1])
            assert torch.equal(xs, xs[0] + (-1 if flipped else 1) * torch.arange(crop))
            t = frame[:, 0, 0] // 10
            assert torch.equal(t, t[0] + torch.arange(frames))          # consecutive frames
            flips.add(flipped)
            corners.add((int(ys[0]), int(xs.min())))
            starts.add(int(t[0]))
    assert flips == {True, False} and len(corners) > 3 and len(starts) > 3
    evaluation = nv.Batches(arrays, lengths, labels, ["rgb", "depth"], 6, frames, crop)
    (rgb, depth), _ = next(iter(evaluation))
    pixels = torch.round((rgb + 1) * 127.5).long()
    assert (pixels[:, 0, :, 0, 0] == 2 * 20).all() and (pixels[:, 1, :, 0, 0] == 2 * 20).all()  # centre
    assert (pixels[:, 2, :, 0, 0] == (5 + torch.arange(frames)) * 10).all()                    # centred in time


def test_identical_copies_get_their_own_tensors():
    arrays, lengths, labels = _pattern(n=2)
    (a, b), _ = next(iter(nv.Batches(arrays, lengths, labels, ["rgb", "rgb"], 2, 4, 8)))
    assert torch.equal(a, b) and a.data_ptr() != b.data_ptr()


# ----------------------------------------------------------------------------------------------
# the data-set interface

def test_fixture_source_writes_once_and_rewrites_when_its_parameters_change(tmp_path):
    fixture = {"classes": 2, "subjects": [2, 1], "frames": 12, "size": [64, 48], "seed": 0}
    data = {"source": "fixture", "root": str(tmp_path / "fx"), "out_dir": str(tmp_path / "prepared"),
            "size": 16, "frames": 8, "crop": 12, "validation_fraction": 0.25, "fixture": fixture}
    first = nv.prepare_data(data, tmp_path / "a")
    assert first["totals"] == {"train": 3, "val": 1, "test": 2} and first["size"] == 16
    assert first["params"]["frames"] == 8 and first["params"]["crop"] == 12
    marker = (tmp_path / "fx" / nv.FIXTURE_MARKER).stat().st_mtime_ns
    nv.prepare_data(data, tmp_path / "b")
    assert (tmp_path / "fx" / nv.FIXTURE_MARKER).stat().st_mtime_ns == marker  # reused
    bigger = {**data, "fixture": {**fixture, "subjects": [3, 1]}}
    assert sum(nv.prepare_data(bigger, tmp_path / "c")["totals"].values()) == 8  # rewritten, not mixed
    assert nv.identity(data) != nv.identity(bigger)
    assert nv.identity({**data, "root": "/elsewhere", "out_dir": "/x"}) == nv.identity(data)
    real = {**data, "source": "nvgesture"}
    assert "fixture" not in nv.identity(real) and nv.identity(real) == nv.identity({**real, "fixture": {}})
    assert registry.data_dir({"data": {"nvgesture": data}}, "nvgesture").parent == tmp_path / "prepared"
    code = registry.code_files("nvgesture")  # the package's every module: an edit re-runs its jobs
    assert {f"data/nvgesture/{m}.py" for m in ("__init__", "lists", "extraction", "loader", "fixture")} <= set(code)
    assert "data/batches.py" in code and not any("modelnet40" in f or "cmnist" in f for f in code)
