"""NVGesture as two modalities: the SoftKinetic colour (RGB) and depth videos (Molchanov et al. 2016).

The data set is licence-gated: NVIDIA sends it on request (a form on the NVGesture page), as the
parts `nvGesture_v1.7z.001, .002, ...`; `7z x nvGesture_v1.7z.001` unpacks them. This pipeline
never downloads it. The unpacked root holds

    Video_data/class_XX/subjectS_rR/sk_color.avi, sk_depth.avi (and other sensors: duo_left, ...)
    nvgesture_train_correct_cvpr2016_v2.lst     1,050 clips
    nvgesture_test_correct_cvpr2016_v2.lst        482 clips

with 25 classes, 320x240 frames. Each list line is one clip, space-separated fields:

    path:./Video_data/class_01/subject13_r0 depth:sk_depth:138:218 color:sk_color:138:218 duo_left:duo_left:161:254 label:1

(`sensor:file-stem:start:end`, frames [start, end) of `<path>/<file-stem>.avi`, label 1..25; it is
0-based here, `Clip.label`, with the list's 1-based number kept as `Clip.class_number`). The gesture
clips are 80 frames. Three clips have different start frames for colour and depth; like the paper,
this pipeline uses the colour (RGB) range for both videos of such a clip and lists them in the manifest.
The example reader that comes with the data set (`load_data_from_file`) reads frames [start, end)
with OpenCV into an 80-frame zeroed buffer, resizes each frame, and keeps channel 0 of the depth
frame, which OpenCV decodes as BGR; this module does the same with PyAV: depth is channel 0 of the
frame decoded as BGR, at most 80 frames are kept, and colour is kept in RGB order (the order of the
Kinetics-trained I3D weights; OpenCV would give BGR).

Paper (Wu et al. 2022): 64 consecutive frames per clip (zero-padded on both sides when
shorter), frames resized to 256x256, one static 224x224 crop shared by all frames and both
modalities, random crop and horizontal flip for training, centre crop for evaluation, 20 % of the
training clips held out for validation.

`prepare` decodes each clip's two videos once and stores per split (train, val, test)

    <split>_rgb.npy      uint8 [N, 3, T, S, S]   (channel-first, RGB; S = `size`, 256)
    <split>_depth.npy    uint8 [N, 1, T, S, S]
    <split>_lengths.npy  int64 [N]   frames stored per clip; frames after that are zeros
    <split>_labels.npy   int64 [N]   0-based classes
    manifest.json        classes, clips per class and split, sha256 of every array, the clips whose
                         colour and depth ranges differ, every clip that could not be decoded (path,
                         reason), and the loader's defaults `frames` and `crop`; written last

(T = the longest clip range, at most 80; about 32 GB at S = 256 for the whole data set). Arrays are
read with `np.load(mmap_mode="r")` at training time; `Batches` cuts the temporal window and the crop.
The validation rule: a seeded shuffle (`random.Random(seed)`) of all training clips in list order,
the first floor(fraction * n) validate (not stratified; the rule of the ModelNet40 module).
`make_fixture` writes a small tree in the same layout (real .avi files, real list files) for tests
and the smoke run.

Batches give the modalities "rgb" (3 channels) and "depth" (1 channel) as float [B, C, T, crop, crop],
pixels scaled to [-1, 1]; a clip shorter than T sits between black (pixel 0, i.e. -1) frames.

Data parameters (data.nvgesture): source (nvgesture: the user's copy at `root`; fixture: write the
fixture there first), root, out_dir, size (256), frames (64), crop (224), validation_fraction (0.2),
seed (0, the validation shuffle), fixture ({classes, subjects: [train, test], frames, size: [w, h],
seed}). `frames` and `crop` only set the loader's defaults, recorded in the manifest.

The package, one module per concept: lists.py (the layout, the list files, finding the root and
the message when it is missing), extraction.py (decoding, `prepare` and its manifest), loader.py
(a prepared folder's splits and `Batches`), fixture.py (`make_fixture`). This module is the
data-set interface (greedy/data/__init__.py) and names theirs as its own, e.g.
`greedy.data.nvgesture.prepare`.
"""
from __future__ import annotations

from pathlib import Path

# The modules by concept; their names are this package's, as when it was one module, imported on
# first use (lazy_exports).
from greedy.data import FIXTURE_MARKER, lazy_exports  # noqa: F401

__getattr__ = lazy_exports(__name__, {
    "extraction": ("CLIP_FRAMES", "ClipUnreadable", "prepare", "read_clip", "read_frames", "validation_split"),
    "fixture": ("FIXTURE", "fixture_clip", "make_fixture"),
    "lists": ("ARCHIVE_PARTS", "LIST_FILES", "MODALITIES", "NUM_CLASSES", "PAGE", "SPLITS", "VIDEO_DIR", "Clip",
              "NVGestureError", "NVGestureMissing", "Sensor", "find_root", "missing_message", "parse_line",
              "parse_list", "read_lists"),
    "loader": ("PAD_PIXEL", "Batches", "load_split", "load_splits", "read_manifest", "window"),
})

DEFAULTS = {"size": 256, "frames": 64, "crop": 224, "validation_fraction": 0.2, "seed": 0}


# ----------------------------------------------------------------------------------------------
# the data-set interface (greedy/data/__init__.py)

CODE = ()
MODEL_CODE = ("i3d.py",)  # its architecture's module: training code of its runs, not of its data
PATHS = ("root", "out_dir")  # where things are, not what the data is
# Clips per split of the real lists with the default 20 % validation (for cost projections).
PAPER_SPLIT_SIZES = {"train": 1050 - 210, "val": 210, "test": 482}


def identity(data: dict) -> dict:
    """The data.nvgesture parameters that shape the prepared arrays, without paths: size, frames,
    crop, validation split and the source (the user's copy, or a fixture with its parameters)."""
    identity = {k: v for k, v in data.items() if k not in PATHS}
    if data.get("source") != "fixture":
        identity.pop("fixture", None)
    return identity


def _param(data: dict, key: str):
    value = data.get(key)
    return DEFAULTS[key] if value is None else value


def missing(data: dict) -> str | None:
    """The message when the user's copy is not under data.nvgesture.root (it cannot be
    downloaded); None for the fixture, which the data job writes."""
    from greedy.data.nvgesture.lists import NVGestureMissing, find_root
    if data.get("source") == "fixture":
        return None
    try:
        find_root(data["root"])
    except NVGestureMissing as error:
        return (f"{error} (1,532 clips: 1,050 training and 482 test; prepared at size 256 they take "
                "about 32 GB)")
    return None


def prepare_data(data: dict, out, download: bool = False) -> dict:
    """Prepare the user's copy under `data["root"]` into `out`; with `source: fixture`, first write
    the fixture tree to `root` (the smoke run's data). NVGesture cannot be downloaded: when it is
    missing, NVGestureMissing says where to request it and where to put it (download or not)."""
    from greedy.data import ensure_fixture
    from greedy.data.nvgesture.extraction import prepare
    from greedy.data.nvgesture.fixture import FIXTURE, make_fixture
    from greedy.data.nvgesture.lists import NVGestureMissing, find_root
    root = Path(data["root"])
    if data.get("source") == "fixture":
        fixture = {**FIXTURE, **(data.get("fixture") or {})}
        fixture = {"classes": int(fixture["classes"]), "subjects": [int(s) for s in fixture["subjects"]],
                   "seed": int(fixture["seed"]), "frames": int(fixture["frames"]),
                   "size": [int(s) for s in fixture["size"]]}
        root = ensure_fixture(root, lambda written: written == fixture, lambda folder: make_fixture(folder, **fixture))
    else:
        try:
            root = find_root(root)
        except NVGestureMissing as error:
            if download:
                raise NVGestureMissing(f"--download cannot fetch NVGesture. {error}") from error
            raise
    return prepare(root, out, size=_param(data, "size"), frames=_param(data, "frames"),
                   crop=_param(data, "crop"), validation_fraction=_param(data, "validation_fraction"),
                   seed=_param(data, "seed"))
