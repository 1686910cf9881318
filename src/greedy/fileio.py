"""Atomic file writes: a killed job never leaves a half-written file that looks complete."""
from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable


_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """`write(tmp)` fills a temporary file beside `path`, which then replaces `path` in one rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the usual permissions
        os.replace(tmp, path)  # atomic on POSIX within one file system
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def write_text(path, text: str) -> Path:
    def write(tmp):
        with open(tmp, "w") as f:
            f.write(text)
    return atomic_write(path, write)


def write_json(path, obj: Any) -> Path:
    return write_text(path, json.dumps(obj, indent=2, sort_keys=True, allow_nan=True) + "\n")


def torch_save(path, obj: Any) -> Path:
    # Serialise in memory first: torch.save names the archive after the file, and the temporary
    # name would make identical content hash differently.
    buffer = io.BytesIO()
    import torch  # here: reading and writing JSON/CSV (collect, render) does not load torch
    torch.save(obj, buffer)

    def write(tmp):
        with open(tmp, "wb") as f:
            f.write(buffer.getbuffer())
    return atomic_write(path, write)


class CorruptFileError(ValueError):
    """A file that cannot be what was written: truncated, damaged or of another format."""


def torch_save_verified(path, obj: Any) -> Path:
    """torch_save with the serialised payload's sha256 beside it in the file: torch_load_verified
    then detects any damaged byte (a zip archive alone misses most flips inside tensor data)."""
    buffer = io.BytesIO()
    import torch
    torch.save(obj, buffer)
    blob = buffer.getvalue()
    return torch_save(path, {"format": "greedy-verified-1", "sha256": hashlib.sha256(blob).hexdigest(),
                             "payload": blob})


def torch_load_verified(path, map_location=None) -> Any:
    """The object torch_save_verified wrote; CorruptFileError naming the file if it is damaged."""
    import torch
    try:
        outer = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(outer, dict) or outer.get("format") != "greedy-verified-1":
            raise CorruptFileError(f"{path}: not a checksummed checkpoint")
        if hashlib.sha256(outer["payload"]).hexdigest() != outer["sha256"]:
            raise CorruptFileError(f"{path}: sha256 of the payload differs from the one recorded")
        return torch.load(io.BytesIO(outer["payload"]), map_location=map_location, weights_only=False)
    except CorruptFileError:
        raise
    except Exception as error:  # torn zip archive, unpickling error, missing key
        raise CorruptFileError(f"{path}: unreadable ({type(error).__name__}: {error})") from error


def write_csv(path, frame) -> Path:
    """Write a pandas DataFrame as CSV, atomically."""
    return atomic_write(path, lambda tmp: frame.to_csv(tmp, index=False))


def sha256(path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def read_json(path) -> Any:
    with open(path) as f:
        return json.load(f)
