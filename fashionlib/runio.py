"""Run-folder I/O shared by every stage: atomic writes, metrics logs, RNG state.

Every file a stage writes goes through a temporary file in the same folder and
``os.replace``, so an interrupted run never leaves a half-written output.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np


def _atomic(path: Path, write: Callable[[Any], None], mode: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; return the path."""
    return _atomic(Path(path), lambda h: h.write(data), "wb")


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically; return the path."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any, *, indent: int | None = None) -> Path:
    """Write ``obj`` as JSON (keys in insertion order, deterministic) atomically; return the path."""
    text = json.dumps(obj, indent=indent, ensure_ascii=False, separators=None if indent else (",", ":"))
    return atomic_write_text(path, text + "\n")


def atomic_torch_save(path: str | Path, obj: Any) -> Path:
    """``torch.save`` to ``path`` atomically; return the path."""
    import torch

    return _atomic(Path(path), lambda h: torch.save(obj, h), "wb")


def atomic_savefig(fig: Any, path: str | Path, **kwargs: Any) -> Path:
    """Save a matplotlib figure atomically (PNG by default); return the path."""
    path = Path(path)
    kwargs.setdefault("format", path.suffix.lstrip(".") or "png")
    kwargs.setdefault("bbox_inches", "tight")
    return _atomic(path, lambda h: fig.savefig(h, **kwargs), "wb")


class MetricsLog:
    """Append-only JSON-lines log of training metrics in a run folder."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def append(self, **row: Any) -> None:
        """Append one row (a flat dict of numbers and strings)."""
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")

    def rows(self) -> list[dict[str, Any]]:
        """Return every row logged so far (a torn last line from a crash is skipped)."""
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return out

    def truncate_after(self, key: str, value: float) -> None:
        """Drop rows whose ``key`` is above ``value`` (used when resuming from a checkpoint)."""
        kept = [r for r in self.rows() if r.get(key, -1) <= value]
        atomic_write_text(self.path, "".join(json.dumps(r) + "\n" for r in kept))

    def frame(self) -> Any:
        """Return the log as a pandas DataFrame."""
        import pandas as pd

        return pd.DataFrame(self.rows())


def rng_state() -> dict[str, Any]:
    """Return the Python, NumPy and torch RNG states (for checkpoints)."""
    import torch

    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore RNG states captured by :func:`rng_state`."""
    import torch

    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def chunked(items: Iterable[Any], size: int) -> Iterable[list[Any]]:
    """Yield lists of at most ``size`` items."""
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
