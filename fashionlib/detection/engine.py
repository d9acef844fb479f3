"""Training, top to bottom, in the spirit of torchvision's ``references/detection/engine.py``.

* :func:`train_one_iter` is one SGD step (autocast -> finite check -> backward -> clip -> step): the
  part a learner reads in notebook 03.
* :func:`train` is the orchestration around it: run folder, data, model, schedule, metrics log,
  periodic validation and checkpoints, resume, time budget, final evaluation.

A run folder holds ``config.yaml``, ``metrics.jsonl``, ``status.json``, ``checkpoints/last.pt`` and, once
training ends, ``model_final.pt`` (see :mod:`fashionlib.detection.runs`).

Rules a run follows:

* **Resume is exact.** On the CPU, 2N iterations in one go and N + resume + N give bit-identical
  weights: the batch order is a pure function of the seed and the iteration, the RNG state is
  checkpointed, validation runs inside ``torch.random.fork_rng``, and metrics rows logged after the
  checkpoint are dropped on resume.
* **A resume may change the solver** (LR, clipping, schedule length, LR steps) and the loop's budget and
  logistics (:data:`~fashionlib.detection.runs.RESUMABLE`); each change is written to the metrics log as
  a ``"kind": "resume"`` row. Anything that defines the network or the data must stay as trained.
* **A diverged run keeps its last good checkpoint**: a non-finite loss stops training before the step,
  and NaN/inf weights are never written over ``last.pt``.
* **The time budget counts total training time across resumes** (``elapsed_s`` is carried in the
  checkpoint): start-up and the final evaluation are not counted, periodic validation is.
* **A time-scaled schedule is fixed once** (``train.time_schedule``): at the end of warm-up the measured
  speed predicts how many iterations fit the budget, the LR steps move to their share of that, and the
  result is written to ``config.yaml`` and the metrics log. From then on the LR is a pure function of
  the iteration, so resuming and re-running the recorded config are deterministic.
* **Several processes (torchrun) train like one.** ``solver.ims_per_batch`` is the global batch; each
  process takes its slice of every batch, DistributedDataParallel averages the gradients, each slice
  draws its random numbers from its own seed (:func:`fashionlib.distributed.part_seed`), so 2 processes
  give the weights of 1 process with ``train.micro_batches: 2``. Rank 0 alone writes and evaluates.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from fashionlib import distributed
from fashionlib.config import set_seed
from fashionlib.cpumem import keep_freed_memory
from fashionlib.detection.config import DetectorConfig, SolverConfig
from fashionlib.detection.data import CocoDetection, make_eval_loader, make_train_loader
from fashionlib.detection.model import LOSS_NAMES, build_model, param_groups
from fashionlib.detection.predict import predict_dataset
from fashionlib.detection.runs import (
    FINAL_WEIGHTS,
    RESUMABLE,
    checkpoint_path,
    config_changes,
    read_status,
    torch_threads,
)
from fashionlib.runio import Checkpointer, MetricsLog, atomic_write_text, rng_state, set_rng_state

__all__ = ["LOSS_NAMES", "ResumeError", "RunExistsError", "TrainResult", "WarmupMultiStepLR", "fixed_steps",
           "lr_factor", "make_optimizer", "read_status", "train", "train_one_iter", "validate"]


class RunExistsError(RuntimeError):
    """Raised when a run folder already holds a run and neither resume nor overwrite was asked for."""


class ResumeError(RuntimeError):
    """Raised when ``resume`` is asked for but there is nothing compatible to resume."""


# ---------------------------------------------------------------------------
# The training step
# ---------------------------------------------------------------------------


def train_one_iter(
    model: torch.nn.Module,
    batch: tuple[list[torch.Tensor], list[dict[str, torch.Tensor]]],
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    *,
    clip_grad_norm: float | None = None,
    micro_batches: int = 1,
    seeds: list[int] | None = None,
) -> dict[str, torch.Tensor]:
    """Run one SGD step on ``batch`` (images, targets); return the four losses, detached, on the device.

    ``micro_batches`` > 1 runs the batch as that many forward/backward passes and steps once (gradient
    accumulation: a large batch on a small GPU). ``seeds``: one per micro-batch; each pass first seeds
    torch's RNG with it, because the RPN and RoI heads sample anchors and proposals at random, and a
    step must not depend on how its batch was split (micro-batches here, processes under torchrun).
    Raises ``FloatingPointError`` before touching the weights when a loss is not finite.
    """
    images, targets = batch
    size = len(images) // micro_batches
    optimizer.zero_grad(set_to_none=True)
    total: dict[str, torch.Tensor] = {}
    for part in range(micro_batches):
        if seeds is not None:
            torch.manual_seed(seeds[part])
        chunk = slice(part * size, (part + 1) * size)
        # Under DistributedDataParallel, gradients are averaged across processes on the last pass only.
        last = part == micro_batches - 1
        sync = contextlib.nullcontext() if last or not hasattr(model, "no_sync") else model.no_sync()
        with sync:
            with torch.autocast(images[0].device.type, enabled=scaler.is_enabled()):  # mixed precision on a GPU
                loss_dict = model(images[chunk], targets[chunk])  # in train mode the detector returns its losses
            loss = sum(loss_dict.values())
            if not torch.isfinite(loss):  # a host sync, but the forward pass (sampling, NMS) has synced already
                raise FloatingPointError(f"loss is {loss.item()} ({ {k: v.item() for k, v in loss_dict.items()} })")
            scaler.scale(loss / micro_batches).backward()
        for name, value in loss_dict.items():
            total[name] = total.get(name, 0) + value.detach() / micro_batches
    if clip_grad_norm:
        scaler.unscale_(optimizer)  # clip the true gradients, not the loss-scaled ones
        params = [p for group in optimizer.param_groups for p in group["params"]]
        torch.nn.utils.clip_grad_norm_(params, clip_grad_norm)
    scaler.step(optimizer)  # with AMP, skips the step if the scaled gradients overflowed
    scaler.update()
    return total


# ---------------------------------------------------------------------------
# Learning-rate schedule
# ---------------------------------------------------------------------------


def warmup(solver: SolverConfig, iteration: int) -> float:
    """Return the warm-up multiplier: linear from ``warmup_factor`` to 1 over ``warmup_iters`` (Detectron's)."""
    if iteration >= solver.warmup_iters:
        return 1.0
    alpha = iteration / solver.warmup_iters
    return solver.warmup_factor * (1 - alpha) + alpha


def lr_factor(solver: SolverConfig, iteration: int) -> float:
    """Return the LR multiplier at ``iteration``: linear warm-up, then x``gamma`` at each of ``steps``."""
    return warmup(solver, iteration) * solver.gamma ** sum(iteration >= step for step in solver.steps)


class WarmupMultiStepLR(torch.optim.lr_scheduler.LambdaLR):
    """torch's LambdaLR with Detectron's schedule; its state (``last_epoch``) counts iterations."""

    def __init__(self, optimizer: torch.optim.Optimizer, solver: SolverConfig) -> None:
        self.solver = solver  # read at every step, so a resume may change steps, gamma or max_iter
        super().__init__(optimizer, lr_lambda=lambda it: lr_factor(self.solver, it))

    def state_dict(self) -> dict[str, Any]:
        """Return the schedule position (the lambda itself is rebuilt from the config)."""
        return {"last_epoch": self.last_epoch, "base_lrs": self.base_lrs}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the schedule position."""
        self.last_epoch = state_dict["last_epoch"]
        self.base_lrs = state_dict["base_lrs"]
        self.sync_lr()

    def sync_lr(self) -> None:
        """Set every group's LR to the schedule's value at the current iteration (after a config change)."""
        self._last_lr = [base * lr_factor(self.solver, self.last_epoch) for base in self.base_lrs]
        for group, lr in zip(self.optimizer.param_groups, self._last_lr):
            group["lr"] = lr


def fixed_steps(solver: SolverConfig, iteration: int, sec_per_iter: float, remaining_s: float) -> list[int]:
    """Return LR steps moved to their share of the iterations predicted to fit ``remaining_s`` (unchanged if all fit)."""
    predicted = iteration + remaining_s / sec_per_iter
    if predicted >= solver.max_iter:
        return list(solver.steps)
    scale = predicted / solver.max_iter
    return [max(iteration + 1, round(step * scale)) for step in solver.steps]


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
# Orchestration
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
        lines = [f"{self.run_dir.name}: {how}; {self.status} at iteration {self.iteration}, "
                 f"{self.elapsed_s / 60:.1f} min of training"]
        lines += self.notes
        if self.final_eval:
            st = self.final_eval["stats"]
            scope = f"first {self.final_eval['num_images']} images of val" if self.final_eval.get("subset") else "val"
            lines.append(f"final evaluation on {scope}: AP {st['AP']:.3f}  AP50 {st['AP50']:.3f}  AP75 {st['AP75']:.3f}")
        return "\n".join(lines)


class _Metrics:
    """``metrics.jsonl`` writer: loss values stay on the device until a flush (one host sync per flush)."""

    def __init__(self, run: Path, on_log: Callable[[dict[str, Any]], None] | None, *, write: bool = True) -> None:
        self.log, self.on_log, self.pending = MetricsLog(run / "metrics.jsonl"), on_log, []
        self.last_loss = math.nan
        self.write = write  # under torchrun only rank 0 writes

    def row(self, **row: Any) -> None:
        if not self.write:
            return
        self.log.append(**row)
        if self.on_log is not None:
            self.on_log(row)

    def train(self, it: int, lr: float, losses: dict[str, torch.Tensor], sec: float) -> None:
        self.pending.append((it, lr, torch.stack([losses[n].float() for n in LOSS_NAMES]), sec))

    def flush(self, collective: bool = True) -> None:
        """Write pending rows; ``collective``: losses are averaged over the processes (every rank must call it)."""
        if not self.pending:
            return
        stacked = torch.stack([p[2] for p in self.pending])
        values = (distributed.mean_across(stacked) if collective else stacked).tolist()
        for (it, lr, _, sec), vals in zip(self.pending, values):
            self.row(kind="train", iter=it, lr=lr, loss=sum(vals), **dict(zip(LOSS_NAMES, vals)),
                     sec_per_iter=round(sec, 4))
        self.last_loss = sum(values[-1])
        self.pending.clear()


def _open_run(run: Path, *, resume: bool, overwrite: bool, write: bool = True) -> None:
    """Check the run folder can be resumed, or empty it for a fresh run (``overwrite``), or refuse.

    ``write`` False (torchrun ranks other than 0): check only.
    """
    ckpt_file = checkpoint_path(run)
    if resume:
        if not ckpt_file.is_file():
            raise ResumeError(f"--resume: {ckpt_file} does not exist; start the run without --resume")
        return
    if ckpt_file.is_file() or (run / "config.yaml").is_file():
        if not overwrite:
            raise RunExistsError(f"{run} already holds a detector run; pass --resume to continue it or pick another --out")
        if not write:
            return
        shutil.rmtree(run / "checkpoints", ignore_errors=True)
        for old in [*run.glob("detections_*.json"), *run.glob("eval_*.json"), run / "metrics.jsonl",
                    run / "status.json", run / FINAL_WEIGHTS]:
            old.unlink(missing_ok=True)
    if not write:
        return
    run.mkdir(parents=True, exist_ok=True)
    (run / "metrics.jsonl").unlink(missing_ok=True)  # a crash before the first checkpoint


def _resumed_config(cfg: DetectorConfig, stored: dict[str, Any], schedule: dict[str, Any] | None,
                    run: Path) -> tuple[DetectorConfig, dict[str, list[Any]]]:
    """Return the config to continue with and the resumable settings it changes; refuse other changes."""
    new = cfg.copy()
    if schedule and new.solver.steps == schedule["planned_steps"]:
        new.solver.steps = list(schedule["steps"])  # keep the schedule fixed at warm-up, not the plan
    changes = {k: v for k, v in config_changes(stored, new.to_dict()).items() if not k.startswith("data.")}
    refused = [k for k in changes if k.split(".")[-1] not in RESUMABLE.get(k.split(".")[0], ())]
    if refused:
        detail = "; ".join(f"{k}: {changes[k][0]!r} -> {changes[k][1]!r}" for k in refused)
        raise ResumeError(f"--resume: {run / 'config.yaml'} was trained with other settings ({detail}); only "
                          "solver.base_lr/clip_grad_norm/max_iter/steps/gamma and the train budget may change "
                          "on resume; train into a new folder otherwise")
    return new, changes


def train(cfg: DetectorConfig, **kwargs: Any) -> TrainResult:
    """Train a detector (arguments: :func:`train_loop`); honours ``train.num_threads``."""
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

    ``max_minutes`` stops early (checkpointed, status ``time_budget``) when the next iteration would
    pass the budget; ``stop_at`` stops after that iteration (status ``stopped``, resumable).
    ``on_log`` receives every metrics row as it is written.
    """
    run, device = Path(out_dir), device or ("cuda" if torch.cuda.is_available() else "cpu")
    ctx = distributed.context()  # one process unless started by torchrun
    cfg = cfg.copy()
    if max_minutes is not None:
        cfg.train.max_minutes = max_minutes
    cfg.data.coco_dir, cfg.data.image_root = str(Path(coco_dir).resolve()), str(Path(image_root).resolve())
    _open_run(run, resume=resume, overwrite=overwrite, write=ctx.is_main)
    distributed.barrier()  # rank 0 has emptied (overwrite) or created the folder
    state, changes = None, {}
    if resume:  # settle the config first: the network is built from it
        state = Checkpointer(run).read()
        if state.get("engine", "torchvision") != "torchvision":
            raise ResumeError(f"--resume: {run} was trained by the {state['engine']} engine; resume it with "
                              f"--engine {state['engine']}")
        cfg, changes = _resumed_config(cfg, state["config"], state.get("schedule"), run)
    s, t = cfg.solver, cfg.train
    _, per_forward = distributed.split_batch(s.ims_per_batch, t.micro_batches, "solver.ims_per_batch")
    parts = ctx.world_size * t.micro_batches  # a split step seeds each part (see train_one_iter)

    # 1. Data, model, optimiser, schedule; on resume, every state restored.
    set_seed(t.seed)
    train_ds, val_ds, val_idx = _datasets(cfg)
    model, optimizer, scheduler, scaler = _build(cfg, device)
    ckpt = Checkpointer(run, model=model, optimizer=optimizer, scheduler=scheduler, scaler=scaler)
    metrics = _Metrics(run, on_log, write=ctx.is_main)
    start_iter, elapsed_before, schedule = 0, 0.0, None
    if state is not None:
        start_iter, elapsed_before, schedule = _restore(ckpt, state, cfg, changes, metrics)
        del state
    if ctx.is_main:
        atomic_write_text(run / "config.yaml", cfg.to_yaml() + _schedule_note(schedule))
    end_iter = s.max_iter if stop_at is None else min(stop_at, s.max_iter)
    if start_iter < end_iter and ctx.is_main:
        (run / FINAL_WEIGHTS).unlink(missing_ok=True)  # superseded by what this session trains
    loader = make_train_loader(train_ds, s.ims_per_batch, seed=t.seed, start_iter=start_iter,
                               num_workers=t.num_workers if device.startswith("cuda") else 0,  # CPU: no workers
                               shard=(ctx.rank, ctx.world_size))
    net = distributed.wrap(model, device)  # DistributedDataParallel under torchrun; the model itself otherwise

    # 2. The loop.
    t0 = time.perf_counter()

    def elapsed() -> float:  # total training time across sessions: the time budget counts this
        return elapsed_before + time.perf_counter() - t0

    def save(status: str) -> float:
        metrics.flush()  # rows up to the checkpoint are on disk before it, so a kill loses none
        spent = elapsed()
        if ctx.is_main:
            ckpt.save(it, status=status, elapsed_s=spent, rng=rng_state(), config=cfg.to_dict(), schedule=schedule)
        distributed.barrier()  # no process runs ahead of the checkpoint it could be resumed from
        return spent

    it, status, step_times = start_iter, "finished", []
    budget_s = None if t.max_minutes is None else t.max_minutes * 60
    bar = tqdm(total=s.max_iter, initial=start_iter, desc="train", disable=not progress or not ctx.is_main,
               dynamic_ncols=True)
    try:
        batches = iter(loader)
        while it < end_iter:
            if budget_s is not None and distributed.rank0_decides(
                    elapsed() + (step_times[-1] if step_times else 0.0) > budget_s, device):
                status = "time_budget"
                break
            tic, lr = time.perf_counter(), optimizer.param_groups[0]["lr"]
            seeds = None if parts == 1 else [distributed.part_seed(t.seed, it, ctx.rank * t.micro_batches + j)
                                             for j in range(t.micro_batches)]
            try:
                losses = train_one_iter(net, _to_device(*next(batches), device), optimizer, scaler,
                                        clip_grad_norm=s.clip_grad_norm, micro_batches=t.micro_batches, seeds=seeds)
            except FloatingPointError as err:
                metrics.flush(collective=False)
                kept = read_status(run)
                raise FloatingPointError(
                    f"training diverged at iteration {it + 1}: {err}. The last good checkpoint (iteration "
                    f"{kept['iteration'] if kept else 'none'}) is kept: continue with --resume and a lower "
                    "solver.base_lr, or set solver.clip_grad_norm") from None
            scheduler.step()
            it += 1
            step_times.append(time.perf_counter() - tic)
            metrics.train(it, lr, losses, step_times[-1])
            bar.update(1)
            if t.time_schedule and budget_s is not None and schedule is None and it >= max(s.warmup_iters, 2) \
                    and len(step_times) >= 2:
                schedule = _fix_schedule(cfg, it, step_times, budget_s - elapsed(), run, metrics)
            if t.eval_every and it % t.eval_every == 0 and it < s.max_iter:
                metrics.flush()
                if ctx.is_main:
                    row = validate(model, val_ds, val_idx, cfg, device)
                    metrics.row(kind="val", iter=it, **row)
                    bar.write(f"iter {it}: val loss {row['val_loss']:.3f}  AP {row['AP']:.3f}  "
                              f"AP50 {row['AP50']:.3f}  ({len(val_idx)} val images)")
                distributed.barrier()
            elif it % t.log_every == 0:
                metrics.flush()
                bar.set_postfix(loss=f"{metrics.last_loss:.3f}", lr=f"{lr:.2g}")
            if it % t.checkpoint_every == 0 and it < end_iter:
                save("running")
    finally:
        bar.close()
    if status == "finished" and it < s.max_iter:
        status = "stopped"
    result = TrainResult(run, it, status, save(status))
    if status == "time_budget":
        result.notes.append(f"stopped by the {t.max_minutes}-minute budget at iteration {it} of {s.max_iter}")
    if status != "stopped" and ctx.is_main:
        ckpt.save_final("model", FINAL_WEIGHTS)
        if final_eval:
            _final_evaluation(run, cfg, result, device, progress, metrics)
    distributed.barrier()
    return result


def _datasets(cfg: DetectorConfig) -> tuple[CocoDetection, CocoDetection, list[int]]:
    """Return the train and val datasets and the val indices of the periodic validation."""
    coco = Path(cfg.data.coco_dir)
    train_ds = CocoDetection(coco / f"{cfg.data.train_split}.json", cfg.data.image_root, cfg.input)
    val_ds = CocoDetection(coco / f"{cfg.data.val_split}.json", cfg.data.image_root, cfg.input)
    n_val = cfg.train.eval_max_images
    return train_ds, val_ds, list(range(len(val_ds) if n_val is None else min(n_val, len(val_ds))))


def _build(cfg: DetectorConfig, device: str) -> tuple[torch.nn.Module, torch.optim.Optimizer, WarmupMultiStepLR,
                                                      torch.amp.GradScaler]:
    """Return the model (train mode, on ``device``), SGD, the LR schedule and the AMP grad scaler."""
    if cfg.train.keep_freed_memory and device == "cpu":
        keep_freed_memory()  # ~20% faster steps at the study's scale on the CPU (fashionlib/cpumem.py)
    # NHWC only on GPUs: on the CPU it measured slower for training here (see benchmarks/detector_speed.py).
    model = build_model(cfg, channels_last=cfg.train.channels_last and device.startswith("cuda")).to(device)
    model.train()
    optimizer = make_optimizer(model, cfg)
    scaler = torch.amp.GradScaler("cuda", enabled=cfg.train.amp and device.startswith("cuda"))
    return model, optimizer, WarmupMultiStepLR(optimizer, cfg.solver), scaler


def _restore(ckpt: Checkpointer, state: dict[str, Any], cfg: DetectorConfig, changes: dict[str, list[Any]],
             metrics: _Metrics) -> tuple[int, float, dict[str, Any] | None]:
    """Restore a checkpoint, drop metrics logged after it, apply and log changed settings.

    Returns (iteration, training seconds so far, fixed time schedule or None).
    """
    extra = ckpt.load(state)
    start_iter = int(extra["iteration"])
    set_rng_state(extra["rng"])
    if metrics.write:
        metrics.log.truncate_after("iter", start_iter, drop_kinds=("final",))
    if changes:
        scheduler = ckpt.checkpointables["scheduler"]
        old_lr = extra["config"]["solver"]["base_lr"]
        scheduler.base_lrs = [b * cfg.solver.base_lr / old_lr for b in scheduler.base_lrs]  # every param group
        scheduler.sync_lr()
        metrics.row(kind="resume", iter=start_iter, changes=changes)
    return start_iter, float(extra["elapsed_s"]), extra.get("schedule")


def _fix_schedule(cfg: DetectorConfig, it: int, step_times: list[float], remaining_s: float, run: Path,
                  metrics: _Metrics) -> dict[str, Any]:
    """Fix the LR steps of a time-scaled schedule from the speed measured so far; record it; return the record."""
    sec = sum(step_times[1:]) / len(step_times[1:])  # the first step pays one-off allocations
    schedule = {"fixed_at": it, "sec_per_iter": round(sec, 4), "planned_steps": list(cfg.solver.steps),
                "steps": fixed_steps(cfg.solver, it, sec, remaining_s)}
    schedule = distributed.broadcast_object(schedule)  # every process steps the LR where rank 0 measured
    cfg.solver.steps = list(schedule["steps"])  # the scheduler reads this same object
    metrics.row(kind="schedule", iter=it, **{k: v for k, v in schedule.items() if k != "fixed_at"})
    if distributed.context().is_main:
        atomic_write_text(run / "config.yaml", cfg.to_yaml() + _schedule_note(schedule))
    return schedule


def _schedule_note(schedule: dict[str, Any] | None) -> str:
    """Return the config.yaml comment that says where the LR steps of a time-scaled schedule came from."""
    if not schedule:
        return ""
    return (f"# solver.steps fixed at iteration {schedule['fixed_at']} from {schedule['sec_per_iter']} s/iter "
            f"measured in warm-up (planned: {schedule['planned_steps']})\n")


def _final_evaluation(run: Path, cfg: DetectorConfig, result: TrainResult, device: str, progress: bool,
                      metrics: _Metrics) -> None:
    """Evaluate on the whole val split (or ``final_eval_max_images``), log it, draw the training figure."""
    import matplotlib.pyplot as plt

    from fashionlib.detection.evaluate import evaluate_run
    from fashionlib.detection.plots import plot_training
    from fashionlib.viz import save_figure

    result.final_eval = evaluate_run(run, cfg.data.val_split, device=device,
                                     max_images=cfg.train.final_eval_max_images, progress=progress)
    metrics.row(kind="final", iter=result.iteration, elapsed_s=round(result.elapsed_s, 1),
                **{k: result.final_eval["stats"][k] for k in ("AP", "AP50", "AP75")})
    fig = plot_training(run)
    save_figure(fig, run / "figures" / "training.png")
    plt.close(fig)
