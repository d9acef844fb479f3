"""A detector run folder: its config, status, checkpoints and final weights (shared by training and inference).

``RUN/config.yaml`` (the resolved config), ``RUN/status.json`` (iteration, status, elapsed time: readable
without loading weights), ``RUN/checkpoints/last.pt`` (resumable), ``RUN/model_final.pt`` (the final
weights alone), ``RUN/metrics.jsonl``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
import yaml

from fashionlib.detection.config import DetectorConfig, from_dict
from fashionlib.runio import read_run_status

FINAL_WEIGHTS = "model_final.pt"


class RunError(FileNotFoundError):
    """Raised when a run folder lacks what an operation needs (config.yaml, a checkpoint)."""


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` torch CPU threads (None: leave torch's setting), then restore the old count."""
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def load_run_config(run_dir: str | Path) -> DetectorConfig:
    """Return the resolved config stored in a run folder's ``config.yaml``."""
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise RunError(f"{run_dir} is not a detector run folder (no config.yaml); train one with `fashionlib train-detector`")
    return from_dict(yaml.safe_load(path.read_text(encoding="utf-8")), source=str(path))


def checkpoint_path(run_dir: str | Path, name: str = "last") -> Path:
    """Return the path of checkpoint ``name`` (``last`` by default) in a run folder."""
    return Path(run_dir) / "checkpoints" / f"{name}.pt"


def read_status(run_dir: str | Path) -> dict[str, Any] | None:
    """Return ``{"status", "iteration", "elapsed_s", "config"}`` of a run without loading weights, or None."""
    run = Path(run_dir)
    status = read_run_status(run)
    if status is None:
        if not checkpoint_path(run).is_file():
            return None
        # A run folder written before status.json existed: read the checkpoint once.
        state = torch.load(checkpoint_path(run), map_location="cpu", weights_only=False)
        return {k: state.get(k) for k in ("status", "iteration", "elapsed_s", "config")}
    try:
        config = yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8"))
    except OSError:
        config = None
    return {"status": status["status"], "iteration": status["iteration"], "elapsed_s": status["elapsed_s"],
            "config": config}


# Settings a resumed run may change: the solver's step size and schedule length, and the loop's budget and
# logistics. Everything else defines the network or the data and must stay as trained.
RESUMABLE = {
    "solver": {"base_lr", "clip_grad_norm", "max_iter", "steps", "gamma"},
    "train": {"max_minutes", "num_threads", "num_workers", "eval_every", "checkpoint_every", "log_every",
              "final_eval_max_images", "micro_batches"},
}


def comparable(cfg_dict: dict[str, Any]) -> dict[str, Any]:
    """Return a config dict without what does not change the trained result: data paths, the time budget,
    and the LR steps of a time-scaled schedule (they are derived from the measured speed, see engine)."""
    from fashionlib.detection.config import DetectorConfig

    out = {k: v for k, v in cfg_dict.items() if k != "data"}
    for section, defaults in DetectorConfig().to_dict().items():  # keys added since a run was saved: defaults
        if isinstance(defaults, dict) and isinstance(out.get(section), dict):
            out[section] = {**defaults, **out[section]}
    out["train"] = {k: v for k, v in out.get("train", {}).items() if k != "max_minutes"}
    if out["train"].get("time_schedule"):
        out["solver"] = {k: v for k, v in out.get("solver", {}).items() if k != "steps"}
    return out


def config_changes(old: dict[str, Any], new: dict[str, Any]) -> dict[str, list[Any]]:
    """Return ``{"section.key": [old, new]}`` for every value that differs between two config dicts."""
    out = {}
    for section in sorted(set(old) | set(new)):
        a, b = old.get(section), new.get(section)
        if isinstance(a, dict) and isinstance(b, dict):
            out.update({f"{section}.{k}": [a.get(k), b.get(k)] for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)})
        elif a != b:
            out[section] = [a, b]
    return out
