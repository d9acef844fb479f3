"""The training loop, top to bottom, in the spirit of torchvision's ``references/detection``.

One call, :func:`train`, does everything a run needs:

1. write the resolved config to ``RUN/config.yaml``;
2. build the datasets, the model, SGD and the warm-up + step learning-rate schedule;
3. loop over iterations: forward (losses), backward, step; every loss component of
   every iteration goes to ``RUN/metrics.jsonl``, a tqdm bar shows the running loss;
4. every ``train.eval_every`` iterations: validation loss and COCO AP on the val split;
5. every ``train.checkpoint_every`` iterations and at the end: ``RUN/checkpoints/last.pt``
   (model, optimizer, schedule, iteration, RNG state, config), written atomically;
6. at the end: detections and COCO metrics on the whole val split.

``resume=True`` continues from ``last.pt``. On the CPU, training 2N iterations in one
go and N + resume + N give bit-identical weights: the batch order is a pure
function of the seed and the iteration, the RNG state is checkpointed, and
validation runs inside ``torch.random.fork_rng`` so it never disturbs training.
"""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from fashionlib.config import set_seed
from fashionlib.cpumem import keep_freed_memory
from fashionlib.detection.config import DetectorConfig, SolverConfig
from fashionlib.detection.data import CocoDetection, make_eval_loader, make_train_loader
from fashionlib.detection.model import build_model, param_groups
from fashionlib.detection.predict import checkpoint_path, predict_dataset, torch_threads
from fashionlib.runio import MetricsLog, atomic_torch_save, atomic_write_text, rng_state, set_rng_state

LOSS_NAMES = ("loss_classifier", "loss_box_reg", "loss_objectness", "loss_rpn_box_reg")


class RunExistsError(RuntimeError):
    """Raised when a run folder already holds a run and neither resume nor overwrite was asked for."""


class ResumeError(RuntimeError):
    """Raised when ``resume`` is asked for but there is nothing compatible to resume."""


# ---------------------------------------------------------------------------
# Learning-rate schedule
# ---------------------------------------------------------------------------


def warmup(solver: SolverConfig, iteration: int) -> float:
    """Return the warm-up multiplier: linear from ``warmup_factor`` to 1 over ``warmup_iters`` (Detectron's)."""
    if iteration >= solver.warmup_iters:
        return 1.0
    alpha = iteration / solver.warmup_iters
    return solver.warmup_factor * (1 - alpha) + alpha


def decay(solver: SolverConfig, progress: float) -> float:
    """Return ``gamma`` to the power of the number of ``steps`` reached at ``progress`` (in iterations)."""
    return solver.gamma ** sum(progress >= step for step in solver.steps)


def lr_factor(solver: SolverConfig, iteration: int) -> float:
    """Return the LR multiplier at ``iteration``: linear warm-up, then x``gamma`` at each of ``steps``."""
    return warmup(solver, iteration) * decay(solver, iteration)


class WarmupMultiStepLR(torch.optim.lr_scheduler.LambdaLR):
    """torch's LambdaLR with Detectron's schedule (its state, ``last_epoch``, counts iterations).

    With a time budget, ``time_fraction`` (share of the budget spent) can move the
    LR steps earlier: a step at iteration ``s`` of ``max_iter`` also happens once
    ``s / max_iter`` of the time is gone, so a slow machine still gets the low-LR
    phase before the budget runs out.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, solver: SolverConfig) -> None:
        self.solver = solver
        self.time_fraction = 0.0
        super().__init__(optimizer, lr_lambda=self._factor)

    def _factor(self, iteration: int) -> float:
        progress = max(iteration, self.time_fraction * self.solver.max_iter)
        return warmup(self.solver, iteration) * decay(self.solver, progress)

    def state_dict(self) -> dict[str, Any]:
        """Return the schedule position (the lambda itself is rebuilt from the config)."""
        return {"last_epoch": self.last_epoch, "base_lrs": self.base_lrs, "time_fraction": self.time_fraction}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the schedule position."""
        self.last_epoch = state_dict["last_epoch"]
        self.base_lrs = state_dict["base_lrs"]
        self.time_fraction = state_dict.get("time_fraction", 0.0)
        self._last_lr = [base * self._factor(self.last_epoch) for base in self.base_lrs]


def make_optimizer(model: torch.nn.Module, cfg: DetectorConfig) -> torch.optim.SGD:
    """Return SGD with momentum over the trainable parameters (fused kernel where torch has one)."""
    groups = param_groups(model, cfg)
    s = cfg.solver
    try:
        # One fused pass over all parameters instead of ~5 tensor ops per parameter: same update, less time.
        return torch.optim.SGD(groups, lr=s.base_lr, momentum=s.momentum, weight_decay=s.weight_decay, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.SGD(groups, lr=s.base_lr, momentum=s.momentum, weight_decay=s.weight_decay)


# ---------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------


def _to_device(images: list, targets: list, device: str) -> tuple[list, list]:
    images = [img.to(device, non_blocking=True) for img in images]
    targets = [{k: v.to(device, non_blocking=True) for k, v in t.items()} for t in targets]
    return images, targets


@torch.no_grad()
def validation_loss(
    model: torch.nn.Module, dataset: CocoDetection, indices: list[int], *, batch_size: int, device: str
) -> dict[str, float]:
    """Return the mean loss components on ``indices`` (BatchNorm statistics frozen, nothing updated)."""
    was_training = model.training
    model.train()  # torchvision computes losses only in train mode...
    for mod in model.modules():  # ...but BatchNorm must use (and keep) its running statistics
        if isinstance(mod, torch.nn.modules.batchnorm._BatchNorm):
            mod.eval()
    totals = {name: 0.0 for name in LOSS_NAMES}
    count = 0
    try:
        for images, targets in make_eval_loader(dataset, batch_size, indices=indices):
            images, targets = _to_device(images, targets, device)
            losses = model(images, targets)
            for name in LOSS_NAMES:
                totals[name] += float(losses[name]) * len(images)
            count += len(images)
    finally:
        model.train(was_training)
    out = {f"val_{k}": v / max(count, 1) for k, v in totals.items()}
    out["val_loss"] = sum(out.values())
    return out


def validate(
    model: torch.nn.Module, dataset: CocoDetection, indices: list[int], cfg: DetectorConfig, device: str
) -> dict[str, float]:
    """Return validation loss components and COCO AP/AP50/AP75 on ``indices``, without touching the RNG."""
    from fashionlib.detection.evaluate import coco_evaluate

    devices = [torch.cuda.current_device()] if device.startswith("cuda") else []
    with torch.random.fork_rng(devices=devices):  # the RPN/RoI samplers draw random numbers
        row = validation_loss(model, dataset, indices, batch_size=cfg.solver.ims_per_batch, device=device)
        dets = predict_dataset(model, dataset, indices=indices, batch_size=cfg.solver.ims_per_batch,
                               device=device, amp=cfg.train.amp, progress=False)
    image_ids = [dataset.records[i].image_id for i in indices]
    stats = coco_evaluate(dataset.ann_file, dets, image_ids=image_ids)["stats"]
    row.update({k: stats[k] for k in ("AP", "AP50", "AP75")})
    row["val_images"] = len(indices)
    return row


# ---------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------


def save_checkpoint(
    run_dir: Path, *, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: WarmupMultiStepLR,
    scaler: torch.amp.GradScaler, iteration: int, cfg: DetectorConfig, status: str, elapsed: float,
) -> Path:
    """Write ``checkpoints/last.pt`` atomically; return its path."""
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict(),
        "iteration": iteration,
        "rng": rng_state(),
        "config": cfg.to_dict(),
        "status": status,  # running | finished | time_budget
        "elapsed_s": elapsed,
        "torch": torch.__version__,
    }
    return atomic_torch_save(checkpoint_path(run_dir), state)


def read_status(run_dir: str | Path) -> dict[str, Any] | None:
    """Return ``{"status", "iteration", "elapsed_s", "config"}`` of a run's last checkpoint, or None."""
    path = checkpoint_path(run_dir)
    if not path.is_file():
        return None
    state = torch.load(path, map_location="cpu", weights_only=False)
    return {k: state.get(k) for k in ("status", "iteration", "elapsed_s", "config")}


def comparable(cfg_dict: dict[str, Any]) -> dict[str, Any]:
    """Return a config dict without what may change between sessions of one run (data paths, time budget)."""
    out = {k: v for k, v in cfg_dict.items() if k != "data"}
    out["train"] = {k: v for k, v in out.get("train", {}).items() if k != "max_minutes"}
    return out


# ---------------------------------------------------------------------------
# The loop
# ---------------------------------------------------------------------------


@dataclass
class TrainResult:
    """What :func:`train` did."""

    run_dir: Path
    iteration: int
    status: str  # finished | time_budget | stopped
    elapsed_s: float
    final_eval: dict[str, Any] | None = None
    reused: bool = False
    notes: list[str] = field(default_factory=list)

    def report(self) -> str:
        """Return a short plain-text account of the run: how it ended and its final validation numbers."""
        how = "reused from an earlier training run" if self.reused else "trained now"
        lines = [f"{self.run_dir}: {how}; {self.status} at iteration {self.iteration}, "
                 f"{self.elapsed_s / 60:.1f} min of training"]
        lines += self.notes
        if self.final_eval:
            st = self.final_eval["stats"]
            scope = f"first {self.final_eval['num_images']} images of val" if self.final_eval.get("subset") else "val"
            lines.append(f"final evaluation on {scope}: AP {st['AP']:.3f}  AP50 {st['AP50']:.3f}  AP75 {st['AP75']:.3f}")
        return "\n".join(lines)


def train(cfg: DetectorConfig, **kwargs: Any) -> TrainResult:
    """Train a detector (see :func:`train_loop` for the arguments); honours ``train.num_threads``."""
    with torch_threads(cfg.train.num_threads):
        return train_loop(cfg, **kwargs)


def train_loop(
    cfg: DetectorConfig,
    *,
    coco_dir: str | Path,
    image_root: str | Path,
    out_dir: str | Path,
    resume: bool = False,
    overwrite: bool = False,
    max_minutes: float | None = None,
    stop_at: int | None = None,
    device: str | None = None,
    progress: bool = True,
    final_eval: bool = True,
    on_log: Callable[[dict[str, Any]], None] | None = None,
) -> TrainResult:
    """Train a detector into ``out_dir`` and return a :class:`TrainResult`.

    ``max_minutes`` stops early (checkpointed, status ``time_budget``) when the next
    iteration would pass the budget; ``stop_at`` stops after that iteration (status
    ``stopped``, resumable). ``on_log`` receives every metrics row as it is written.
    """
    run = Path(out_dir)
    if max_minutes is not None:
        cfg = cfg.copy()
        cfg.train.max_minutes = max_minutes
    max_minutes = cfg.train.max_minutes
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    cfg = cfg.copy()
    cfg.data.coco_dir = str(Path(coco_dir).resolve())
    cfg.data.image_root = str(Path(image_root).resolve())
    ckpt_file = checkpoint_path(run)
    metrics = MetricsLog(run / "metrics.jsonl")

    # 1. The run folder: fresh, resumed or refused.
    state = None
    if resume:
        if not ckpt_file.is_file():
            raise ResumeError(f"--resume: {ckpt_file} does not exist; start the run without --resume")
        state = torch.load(ckpt_file, map_location="cpu", weights_only=False)
        if comparable(state["config"]) != comparable(cfg.to_dict()):
            raise ResumeError(
                f"--resume: the config differs from the one {run} was trained with (see {run / 'config.yaml'}); "
                "resume with the same config or train into a new folder"
            )
    elif ckpt_file.is_file() or (run / "config.yaml").is_file():
        if not overwrite:
            raise RunExistsError(f"{run} already holds a detector run; pass --resume to continue it or pick another --out")
        shutil.rmtree(run / "checkpoints", ignore_errors=True)
        for old in [*run.glob("detections_*.json"), *run.glob("eval_*.json"), run / "metrics.jsonl"]:
            old.unlink(missing_ok=True)
    run.mkdir(parents=True, exist_ok=True)
    if state is None:
        (run / "metrics.jsonl").unlink(missing_ok=True)  # a crash before the first checkpoint
    atomic_write_text(run / "config.yaml", cfg.to_yaml())

    # 2. Data, model, optimiser, schedule.
    set_seed(cfg.train.seed)
    s, t = cfg.solver, cfg.train
    coco = Path(cfg.data.coco_dir)
    train_ds = CocoDetection(coco / f"{cfg.data.train_split}.json", cfg.data.image_root, cfg.input)
    val_ds = CocoDetection(coco / f"{cfg.data.val_split}.json", cfg.data.image_root, cfg.input)
    val_idx = list(range(len(val_ds) if t.eval_max_images is None else min(t.eval_max_images, len(val_ds))))
    if t.keep_freed_memory and device == "cpu":
        keep_freed_memory()  # ~20% faster steps at the study's scale on the CPU (fashionlib/cpumem.py)
    # NHWC only on GPUs: on the CPU it measured slower for training here (see benchmarks/detector_speed.py).
    model = build_model(cfg, channels_last=t.channels_last and device.startswith("cuda")).to(device)
    model.train()
    optimizer = make_optimizer(model, cfg)
    scheduler = WarmupMultiStepLR(optimizer, s)
    amp = t.amp and device.startswith("cuda")
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    start_iter, elapsed_before = 0, 0.0
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        start_iter, elapsed_before = int(state["iteration"]), float(state.get("elapsed_s", 0.0))
        set_rng_state(state["rng"])
        metrics.truncate_after("iter", start_iter)
        del state
    end_iter = s.max_iter if stop_at is None else min(stop_at, s.max_iter)
    loader = make_train_loader(
        train_ds, s.ims_per_batch, seed=t.seed, start_iter=start_iter,
        num_workers=t.num_workers if device.startswith("cuda") else 0,  # on a small CPU, workers steal compute
    )
    params = [p for g in optimizer.param_groups for p in g["params"]]

    def log(row: dict[str, Any]) -> None:
        metrics.append(**row)
        if on_log is not None:
            on_log(row)

    def checkpoint(status: str) -> None:
        save_checkpoint(run, model=model, optimizer=optimizer, scheduler=scheduler, scaler=scaler,
                        iteration=it, cfg=cfg, status=status, elapsed=elapsed_before + time.perf_counter() - t0)

    # 3. The loop. Loss values stay on the device and are read every log_every iterations
    #    (reading each one would force a host sync per step on a GPU).
    pending: list[tuple[int, float, torch.Tensor, float]] = []

    def flush() -> None:
        if not pending:
            return
        values = torch.stack([p[2] for p in pending]).tolist()
        for (i, lr, _, sec), vals in zip(pending, values):
            row = {"kind": "train", "iter": i, "lr": lr, "loss": sum(vals), **dict(zip(LOSS_NAMES, vals)),
                   "sec_per_iter": round(sec, 4)}
            if not math.isfinite(row["loss"]):
                checkpoint("diverged")
                raise FloatingPointError(
                    f"loss became {row['loss']} at iteration {i}; lower solver.base_lr or set solver.clip_grad_norm"
                )
            log(row)
        bar.set_postfix(loss=f"{sum(values[-1]):.3f}", lr=f"{pending[-1][1]:.2g}")
        pending.clear()

    it = start_iter
    status = "finished"
    t0 = time.perf_counter()
    last_step = 0.0
    bar = tqdm(total=s.max_iter, initial=start_iter, desc="train", disable=not progress, dynamic_ncols=True)
    try:
        batches = iter(loader)
        while it < end_iter:
            if max_minutes is not None:
                spent = elapsed_before + time.perf_counter() - t0
                if spent + last_step > max_minutes * 60:
                    status = "time_budget"
                    break
            step_start = time.perf_counter()
            images, targets = _to_device(*next(batches), device)
            with torch.autocast("cuda", enabled=amp):
                loss_dict = model(images, targets)
            loss = sum(loss_dict[name] for name in LOSS_NAMES)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if s.clip_grad_norm:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(params, s.clip_grad_norm)
            lr = optimizer.param_groups[0]["lr"]
            scaler.step(optimizer)
            scaler.update()
            if max_minutes is not None and t.time_schedule:
                scheduler.time_fraction = (elapsed_before + time.perf_counter() - t0) / (max_minutes * 60)
            scheduler.step()
            it += 1
            last_step = time.perf_counter() - step_start
            pending.append((it, lr, torch.stack([loss_dict[n].detach().float() for n in LOSS_NAMES]), last_step))
            bar.update(1)
            periodic_eval = t.eval_every and it % t.eval_every == 0 and it < s.max_iter
            if it % t.log_every == 0 or periodic_eval or it == end_iter:
                flush()
            if periodic_eval:
                row = validate(model, val_ds, val_idx, cfg, device)
                log({"kind": "val", "iter": it, **row})
                bar.write(f"iter {it}: val loss {row['val_loss']:.3f}  AP {row['AP']:.3f}  AP50 {row['AP50']:.3f}"
                          f"  ({len(val_idx)} val images)")
            if it % t.checkpoint_every == 0 and it < end_iter:
                checkpoint("running")
    finally:
        bar.close()
    flush()
    if status == "finished" and it < s.max_iter:
        status = "stopped"
    checkpoint(status)
    elapsed = elapsed_before + time.perf_counter() - t0
    result = TrainResult(run, it, status, elapsed)
    if status == "time_budget":
        result.notes.append(f"stopped by the {max_minutes}-minute budget at iteration {it} of {s.max_iter}")

    # 4. Final evaluation on the whole val split, and the loss curves.
    if final_eval and status != "stopped":
        from fashionlib.detection.evaluate import evaluate_run

        result.final_eval = evaluate_run(run, cfg.data.val_split, device=device,
                                         max_images=t.final_eval_max_images, progress=progress)
        log({"kind": "final", "iter": it, "elapsed_s": round(elapsed, 1),
             **{k: result.final_eval["stats"][k] for k in ("AP", "AP50", "AP75")}})
        try:
            from fashionlib.detection.plots import plot_training
            from fashionlib.viz import save_figure

            fig = plot_training(run)
            save_figure(fig, run / "figures" / "training.png")
            import matplotlib.pyplot as plt

            plt.close(fig)
        except ImportError:  # matplotlib is a dependency; this only guards odd installs
            pass
    return result

