"""Stable short hashes of parameters: a leaf module (it imports nothing of greedy), so that the
configuration (config.py) and the data registry (data/__init__.py) both use it without importing
each other."""
from __future__ import annotations

import hashlib
import json
from typing import Any


def short_hash(obj: Any, length: int = 8) -> str:
    """Stable short hash of a JSON-serialisable object (used in parameter-dependent paths)."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:length]
