"""NVGesture's layout and list files: where the data set is, what its lists say, and the message
that says where to get it (it cannot be downloaded)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Mapping, Sequence

from greedy.data import DataMissing

PAGE = ("https://research.nvidia.com/publication/2016-06_online-detection-and-classification-"
        "dynamic-hand-gestures-recurrent-3d-convolutional")
ARCHIVE_PARTS = "nvGesture_v1.7z.001, nvGesture_v1.7z.002, ..."
VIDEO_DIR = "Video_data"
LIST_FILES = {"train": "nvgesture_train_correct_cvpr2016_v2.lst",
              "test": "nvgesture_test_correct_cvpr2016_v2.lst"}
NUM_CLASSES = 25
SPLITS = ("train", "val", "test")
MODALITIES = {"rgb": ("color", 3), "depth": ("depth", 1)}  # name -> (.lst sensor, channels)


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
