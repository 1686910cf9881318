"""The NVGesture fixture: a small tree in the exact NVGesture layout (real .avi files, real list
files) with class-dependent motion, for tests and the smoke run."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import av
from av.video.reformatter import VideoReformatter
import numpy as np

from greedy import fileio
from greedy.data import FIXTURE_MARKER
from greedy.data.nvgesture.lists import LIST_FILES, VIDEO_DIR

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
    fileio.atomic_write(path, write)


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
        fileio.write_text(root / name, "\n".join(lines[split]) + "\n")
    fileio.write_json(root / FIXTURE_MARKER, {"classes": classes, "subjects": [n_train, n_test],
                                          "seed": seed, "frames": frames, "size": list(size)})
    return root
