"""One downloader for everything the pipeline fetches (pre-trained weights, data archives):
atomic (a temporary file beside the destination, then a rename, so no half-file survives) and
checked against its sha256 when one is known.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.request
from pathlib import Path


def download_verified(url: str, dest: str | os.PathLike, sha256: str | None = None, what: str = "the file",
                      timeout: float = 60.0) -> Path:
    """Download `url` to `dest` atomically (a temporary file in dest's folder, then a rename) and
    check its sha256 when given. Raises RuntimeError saying what to fetch and where to put it when
    the download fails, ValueError when the checksum disagrees (dest is then left untouched)."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    manual = (f"Download {url} on a machine with network access and put it at {dest}"
              + (f" (expected sha256 {sha256})" if sha256 else "") + ".")
    fd, tmp_name = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
                first = True
                while chunk := response.read(1 << 20):
                    if first and chunk.startswith(b"version https://git-lfs"):
                        raise RuntimeError(f"{url} returned a Git LFS pointer, not {what}")
                    first = False
                    digest.update(chunk)
                    out.write(chunk)
        except (OSError, RuntimeError) as exc:  # URLError, HTTPError and timeouts are OSErrors
            raise RuntimeError(f"could not download {what} from {url}: {exc}. "
                               f"{manual}") from exc
        got = digest.hexdigest()
        if sha256 is not None and got != sha256.lower():
            raise ValueError(f"sha256 of the file downloaded from {url} is {got}, expected {sha256}; "
                             f"{dest} was not written. {manual}")
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            tmp.unlink()
    return dest
