"""Decoding NVGesture's videos and preparing them: uint8 arrays per split, lengths, labels and
the manifest (written last)."""
from __future__ import annotations

import os
import random
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator, Sequence

import av
from av.video.reformatter import VideoReformatter
import numpy as np
from tqdm import tqdm

from greedy import fileio
from greedy.data.nvgesture.lists import (MODALITIES, SPLITS, Clip, NVGestureError, find_root,
                                         read_lists)

CLIP_FRAMES = 80            # the reference reader keeps at most 80 frames of a clip's range
_UMASK = os.umask(0)
os.umask(_UMASK)


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
    fileio.atomic_write(out / names["lengths"], lambda t: _save(t, np.array(lengths, dtype=np.int64)))
    fileio.atomic_write(out / names["labels"], lambda t: _save(t, np.array([c.label for c in kept], dtype=np.int64)))
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
        "sha256": {f: fileio.sha256(out / f) for s in SPLITS for f in files[s].values()},
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
    fileio.write_json(out / "manifest.json", manifest)  # written last: its presence means complete
    return manifest
