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
        self.path = Path(path)  # nothing is created until a row is written (readers and other ranks write nothing)

    def append(self, **row: Any) -> None:
        """Append one row (a flat dict of numbers and strings)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
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

    def truncate_after(self, key: str, value: float, *, drop_kinds: tuple[str, ...] = ()) -> None:
        """Drop rows whose ``key`` is above ``value``, and rows of ``drop_kinds`` (used when resuming)."""
        kept = [r for r in self.rows() if r.get(key, -1) <= value and r.get("kind") not in drop_kinds]
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


# ---------------------------------------------------------------------------
# Run folder checkpoints (detectron2's Checkpointer, reduced to what our trainers need)
# ---------------------------------------------------------------------------

STATUS_FILE = "status.json"


class NonFiniteError(FloatingPointError):
    """Raised when a checkpoint would store NaN/inf weights; the last good checkpoint is kept."""


def read_run_status(run_dir: str | Path) -> dict[str, Any] | None:
    """Return ``RUN/status.json`` (iteration, status, elapsed_s, checkpoint) without loading any weights, or None."""
    path = Path(run_dir) / STATUS_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:  # written atomically, so only a hand-edited file lands here
        return None


def _nonfinite_tensors(state: Any, prefix: str = "") -> list[str]:
    """Return the names of floating tensors in a (nested) state dict that hold NaN or inf."""
    import torch

    if isinstance(state, torch.Tensor):
        return [prefix] if state.is_floating_point() and not bool(torch.isfinite(state).all()) else []
    if isinstance(state, dict):
        return [n for k, v in state.items() for n in _nonfinite_tensors(v, f"{prefix}.{k}" if prefix else str(k))]
    return []


class Checkpointer:
    """Save and restore a run's checkpointables by name, with a small status file beside them.

    * ``checkpoints/last.pt``: ``{name: obj.state_dict() for each checkpointable}`` plus ``iteration``,
      ``status``, ``elapsed_s`` and any ``extra`` entries (RNG state, config, ...), written atomically;
    * ``status.json``: iteration, status, elapsed_s, so tools can decide "reuse / resume / train" without
      loading weights (written after ``last.pt``, so it never claims more than the checkpoint holds);
    * ``save_final``: the final weights alone (``model_final.pt``), apart from the periodic checkpoint.

    A state whose guarded checkpointables (default ``model``) hold NaN/inf never replaces ``last.pt``: it
    goes to ``checkpoints/diverged.pt`` for inspection and :class:`NonFiniteError` is raised.
    """

    def __init__(self, run_dir: str | Path, *, guard: tuple[str, ...] = ("model",), **checkpointables: Any) -> None:
        self.run_dir = Path(run_dir)
        self.checkpointables = checkpointables
        self.guard = guard

    @property
    def last(self) -> Path:
        """Return the path of the periodic (resumable) checkpoint."""
        return self.run_dir / "checkpoints" / "last.pt"

    def has_checkpoint(self) -> bool:
        """Return whether a resumable checkpoint exists."""
        return self.last.is_file()

    def save(self, iteration: int, *, status: str, elapsed_s: float, **extra: Any) -> Path:
        """Write ``last.pt`` and then ``status.json``; return the checkpoint path (see the class notes on NaN)."""
        import torch

        state = {name: obj.state_dict() for name, obj in self.checkpointables.items()}
        bad = [n for name in self.guard for n in _nonfinite_tensors(state.get(name), name)]
        state.update(extra, iteration=iteration, status=status, elapsed_s=elapsed_s, torch=torch.__version__)
        if bad:
            path = atomic_torch_save(self.run_dir / "checkpoints" / "diverged.pt", state)
            kept = read_run_status(self.run_dir)
            where = f"iteration {kept['iteration']}" if kept else "none yet"
            raise NonFiniteError(f"iteration {iteration}: {len(bad)} tensors hold NaN/inf (first: {bad[0]}); "
                                 f"saved to {path.name}, the last good checkpoint ({where}) is kept")
        atomic_torch_save(self.last, state)
        atomic_write_json(self.run_dir / STATUS_FILE, {
            "iteration": iteration, "status": status, "elapsed_s": round(float(elapsed_s), 3),
            "checkpoint": "checkpoints/last.pt"}, indent=1)
        return self.last

    def read(self) -> dict[str, Any]:
        """Return the whole content of ``last.pt`` (on the CPU) without restoring anything."""
        import torch

        return torch.load(self.last, map_location="cpu", weights_only=False)

    def load(self, state: dict[str, Any] | None = None) -> dict[str, Any]:
        """Restore every checkpointable from ``last.pt`` (or a ``state`` already read); return the other entries."""
        state = dict(self.read() if state is None else state)
        for name, obj in self.checkpointables.items():
            obj.load_state_dict(state.pop(name))
        return state

    def save_final(self, name: str = "model", filename: str = "model_final.pt") -> Path:
        """Write checkpointable ``name``'s state alone to ``RUN/<filename>`` (the weights to ship); return the path."""
        state = self.checkpointables[name].state_dict()
        bad = _nonfinite_tensors(state, name)
        if bad:
            raise NonFiniteError(f"final weights hold NaN/inf (first: {bad[0]}); {filename} not written")
        return atomic_torch_save(self.run_dir / filename, state)
