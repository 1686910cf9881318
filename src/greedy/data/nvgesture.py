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
"""
from __future__ import annotations

import os
import random
import re
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Iterator, Mapping, Sequence

import av
from av.video.reformatter import VideoReformatter
import numpy as np
import torch
from tqdm import tqdm

from greedy import io
from greedy.data import FIXTURE_MARKER, DataMissing, ensure_fixture

PAGE = ("https://research.nvidia.com/publication/2016-06_online-detection-and-classification-"
        "dynamic-hand-gestures-recurrent-3d-convolutional")
ARCHIVE_PARTS = "nvGesture_v1.7z.001, nvGesture_v1.7z.002, ..."
VIDEO_DIR = "Video_data"
LIST_FILES = {"train": "nvgesture_train_correct_cvpr2016_v2.lst",
              "test": "nvgesture_test_correct_cvpr2016_v2.lst"}
NUM_CLASSES = 25
CLIP_FRAMES = 80            # the reference reader keeps at most 80 frames of a clip's range
SPLITS = ("train", "val", "test")
MODALITIES = {"rgb": ("color", 3), "depth": ("depth", 1)}  # name -> (.lst sensor, channels)
PAD_PIXEL = 0               # missing frames are black, as the reference reader's zeroed buffer
_UMASK = os.umask(0)
os.umask(_UMASK)
DEFAULTS = {"size": 256, "frames": 64, "crop": 224, "validation_fraction": 0.2, "seed": 0}


class NVGestureError(RuntimeError):
    """The data is unusable as it is: a malformed list file, an impossible parameter."""


class NVGestureMissing(NVGestureError, DataMissing):
    """Video_data/ or a list file is not under the root (and the data set cannot be downloaded)."""


# ----------------------------------------------------------------------------------------------
# the list files

@dataclass(frozen=True)
class Sensor:
    stem: str     # the video's file name without ".avi", e.g. sk_color
    start: int    # first frame of the gesture
    end: int      # one past its last frame: the clip is frames [start, end)

    @property
    def length(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class Clip:
    path: str                    # as in the list, e.g. ./Video_data/class_01/subject13_r0
    label: int                   # 0-based class (the list's label - 1)
    sensors: Mapping[str, Sensor] = field(default_factory=dict)  # color, depth, duo_left, ...
    source: str = ""             # list file and line number, for messages

    @property
    def class_number(self) -> int:
        """The list's 1-based label."""
        return self.label + 1

    @property
    def name(self) -> str:
        """The clip's folder relative to the root, e.g. Video_data/class_01/subject13_r0."""
        return str(PurePosixPath(self.path))

    def video(self, root, sensor: str) -> Path:
        return Path(root) / self.name / f"{self.sensors[sensor].stem}.avi"

    @property
    def mismatched(self) -> bool:
        """Colour and depth ranges differ (three clips of the real lists)."""
        color, depth = self.sensors["color"], self.sensors["depth"]
        return (color.start, color.end) != (depth.start, depth.end)


_SENSOR = re.compile(r"^(?P<sensor>[A-Za-z][A-Za-z0-9_]*):(?P<stem>[^:\s]+):(?P<start>[^:]*):(?P<end>[^:]*)$")


def parse_line(line: str, where: str = "") -> Clip:
    """One list line -> Clip; NVGestureError naming `where` (file:line) when malformed."""
    def fail(why: str):
        raise NVGestureError(f"{where}: {why}: {line.strip()!r}")

    path = label = None
    sensors: dict[str, Sensor] = {}
    for token in line.split():
        key = token.split(":", 1)[0]
        if key in ("path", "label"):
            value = token[len(key) + 1:] if token.startswith(key + ":") else ""
            if not value:
                fail(f"field {token!r} has no value")
            if (path if key == "path" else label) is not None:
                fail(f"field {key} given twice")
            if key == "path":
                path = value
            else:
                try:
                    label = int(value)
                except ValueError:
                    fail(f"label {value!r} is not an integer")
            continue
        match = _SENSOR.match(token)
        if match is None:
            fail(f"field {token!r} is neither path:<folder>, label:<1..{NUM_CLASSES}> nor "
                 f"<sensor>:<file-stem>:<start>:<end>")
        if match["sensor"] in sensors:
            fail(f"sensor {match['sensor']} given twice")
        try:
            start, end = int(match["start"]), int(match["end"])
        except ValueError:
            fail(f"field {token!r}: start and end frames must be integers")
        if start < 0 or end < start:
            fail(f"field {token!r}: frames must satisfy 0 <= start <= end")
        sensors[match["sensor"]] = Sensor(match["stem"], start, end)
    missing = [k for k, v in (("path", path), ("label", label)) if v is None]
    missing += [s for s in ("color", "depth") if s not in sensors]
    if missing:
        fail(f"missing field(s) {', '.join(missing)}")
    if not 1 <= label <= NUM_CLASSES:
        fail(f"label {label} outside 1..{NUM_CLASSES}")
    posix = PurePosixPath(path)
    if posix.is_absolute() or ".." in posix.parts:
        fail(f"path {path!r} must be relative to the data root, without '..'")
    if sensors["color"].length == 0:
        fail("the colour range is empty")
    return Clip(path=path, label=label - 1, sensors=sensors, source=where)


def parse_list(path) -> list[Clip]:
    """Every clip of a list file, in file order; blank lines are skipped."""
    path = Path(path)
    clips = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if line.strip():
                clips.append(parse_line(line, f"{path}:{number}"))
    return clips


# ----------------------------------------------------------------------------------------------
# finding the data: it cannot be downloaded

def missing_message(root, missing: Sequence[str] = ()) -> str:
    root = Path(root).resolve()
    what = f" ({', '.join(missing)} missing)" if missing else ""
    return (f"NVGesture not found under {root}{what}. The data set is licence-gated and cannot be "
            f"downloaded by this pipeline: request it from NVIDIA with the form on the NVGesture page\n"
            f"  {PAGE}\n"
            f"download the parts {ARCHIVE_PARTS} into one folder, unpack them with\n"
            f"  7z x nvGesture_v1.7z.001\n"
            f"and put the contents (or link them) so that\n"
            f"  {root}/{VIDEO_DIR}/class_01/subject1_r0/sk_color.avi\n"
            f"  {root}/{LIST_FILES['train']}\n  {root}/{LIST_FILES['test']}\n"
            f"exist (the root is data.nvgesture.root in params.yaml), then run this step again.")


def _missing(root: Path) -> list[str]:
    return [name for name in (VIDEO_DIR + "/", *LIST_FILES.values())
            if not (root / name.rstrip("/")).exists()]


def find_root(root) -> Path:
    """`root`, or its one subfolder holding the data (an archive unpacked into a folder of its own);
    NVGestureMissing when neither holds Video_data/ and both list files."""
    root = Path(root)
    missing = _missing(root)
    if not missing:
        return root
    if root.is_dir():
        inside = [c for c in sorted(root.iterdir()) if c.is_dir() and not _missing(c)]
        if len(inside) == 1:
            return inside[0]
    raise NVGestureMissing(missing_message(root, missing))


def read_lists(root) -> dict[str, list[Clip]]:
    root = find_root(root)
    return {split: parse_list(root / name) for split, name in LIST_FILES.items()}


# ----------------------------------------------------------------------------------------------
# decoding

class ClipUnreadable(NVGestureError):
    """One video could not give the frames of its clip; `prepare` reports and skips it."""


def read_frames(path, start: int, end: int, size: int, depth: bool = False) -> np.ndarray:
    """Frames [start, end) of a video, each resized to size x size (bilinear, like OpenCV's
    default): uint8 [T, S, S, 3] in RGB order, or [T, S, S] for depth (channel 0 of BGR, as the
    reference reader). Decodes from the first frame (frame numbers count decoded frames, as
    OpenCV's CAP_PROP_POS_FRAMES) and stops at `end`; ClipUnreadable when the file is missing,
    does not decode, or ends before `end`."""
    path = Path(path)
    if not path.is_file():
        raise ClipUnreadable(f"{path}: file missing")
    frames, decoded = [], 0
    reformatter = VideoReformatter()  # one scaler for all frames: a new one per frame is 4x slower
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise ClipUnreadable(f"{path}: no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for index, frame in enumerate(container.decode(stream)):
                if index >= end:
                    break
                decoded = index + 1
                if index >= start:
                    array = reformatter.reformat(frame, width=size, height=size, interpolation="BILINEAR",
                                                 format="bgr24" if depth else "rgb24").to_ndarray()
                    frames.append(array[..., 0] if depth else array)
    except ClipUnreadable:
        raise
    except (av.FFmpegError, OSError, ValueError, RuntimeError) as error:
        raise ClipUnreadable(f"{path}: cannot decode: {type(error).__name__}: {error}") from error
    if len(frames) < end - start:
        raise ClipUnreadable(f"{path}: frames [{start}, {end}) asked, but only {decoded} frames "
                             f"decode")
    return np.stack(frames) if frames else np.zeros((0, size, size) + (() if depth else (3,)), np.uint8)


def read_clip(root, clip: Clip, size: int, max_frames: int = CLIP_FRAMES) -> tuple[np.ndarray, np.ndarray]:
    """(rgb [3, T, S, S], depth [1, T, S, S]) uint8 of one clip, both over the colour range
    (its first `max_frames` frames)."""
    color = clip.sensors["color"]
    end = color.start + min(color.length, max_frames)
    rgb = read_frames(clip.video(root, "color"), color.start, end, size)
    depth = read_frames(clip.video(root, "depth"), color.start, end, size, depth=True)
    return rgb.transpose(3, 0, 1, 2), depth[None]


# ----------------------------------------------------------------------------------------------
# prepare: uint8 arrays per split, lengths, labels, manifest

def validation_split(n: int, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """(train, val) indices into the training list: a seeded shuffle of all n clips
    (`random.Random(seed)`), the first floor(fraction * n) validate; not stratified."""
    order = list(range(n))
    random.Random(seed).shuffle(order)
    n_val = int(np.floor(fraction * n))
    return sorted(order[n_val:]), sorted(order[:n_val])


def _save(path, array) -> None:
    with open(path, "wb") as f:  # a file object: np.save would append ".npy" to a name
        np.save(f, array)


def _temporary(out: Path, name: str) -> str:
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=out)
    os.close(fd)
    return tmp


def _decoded(root, clips: Sequence[Clip], size: int, max_frames: int, workers: int) -> Iterator:
    """(clip, (rgb, depth) or ClipUnreadable) in list order, decoded by `workers` threads
    (PyAV decodes without the GIL); at most 2 * workers clips wait in memory."""
    def one(clip):
        try:
            return read_clip(root, clip, size, max_frames)
        except ClipUnreadable as error:
            return error
    if workers <= 1:
        for clip in clips:
            yield clip, one(clip)
        return
    with ThreadPoolExecutor(workers) as pool:
        pending = []
        for clip in clips:
            pending.append((clip, pool.submit(one, clip)))
            if len(pending) >= 2 * workers:
                clip_, future = pending.pop(0)
                yield clip_, future.result()
        for clip_, future in pending:
            yield clip_, future.result()


def _write_split(root, out: Path, split: str, clips: Sequence[Clip], size: int, max_frames: int,
                 workers: int) -> tuple[dict, list[Clip], list[dict]]:
    """Decode a split into temporary files, then rename them; returns (files, kept clips, failures)."""
    longest = max([min(c.sensors["color"].length, max_frames) for c in clips], default=1)
    names = {k: f"{split}_{k}.npy" for k in ("rgb", "depth", "lengths", "labels")}
    tmp = {k: _temporary(out, names[k]) for k in ("rgb", "depth")}
    try:
        arrays = {k: np.lib.format.open_memmap(tmp[k], mode="w+", dtype=np.uint8,
                                               shape=(len(clips), MODALITIES[k][1], longest, size, size))
                  for k in tmp}
        kept, failed, lengths = [], [], []
        bar = tqdm(_decoded(root, clips, size, max_frames, workers), total=len(clips),
                   desc=f"nvgesture {split}", unit="clip")
        for clip, result in bar:
            if isinstance(result, ClipUnreadable):
                failed.append({"split": split, "clip": clip.name, "list": clip.source,
                               "reason": str(result)})
                continue
            rgb, depth = result
            k = len(kept)
            arrays["rgb"][k, :, :rgb.shape[1]] = rgb
            arrays["depth"][k, :, :depth.shape[1]] = depth
            kept.append(clip)
            lengths.append(rgb.shape[1])
        for k, array in arrays.items():
            array.flush()
            if len(kept) < len(clips):  # skipped clips: copy the kept rows to a file of their size
                smaller = _temporary(out, names[k])
                copy = np.lib.format.open_memmap(smaller, mode="w+", dtype=np.uint8,
                                                 shape=(len(kept), *array.shape[1:]))
                for i in range(len(kept)):
                    copy[i] = array[i]
                copy.flush()
                del copy
                os.replace(smaller, tmp[k])
        del arrays, array
        for k in tmp:  # a temporary name in `out`, then one rename: a killed job leaves no half-file
            os.chmod(tmp[k], 0o666 & ~_UMASK)  # mkstemp creates 0600
            os.replace(tmp[k], out / names[k])
    finally:
        for path in tmp.values():
            if os.path.exists(path):
                os.unlink(path)
    io.atomic_write(out / names["lengths"], lambda t: _save(t, np.array(lengths, dtype=np.int64)))
    io.atomic_write(out / names["labels"], lambda t: _save(t, np.array([c.label for c in kept], dtype=np.int64)))
    return names, kept, failed


def prepare(root, out_dir, size: int = 256, validation_fraction: float = 0.2, seed: int = 0,
            frames: int = 64, crop: int = 224, max_frames: int = CLIP_FRAMES,
            workers: int | None = None) -> dict:
    """Decode every clip of both lists into {train,val,test}_{rgb,depth,lengths,labels}.npy and
    manifest.json in `out_dir`; return the manifest. `frames` and `crop` shape nothing stored: they
    are recorded as the loader's defaults. A clip whose video is missing or does not decode is
    listed in the manifest's `failed` and left out. workers: decoding threads (None: up to 4)."""
    if not 0 < crop <= size:
        raise ValueError(f"crop {crop} must be in 1..size ({size})")
    if frames < 1 or max_frames < 1:
        raise ValueError(f"frames ({frames}) and max_frames ({max_frames}) must be positive")
    if not 0 <= validation_fraction < 1:
        raise ValueError(f"validation_fraction {validation_fraction} must be in [0, 1)")
    root, out = find_root(root), Path(out_dir)
    lists = read_lists(root)
    keep, held = validation_split(len(lists["train"]), validation_fraction, seed)
    clips = {"train": [lists["train"][i] for i in keep], "val": [lists["train"][i] for i in held],
             "test": lists["test"]}
    number = max(c.class_number for split in SPLITS for c in clips[split])
    classes = [f"class_{k:02d}" for k in range(1, number + 1)]
    workers = min(4, os.cpu_count() or 1) if workers is None else max(1, int(workers))

    out.mkdir(parents=True, exist_ok=True)
    (out / "manifest.json").unlink(missing_ok=True)  # stale until every array below is rewritten
    files, kept, failed = {}, {}, []
    for split in SPLITS:
        files[split], kept[split], lost = _write_split(root, out, split, clips[split], size,
                                                       max_frames, workers)
        failed += lost
    lengths = {s: np.load(out / files[s]["lengths"]) for s in SPLITS}

    def ranges(c: Clip) -> dict:
        return {s: [c.sensors[s].start, c.sensors[s].end] for s in ("color", "depth")}

    manifest = {
        "dataset": "nvgesture",
        "source": str(root),
        "classes": classes,
        "modalities": {m: {"sensor": s, "channels": ch} for m, (s, ch) in MODALITIES.items()},
        "layout": ("rgb [N, 3, T, S, S] uint8 (RGB), depth [N, 1, T, S, S] uint8 (channel 0 of BGR), "
                   "lengths [N] int64 (frames [0, length) are the clip, the rest zeros), "
                   "labels [N] int64 (0-based)"),
        "size": size,
        "stored_frames": {s: int(np.load(out / files[s]["rgb"], mmap_mode="r").shape[2]) for s in SPLITS},
        "frames_per_clip": {s: {str(n): int(k) for n, k in zip(*np.unique(lengths[s], return_counts=True))}
                            for s in SPLITS},
        "counts": {s: {c: sum(1 for clip in kept[s] if clip.label == k) for k, c in enumerate(classes)}
                   for s in SPLITS},
        "totals": {s: len(kept[s]) for s in SPLITS},
        "listed": {s: len(clips[s]) for s in SPLITS},
        "files": files,
        "sha256": {f: io.sha256(out / f) for s in SPLITS for f in files[s].values()},
        "clips": {s: [c.name for c in kept[s]] for s in SPLITS},
        "mismatched_ranges": [{"clip": c.name, "split": s, **ranges(c), "used": "color"}
                              for s in SPLITS for c in clips[s] if c.mismatched],
        "truncated": [{"clip": c.name, "split": s, "color": ranges(c)["color"], "kept": max_frames}
                      for s in SPLITS for c in clips[s] if c.sensors["color"].length > max_frames],
        "failed": failed,
        "params": {"size": size, "frames": frames, "crop": crop, "max_frames": max_frames,
                   "validation_fraction": validation_fraction, "seed": seed,
                   "validation": "random.Random(seed).shuffle of all training clips in list order; "
                                 "the first floor(fraction * n) validate; not stratified"},
    }
    io.write_json(out / "manifest.json", manifest)  # written last: its presence means complete
    return manifest


def read_manifest(data_dir) -> dict:
    path = Path(data_dir) / "manifest.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: prepare the NVGesture data first")
    return io.read_json(path)


def load_split(data_dir, split: str) -> dict[str, np.ndarray]:
    """{"rgb", "depth"} (memory-mapped uint8), "lengths", "labels" of a prepared split."""
    files = read_manifest(data_dir)["files"][split]
    data_dir = Path(data_dir)
    return {k: np.load(data_dir / f, mmap_mode="r" if k in MODALITIES else None) for k, f in files.items()}


# ----------------------------------------------------------------------------------------------
# batches for training: a temporal window and one static crop per clip

def window(length: int, frames: int, random_start: int | None) -> tuple[int, int, int]:
    """(first stored frame, frames taken, offset in the output) of a clip of `length` frames:
    a clip at least `frames` long gives `frames` consecutive ones from `random_start` (training)
    or centred (evaluation, random_start None); a shorter one is centred in the output and padded
    on both sides (the extra frame, if odd, after)."""
    if length >= frames:
        start = (length - frames) // 2 if random_start is None else random_start
        return start, frames, 0
    return 0, length, (frames - length) // 2


class Batches:
    """([one float tensor [B, C, T, crop, crop] per modality], labels) over a prepared split, read
    from the memory-mapped arrays batch by batch. Per clip: `frames` consecutive frames (a random
    start when training, centred otherwise; a shorter clip is centred between black frames), one
    crop x crop window at the same place in every frame and every modality (random place and a
    horizontal flip with probability 1/2 when training, shared by the modalities; the centre
    otherwise). Pixels are scaled to [-1, 1] (x / 127.5 - 1), the input range of the
    Kinetics-trained I3D weights; padding frames are black, i.e. -1. The order, windows, crops and
    flips of epoch e come from seed (seed, e), so a resumed run sees the same batches."""

    def __init__(self, arrays: Mapping[str, np.ndarray], lengths, labels, modalities: Sequence[str],
                 batch_size: int, frames: int = 64, crop: int = 224, shuffle: bool = False,
                 augment: bool = False, seed: int = 0, index=None):
        for m in modalities:
            if m not in arrays:
                raise ValueError(f"unknown nvgesture modality {m!r}; use {sorted(MODALITIES)}")
        self.arrays, self.modalities = dict(arrays), list(modalities)
        self.lengths, self.labels = np.asarray(lengths), np.asarray(labels)
        size = next(iter(self.arrays.values())).shape[-1]
        if not 0 < crop <= size:
            raise ValueError(f"crop {crop} must be in 1..{size} (the prepared frame size)")
        self.index = np.arange(len(self.labels)) if index is None else np.asarray(index)
        self.split = {"label": torch.as_tensor(self.labels[self.index])}
        self.batch_size, self.frames, self.crop, self.size = batch_size, frames, crop, size
        self.shuffle, self.augment, self.seed = shuffle, augment, seed
        self.epoch = 0

    def __len__(self) -> int:
        return -(-len(self.index) // self.batch_size)

    def subset(self, index, batch_size: int, shuffle: bool = False) -> "Batches":
        """Batches over the samples `index` (positions in this one), e.g. a held-out part."""
        return Batches(self.arrays, self.lengths, self.labels, self.modalities, batch_size,
                       self.frames, self.crop, shuffle=shuffle, augment=self.augment and shuffle,
                       seed=self.seed, index=self.index[np.asarray(index)])

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _draw(self, length: int, generator: torch.Generator) -> tuple:
        """(temporal start or None, top, left, flip) of one clip."""
        span = self.size - self.crop
        if not self.augment:
            return None, span // 2, span // 2, False
        draws = torch.randint(0, 1 << 30, (4,), generator=generator).tolist()
        start = draws[0] % (length - self.frames + 1) if length >= self.frames else None
        return start, draws[1] % (span + 1), draws[2] % (span + 1), bool(draws[3] % 2)

    def __iter__(self):
        n = len(self.index)
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        order = torch.randperm(n, generator=generator) if self.shuffle else torch.arange(n)
        c = self.crop
        for first in range(0, n, self.batch_size):
            batch = order[first:first + self.batch_size]
            rows = self.index[batch.numpy()]
            # uint8 until the whole batch is cut: one conversion to float per batch and modality
            cut = {m: np.full((len(rows), self.arrays[m].shape[1], self.frames, c, c), PAD_PIXEL, np.uint8)
                   for m in set(self.modalities)}
            for i, row in enumerate(rows):
                length = int(self.lengths[row])
                start, top, left, flip = self._draw(length, generator)
                t0, taken, offset = window(length, self.frames, start)
                for m, block in cut.items():
                    x = self.arrays[m][row, :, t0:t0 + taken, top:top + c, left:left + c]
                    block[i, :, offset:offset + taken] = x[..., ::-1] if flip else x
            # [0, 255] -> [-1, 1]: the input range of the Kinetics-trained I3D weights
            out = {m: torch.from_numpy(block).float().div_(127.5).sub_(1) for m, block in cut.items()}
            seen = set()  # a modality named twice (identical copies) gets its own tensor each time
            views = [out[m] if m not in seen and not seen.add(m) else out[m].clone()
                     for m in self.modalities]
            yield views, self.split["label"][batch]


def load_splits(data_dir, modalities: Sequence[str], batch_size: int, eval_batch_size: int, seed: int,
                frames: int | None = None, crop: int | None = None) -> dict:
    """The fields of greedy.data.Splits for a prepared NVGesture folder; `frames` and `crop`
    default to the values the manifest recorded from the data parameters (64 and 224)."""
    manifest = read_manifest(data_dir)
    frames = manifest["params"]["frames"] if frames is None else frames
    crop = manifest["params"]["crop"] if crop is None else crop
    unknown = [m for m in modalities if m not in MODALITIES]
    if unknown:
        raise ValueError(f"unknown nvgesture modalities {unknown}; use {sorted(MODALITIES)}")
    splits = {s: load_split(data_dir, s) for s in SPLITS}

    def batches(split, size, train=False):
        d = splits[split]
        return Batches({m: d[m] for m in MODALITIES}, d["lengths"], d["labels"], modalities, size,
                       frames, crop, shuffle=train, augment=train, seed=seed)
    return {"train": batches("train", batch_size, train=True),
            "train_eval": batches("train", eval_batch_size),
            "val": batches("val", eval_batch_size),
            "test": batches("test", eval_batch_size),
            "val_is_test": False, "num_classes": len(manifest["classes"]),
            "in_channels": [MODALITIES[m][1] for m in modalities]}


# ----------------------------------------------------------------------------------------------
# fixture: a small tree in the exact NVGesture layout with class-dependent motion

FIXTURE = {"classes": 4, "subjects": [3, 2], "seed": 0, "frames": 80, "size": [320, 240]}


def _write_video(path: Path, frames: Sequence[np.ndarray], fps: int = 30) -> None:
    """uint8 frames, RGB [H, W, 3] or gray [H, W] (stored with neutral chroma, as a gray video) ->
    an MPEG-4 part 2 .avi (PyAV's bundled ffmpeg encodes and decodes it)."""
    def write(tmp):
        with av.open(tmp, "w", format="avi") as container:
            stream = container.add_stream("mpeg4", rate=fps)
            stream.height, stream.width = frames[0].shape[:2]
            stream.pix_fmt = "yuv420p"
            stream.options = {"qscale": "3"}
            reformatter = VideoReformatter()  # one colour converter for all frames (faster)
            chroma = np.full((stream.height // 2, stream.width), 128, np.uint8)
            for image in frames:
                if image.ndim == 2:  # gray: the luma plane itself, in video range 16..235
                    luma = (16 + image.astype(np.uint16) * 219 // 255).astype(np.uint8)
                    frame = av.VideoFrame.from_ndarray(np.concatenate([luma, chroma]), format="yuv420p")
                else:
                    frame = reformatter.reformat(av.VideoFrame.from_ndarray(image, format="rgb24"),
                                                 format="yuv420p")
                container.mux(stream.encode(frame))
            container.mux(stream.encode())
    io.atomic_write(path, write)


def fixture_clip(label: int, n_classes: int, length: int, before: int, after: int,
                 size: tuple[int, int], rng: np.random.Generator) -> tuple[list, list]:
    """(rgb frames [H, W, 3], depth frames [H, W]) uint8 of one recording: a disc that rests `before`
    frames, moves for `length` frames in the class's direction (angle 2 pi label / classes) while
    coming nearer (brighter in depth, larger), then rests `after` frames. The RGB disc has the
    class's colour (a cue a small model learns in a few epochs: RGB carries the class plainly,
    depth only through the motion, so the pair is imbalanced as the paper's modalities are); a
    noisy textured background hides nothing."""
    width, height = size
    angle = 2 * np.pi * label / n_classes
    direction = np.array([np.cos(angle), np.sin(angle)])
    centre = np.array([width / 2, height / 2]) + rng.normal(0, 10, 2)
    travel = 0.3 * min(width, height)
    primaries = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [1, 0, 1], [0, 1, 1]])
    hue = 20 + 200 * primaries[label % len(primaries)]  # distinct for up to 6 classes
    background = rng.integers(30, 90, (height, width, 3)).astype(np.float32)
    # sensor noise from a small bank of noisy backgrounds, cycled: drawing fresh noise for every
    # frame would make the fixture several times slower to write
    noise = rng.normal(0, 6, (4, height, width, 3)).astype(np.float32)
    scenes = (background + noise).clip(0, 255).astype(np.uint8)
    far = (40 + noise[..., 0] * 0.7).clip(0, 255).astype(np.uint8)
    colour = (hue + 40).clip(0, 255).astype(np.uint8)
    rgb, depth = [], []
    for t in range(before + length + after):
        progress = np.clip((t - before) / max(1, length - 1), 0, 1)
        x, y = centre + (progress - 0.5) * travel * direction
        radius = 40 + 16 * progress
        top, left = max(0, int(y - radius)), max(0, int(x - radius))  # the disc's bounding box
        yy, xx = np.ogrid[top:min(height, int(y + radius) + 2), left:min(width, int(x + radius) + 2)]
        disc = (xx - x) ** 2 + (yy - y) ** 2 <= radius ** 2
        box = (slice(top, top + disc.shape[0]), slice(left, left + disc.shape[1]))
        frame = scenes[t % 4].copy()
        frame[box][disc] = colour
        rgb.append(frame)
        near = far[(t + 1) % 4].copy()
        near[box][disc] = int(120 + 120 * progress)  # nearer = brighter
        depth.append(near)
    return rgb, depth


def make_fixture(root, classes: int = FIXTURE["classes"], subjects: Sequence[int] = FIXTURE["subjects"],
                 seed: int = FIXTURE["seed"], frames: int = FIXTURE["frames"],
                 size: Sequence[int] = FIXTURE["size"]) -> Path:
    """Write <root>/Video_data/class_XX/subjectS_r0/{sk_color,sk_depth}.avi (size = width, height)
    for `classes` classes, subjects[0] training and subjects[1] test subjects, and the two list
    files in the real format (colour, depth and duo_left fields, 1-based labels). Each gesture is
    `frames` frames inside a longer recording, except two clips: class_01's first training clip,
    whose depth range starts 3 frames after its colour range, and class_02's first test clip, whose
    range is frames // 2 frames long. FIXTURE.json, written last, records the parameters."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    size = (int(size[0]), int(size[1]))
    n_train, n_test = (int(s) for s in subjects)
    lines = {"train": [], "test": []}
    for label in range(classes):
        for number in range(1, n_train + n_test + 1):
            split = "train" if number <= n_train else "test"
            folder = f"{VIDEO_DIR}/class_{label + 1:02d}/subject{number}_r0"
            length = frames // 2 if (label, number) == (1, n_train + 1) else frames
            before, after = int(rng.integers(1, 5)), 2
            shift = 3 if (label, number) == (0, 1) else 0  # depth's range starts later
            rgb, depth = fixture_clip(label, classes, length, before, after + shift, size, rng)
            _write_video(root / folder / "sk_color.avi", rgb)
            _write_video(root / folder / "sk_depth.avi", depth)
            start, end = before, before + length
            duo = int(rng.integers(10, 30))
            lines[split].append(f"path:./{folder} depth:sk_depth:{start + shift}:{end + shift} "
                                f"color:sk_color:{start}:{end} duo_left:duo_left:{start + duo}:"
                                f"{end + duo + int(rng.integers(0, 15))} label:{label + 1}")
    for split, name in LIST_FILES.items():
        io.write_text(root / name, "\n".join(lines[split]) + "\n")
    io.write_json(root / FIXTURE_MARKER, {"classes": classes, "subjects": [n_train, n_test],
                                          "seed": seed, "frames": frames, "size": list(size)})
    return root


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


def prepare_data(data: dict, out, download: bool = False) -> dict:
    """Prepare the user's copy under `data["root"]` into `out`; with `source: fixture`, first write
    the fixture tree to `root` (the smoke run's data). NVGesture cannot be downloaded: when it is
    missing, NVGestureMissing says where to request it and where to put it (download or not)."""
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
