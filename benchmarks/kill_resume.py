"""Crash safety measured from outside: SIGKILL a trainer at random moments, resume it, compare.

For each trainer, an uninterrupted run is the reference. Then, for each kill point, a fresh run is
started as a subprocess, killed with SIGKILL at a random moment after its first checkpoint, resumed
with ``--resume`` until it ends, and checked:

* every tensor of the final checkpoint (weights, optimiser state, RNG state) is ``torch.equal`` to the
  reference's, and so are the final weights file, if the trainer writes one;
* the metrics log has each training iteration exactly once, none missing, and every row equals the
  reference's (timing columns aside).

A trainer is described by a :class:`Trainer`: a function from the run folder to the command line of a
fresh run, plus how to resume it and where its files are. ``detector_trainer`` is the one for
``fashionlib train-detector``, ``gan_trainer`` the one for ``fashionlib train-gan``; another trainer is
one more ``Trainer(...)`` in ``trainers()``.

    python benchmarks/kill_resume.py                 # every trainer, 5 kill points each
    python benchmarks/kill_resume.py --kills 8 --seed 1
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

# Small enough that one iteration takes milliseconds on a CPU, big enough to have every part of the
# loop (periodic validation, several checkpoints, an LR step). One torch thread: bit-identity is only
# promised for the same thread count.
DETECTOR_YAML = """\
name: kill-resume
model: {backbone: small, weights: none, norm: bn, trainable_layers: 5, widths: [8, 16, 16, 16],
        blocks: [1, 1, 1, 1], returned_layers: [2, 3], fpn_channels: 16, anchor_sizes: [16, 32, 64],
        representation_size: 32}
rpn: {pre_nms_top_n_train: 100, post_nms_top_n_train: 50, pre_nms_top_n_test: 50, post_nms_top_n_test: 30,
      batch_size_per_image: 32}
roi_heads: {batch_size_per_image: 32}
input: {min_size: 48, max_size: 80}
solver: {base_lr: 0.02, ims_per_batch: 4, max_iter: MAX_ITER, steps: [STEP], warmup_iters: 3}
train: {log_every: 3, eval_every: EVAL_EVERY, eval_max_images: 8, checkpoint_every: CKPT_EVERY,
        final_eval_max_images: 8, num_workers: 0, num_threads: 1, channels_last: false}
"""


def detector_config_text(max_iter: int = 60, checkpoint_every: int = 7, eval_every: int = 20) -> str:
    """Return the YAML of the small detector config used for kill tests."""
    return (DETECTOR_YAML.replace("MAX_ITER", str(max_iter)).replace("STEP", str(max_iter * 3 // 4))
            .replace("CKPT_EVERY", str(checkpoint_every)).replace("EVAL_EVERY", str(eval_every)))


def checkpoint_tensors(run: Path, final: str = "model_final.pt") -> dict[str, Any]:
    """Return every tensor of ``checkpoints/last.pt`` and of the final weights file ``final`` (if any), by dotted name."""
    import torch

    out: dict[str, Any] = {}

    def walk(obj: Any, name: str) -> None:
        if isinstance(obj, torch.Tensor):
            out[name] = obj
        elif isinstance(obj, dict):
            for k, v in obj.items():
                walk(v, f"{name}.{k}")
        elif isinstance(obj, (list, tuple)):
            for i, v in enumerate(obj):
                walk(v, f"{name}.{i}")

    walk(torch.load(run / "checkpoints" / "last.pt", map_location="cpu", weights_only=False), "last")
    if (run / final).is_file():
        walk(torch.load(run / final, map_location="cpu", weights_only=False), "final")
    return out


def gan_tensors(run: Path) -> dict[str, Any]:
    """Return every tensor of a GAN run's ``checkpoints/last.pt`` and ``generator.pt``, by dotted name."""
    return checkpoint_tensors(run, final="generator.pt")


def first_checkpoint(run: Path) -> bool:
    """Return whether the run has written its first checkpoint (``status.json`` follows ``last.pt``)."""
    return (run / "status.json").is_file()


@dataclass
class Trainer:
    """How to start, resume and inspect one trainer from the outside."""

    name: str
    command: Callable[[Path], list[str]]  # run folder -> command line of a fresh run
    resume_args: list[str] = field(default_factory=lambda: ["--resume"])
    ready: Callable[[Path], bool] = first_checkpoint  # True once a kill can be resumed
    tensors: Callable[[Path], dict[str, Any]] = checkpoint_tensors  # what must be bit-identical
    metrics_file: str = "metrics.jsonl"
    iter_key: str = "iter"
    train_kind: str | None = "train"  # rows of this "kind" must cover 1..N once each (None: every row)
    volatile: tuple[str, ...] = ("sec_per_iter", "elapsed_s")  # row keys that are timings, not results
    env: dict[str, str] = field(default_factory=lambda: {"OMP_NUM_THREADS": "1"})


def _env(trainer: Trainer) -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1", **trainer.env}


def run_to_end(trainer: Trainer, cmd: list[str], run: Path, timeout: float = 600) -> tuple[float, float]:
    """Run ``cmd`` (writing into ``run``) to completion; return (seconds until ``ready``, seconds until exit)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=_env(trainer), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    ready_at = None
    while proc.poll() is None:
        if ready_at is None and trainer.ready(run):
            ready_at = time.perf_counter() - start
        time.sleep(0.01)
        if time.perf_counter() - start > timeout:
            proc.kill()
            raise TimeoutError(f"{' '.join(cmd)} ran past {timeout} s")
    out = proc.stdout.read()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{out[-3000:]}")
    end = time.perf_counter() - start
    return (ready_at if ready_at is not None else end), end


def kill_then_resume(trainer: Trainer, run: Path, delay: float) -> dict[str, Any]:
    """Start a fresh run, SIGKILL it ``delay`` s after its first checkpoint, resume it to the end."""
    cmd = trainer.command(run)
    proc = subprocess.Popen(cmd, env=_env(trainer), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not trainer.ready(run):
        if proc.poll() is not None:
            raise RuntimeError(f"{' '.join(cmd)} ended ({proc.returncode}) before its first checkpoint")
        time.sleep(0.005)
    time.sleep(delay)
    killed = proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    status = json.loads((run / "status.json").read_text())
    run_to_end(trainer, cmd + trainer.resume_args, run)
    return {"killed": killed, "delay_s": round(delay, 3), "checkpoint_iter_at_kill": status.get("iteration")}


def metrics_problems(trainer: Trainer, run: Path, reference: Path) -> list[str]:
    """Return what is wrong with a resumed run's metrics log against the reference's (empty: nothing)."""
    def rows(path: Path) -> list[dict[str, Any]]:
        lines = (path / trainer.metrics_file).read_text().splitlines()
        return [{k: v for k, v in json.loads(ln).items() if k not in trainer.volatile} for ln in lines]

    got, want = rows(run), rows(reference)
    def train_iters(table: list[dict[str, Any]]) -> list[int]:
        return [r[trainer.iter_key] for r in table if trainer.train_kind is None or r.get("kind") == trainer.train_kind]

    iters, expected = train_iters(got), train_iters(want)
    problems = []
    dup = sorted({i for i in iters if iters.count(i) > 1})
    missing = sorted(set(expected) - set(iters))
    if dup:
        problems.append(f"duplicated iterations {dup[:10]}")
    if missing:
        problems.append(f"missing iterations {missing[:10]}")
    if not dup and not missing and got != want:
        first = next(i for i, (a, b) in enumerate(zip(got, want)) if a != b) if len(got) == len(want) else None
        problems.append(f"rows differ from the reference (first at row {first}; {len(got)} vs {len(want)} rows)")
    return problems


def tensor_problems(trainer: Trainer, run: Path, reference: Path) -> list[str]:
    """Return the names of tensors that are not bit-identical to the reference's (empty: all identical)."""
    import torch

    got, want = trainer.tensors(run), trainer.tensors(reference)
    if got.keys() != want.keys():
        return [f"different tensors: {sorted(set(got) ^ set(want))[:5]}"]
    return [k for k in want if not torch.equal(got[k], want[k])]


def check_trainer(trainer: Trainer, workdir: Path, kills: int = 5, seed: int = 0) -> list[dict[str, Any]]:
    """Run the reference and ``kills`` kill-resume runs of a trainer; return one result row per kill."""
    rng = np.random.default_rng(seed)
    reference = workdir / f"{trainer.name}-reference"
    ready_s, end_s = run_to_end(trainer, trainer.command(reference), reference)
    rows = []
    for k in range(kills):
        run = workdir / f"{trainer.name}-kill{k}"
        info = kill_then_resume(trainer, run, float(rng.uniform(0, 0.9 * (end_s - ready_s))))
        bad = tensor_problems(trainer, run, reference)
        problems = metrics_problems(trainer, run, reference)
        rows.append({"trainer": trainer.name, "kill": k, **info, "tensors_identical": not bad,
                     "metrics_ok": not problems, "problems": "; ".join(problems + bad[:3])})
    return rows


def detector_trainer(coco: Path, images: Path, config_file: Path) -> Trainer:
    """Return the kill-test description of ``fashionlib train-detector`` on a COCO folder."""
    exe = str(Path(sys.executable).with_name("fashionlib"))
    return Trainer("detector", lambda run: [exe, "train-detector", "--config", str(config_file), "--coco",
                                            str(coco), "--images", str(images), "--out", str(run), "--device", "cpu"])


def gan_trainer(crops: Path, iters: int = 60, ckpt_every: int = 7) -> Trainer:
    """Return the kill-test description of ``fashionlib train-gan`` (small-data recipe, 64 px) on a crop folder."""
    exe = str(Path(sys.executable).with_name("fashionlib"))
    return Trainer("gan", lambda run: [exe, "train-gan", str(crops), "--recipe", "small-data", "--batch-size", "8",
                                       "--iters", str(iters), "--ckpt-every", str(ckpt_every), "--device", "cpu",
                                       "--out", str(run)],
                   tensors=gan_tensors, train_kind=None, volatile=("seconds",))


def small_crops(coco: Path, images: Path, out: Path) -> Path:
    """Write a small 64 px crop folder (40 ground-truth crops per class, train split) and return it."""
    exe = str(Path(sys.executable).with_name("fashionlib"))
    subprocess.run([exe, "crop", str(coco), "--images", str(images), "--out", str(out), "--max-per-class", "40",
                    "--size", "64", "--splits", "train"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env={**os.environ, "OMP_NUM_THREADS": "1"})
    return out


def trainers(workdir: Path) -> list[Trainer]:
    """Return every trainer the benchmark checks: the detector and the GAN, on the sample profile's data."""
    from fashionlib.coco import ensure_coco
    from fashionlib.config import get_profile

    profile = get_profile("sample")
    coco = ensure_coco(profile)
    config_file = workdir / "detector.yaml"
    config_file.write_text(detector_config_text())
    return [detector_trainer(coco, profile.data_root, config_file),
            gan_trainer(small_crops(coco, profile.data_root, workdir / "crops"))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=5, help="kill points per trainer (default 5)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill moments")
    args = parser.parse_args(argv)
    import pandas as pd

    with tempfile.TemporaryDirectory(prefix="kill_resume_") as tmp:
        rows = [row for trainer in trainers(Path(tmp)) for row in check_trainer(trainer, Path(tmp), args.kills, args.seed)]
    table = pd.DataFrame(rows)
    print(table.to_string(index=False))
    ok = bool(table["tensors_identical"].all() and table["metrics_ok"].all())
    print("all kill points resumed bit-identically" if ok else "FAILED: see the problems column")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
