"""Training with detectron2's trainer, into the same run folder as the torchvision engine.

:class:`Trainer` is detectron2's ``DefaultTrainer`` with our parts plugged in: the
backbone (``modeling``), the data mapper (``data``), the time-aware LR schedule of
``fashionlib.detection.engine`` and, as hooks, what detectron2's trainer leaves out:
validation loss and COCO AP during training, ``metrics.jsonl`` rows with the torchvision
engine's loss names, and checkpoints in both formats, written atomically:

* ``checkpoints/d2_last.pth`` (+ ``last_checkpoint``): detectron2's, read by ``resume_or_load``;
* ``checkpoints/last.pt``, ``status.json`` and, at the end, ``model_final.pt``: the torchvision
  engine's (``fashionlib.runio.Checkpointer``) with converted weights, so notebook 04,
  ``evaluate-detector``, ``predict`` and the crop stage read a detectron2 run unchanged.

Several processes (detectron2's own ``launch``, :func:`launch_train`): detectron2 wraps the model in
DistributedDataParallel, shards its sampler by rank and gathers the losses to rank 0; here rank 0
alone writes (metrics, checkpoints, evaluation) and decides the time budget and the LR steps fixed
from the measured speed, and the other ranks wait for it where it writes or evaluates.
"""

from __future__ import annotations

import logging
import shutil
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import CfgNode
from detectron2.data import DatasetCatalog, MetadataCatalog, build_detection_train_loader
from detectron2.engine import DefaultTrainer, HookBase
from detectron2.solver import build_optimizer as d2_build_optimizer
from detectron2.solver.build import _generate_optimizer_class_with_gradient_clipping
from detectron2.utils.events import EventStorage
from tqdm.auto import tqdm

from fashionlib import distributed
from fashionlib.config import set_seed
from fashionlib.cpumem import keep_freed_memory
from fashionlib.detection.config import DetectorConfig, SolverConfig
from fashionlib.detection.d2.config import to_d2_config
from fashionlib.detection.d2.data import Mapper, dataset_id_of, eval_batches, register_datasets
from fashionlib.detection.d2.modeling import to_torchvision_state, use_fast_roi_align
from fashionlib.detection.d2.translate import d2_yaml
from fashionlib.detection.engine import (
    ResumeError,
    RunExistsError,
    TrainResult,
    WarmupMultiStepLR,
    fixed_steps,
)
from fashionlib.detection.model import LOSS_NAMES
from fashionlib.detection.predict import EVAL_BATCH_SIZE
from fashionlib.detection.runs import FINAL_WEIGHTS, checkpoint_path, comparable, torch_threads
from fashionlib.runio import Checkpointer, MetricsLog, atomic_torch_save, atomic_write_json, atomic_write_text

# detectron2's loss names -> the torchvision engine's (plots and notebook 04 read these).
LOSS_MAP = {"loss_cls": "loss_classifier", "loss_box_reg": "loss_box_reg",
            "loss_rpn_cls": "loss_objectness", "loss_rpn_loc": "loss_rpn_box_reg"}
D2_CHECKPOINT = "d2_last"


class TorchvisionView:
    """The detectron2 model seen through the torchvision engine's state-dict names (for runio.Checkpointer)."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Return the converted weights."""
        return to_torchvision_state(self.model.state_dict())


class AtomicCheckpointer(DetectionCheckpointer):
    """detectron2's checkpointer, but a crash mid-write never leaves a truncated file for resume_or_load."""

    def save(self, name: str, **kwargs: Any) -> None:
        """Write ``<name>.pth`` and then the ``last_checkpoint`` tag, each atomically."""
        data = {"model": self.model.state_dict(), **{k: v.state_dict() for k, v in self.checkpointables.items()}}
        data.update(kwargs)
        atomic_torch_save(Path(self.save_dir) / f"{name}.pth", data)
        atomic_write_text(Path(self.save_dir) / "last_checkpoint", f"{name}.pth")


# ---------------------------------------------------------------------------
# Inference and validation on registered records
# ---------------------------------------------------------------------------


@torch.inference_mode()
def predict_records(model: torch.nn.Module, records: list[dict[str, Any]], mapper: Mapper, cat_ids: dict[int, int],
                    *, indices: list[int] | None = None, batch_size: int = EVAL_BATCH_SIZE) -> list[dict[str, Any]]:
    """Return detectron2's detections on ``records`` in COCO results format (original pixels), sorted like ours."""
    was_training = model.training
    model.eval()
    results: list[dict[str, Any]] = []
    try:
        for batch in eval_batches(records, batch_size, indices):
            for record, out in zip(batch, model([mapper(r) for r in batch])):
                inst = out["instances"].to("cpu")
                boxes = inst.pred_boxes.tensor.clone()
                boxes[:, 2:] -= boxes[:, :2]
                for box, cls, score in zip(boxes.tolist(), inst.pred_classes.tolist(), inst.scores.tolist()):
                    results.append({"image_id": int(record["image_id"]), "category_id": cat_ids[cls],
                                    "bbox": [round(v, 2) for v in box], "score": round(score, 5)})
    finally:
        model.train(was_training)
    results.sort(key=lambda r: (r["image_id"], -r["score"]))
    return results


@torch.no_grad()
def validation_loss(model: torch.nn.Module, records: list[dict[str, Any]], mapper: Mapper, indices: list[int],
                    batch_size: int) -> dict[str, float]:
    """Return the mean loss components on ``indices`` (BatchNorm statistics used, not updated)."""
    was_training = model.training
    model.train()  # detectron2 computes losses only in training mode...
    for mod in model.modules():  # ...but BatchNorm must keep its running statistics
        if isinstance(mod, torch.nn.modules.batchnorm._BatchNorm):
            mod.eval()
    totals = dict.fromkeys(LOSS_NAMES, 0.0)
    count = 0
    try:
        with EventStorage():  # the heads log sampling statistics; keep them out of the training storage
            for start in range(0, len(indices), batch_size):
                batch = [mapper(records[i]) for i in indices[start:start + batch_size]]
                for name, value in model(batch).items():
                    totals[LOSS_MAP[name]] += float(value) * len(batch)
                count += len(batch)
    finally:
        model.train(was_training)
    out = {f"val_{k}": v / max(count, 1) for k, v in totals.items()}
    out["val_loss"] = sum(out.values())
    return out


# ---------------------------------------------------------------------------
# Hooks
# ---------------------------------------------------------------------------


class StepTimer(HookBase):
    """Puts every step's seconds in the storage as ``time`` (detectron2's IterationTimer skips the first steps)."""

    def before_step(self) -> None:
        self.start = time.perf_counter()

    def after_step(self) -> None:
        self.trainer.storage.put_scalar("time", time.perf_counter() - self.start, smoothing_hint=False)


class Schedule(HookBase):
    """Steps the torchvision engine's WarmupMultiStepLR; its state goes into detectron2's checkpoint.

    Under a time budget with ``train.time_schedule``, the LR steps are fixed once after
    warm-up from the measured speed, as the torchvision engine does (``engine.fixed_steps``).
    Replaces detectron2's LRScheduler hook, which saves only ``_LRScheduler`` subclasses
    (torch 2's LambdaLR is not one, so a resumed run would restart the schedule).
    """

    def __init__(self) -> None:
        self.step_times: list[float] = []
        self.fixed: dict[str, Any] | None = None

    def after_step(self) -> None:
        tr = self.trainer
        tr.storage.put_scalar("lr", tr.scheduler.get_last_lr()[tr.weights_group], smoothing_hint=False)
        tr.scheduler.step()
        self.step_times.append(tr.storage.history("time").latest())
        solver, done = tr.scheduler.solver, tr.iter + 1
        if (tr.budget_s and tr.fl_cfg.train.time_schedule and self.fixed is None
                and done >= max(solver.warmup_iters, 2) and len(self.step_times) >= 2):
            sec = sum(self.step_times[1:]) / len(self.step_times[1:])  # the first step pays one-off allocations
            fixed = {"sec_per_iter": round(sec, 4), "planned_steps": list(solver.steps),
                     "steps": fixed_steps(solver, done, sec, tr.budget_s - tr.elapsed())}
            self.fixed = distributed.broadcast_object(fixed)  # rank 0's clock decides for every process
            solver.steps = list(self.fixed["steps"])  # the scheduler reads this object at every step
            if tr.is_main:
                tr.hooks_metrics.flush()
                tr.metrics.append(kind="schedule", iter=done, **self.fixed)

    def state_dict(self) -> dict[str, Any]:
        return {"scheduler": self.trainer.scheduler.state_dict(), "fixed": self.fixed}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.fixed = state_dict["fixed"]
        if self.fixed:
            self.trainer.scheduler.solver.steps = list(self.fixed["steps"])
        self.trainer.scheduler.load_state_dict(state_dict["scheduler"])


class Metrics(HookBase):
    """Writes one ``metrics.jsonl`` row per iteration (in batches of ``log_every``) and drives the progress bar."""

    def __init__(self, progress: bool) -> None:
        self.pending: list[dict[str, Any]] = []
        self.progress = progress
        self.bar: Any = None

    def before_train(self) -> None:
        tr = self.trainer
        self.bar = tqdm(total=tr.max_iter, initial=tr.start_iter, desc="train (detectron2)",
                        disable=not (self.progress and tr.is_main), dynamic_ncols=True)

    def after_step(self) -> None:
        tr, storage = self.trainer, self.trainer.storage
        if not tr.is_main:  # detectron2 gathers the losses to rank 0's storage only
            return
        losses = {LOSS_MAP[k]: storage.history(k).latest() for k in LOSS_MAP}
        self.pending.append({"kind": "train", "iter": tr.iter + 1, "lr": storage.history("lr").latest(),
                             "loss": sum(losses.values()), **losses,
                             "sec_per_iter": round(storage.history("time").latest(), 4)})
        self.bar.update(1)
        if (tr.iter + 1) % tr.fl_cfg.train.log_every == 0:
            self.flush()

    def flush(self) -> None:
        if not self.trainer.is_main:
            return
        for row in self.pending:
            self.trainer.metrics.append(**row)
        if self.pending:
            self.bar.set_postfix(loss=f"{self.pending[-1]['loss']:.3f}", lr=f"{self.pending[-1]['lr']:.2g}")
        self.pending.clear()

    def after_train(self) -> None:
        self.flush()
        self.bar.close()


class Validation(HookBase):
    """Every ``TEST.EVAL_PERIOD`` iterations: validation loss and COCO AP on the val subset, without touching the RNG."""

    def after_step(self) -> None:
        tr = self.trainer
        done, period = tr.iter + 1, tr.cfg.TEST.EVAL_PERIOD
        if not period or done % period or done >= tr.max_iter:
            return
        if tr.is_main:
            tr.hooks_metrics.flush()
            row = tr.validate()
            tr.metrics.append(kind="val", iter=done, **row)
            tqdm.write(f"iter {done}: val loss {row['val_loss']:.3f}  AP {row['AP']:.3f}  AP50 {row['AP50']:.3f}"
                       f"  ({row['val_images']} val images)")
        distributed.barrier()  # the other ranks wait while rank 0 evaluates


class Checkpoint(HookBase):
    """Every ``SOLVER.CHECKPOINT_PERIOD`` iterations: both checkpoints, status ``running``."""

    def after_step(self) -> None:
        tr = self.trainer
        done = tr.iter + 1
        if done % tr.cfg.SOLVER.CHECKPOINT_PERIOD == 0 and done < tr.end_iter:
            tr.hooks_metrics.flush()
            tr.save(done, "running")
            distributed.barrier()  # no process runs ahead of the checkpoint it could be resumed from


# ---------------------------------------------------------------------------
# The trainer
# ---------------------------------------------------------------------------


class Trainer(DefaultTrainer):
    """detectron2's DefaultTrainer building our backbone, data, schedule and hooks; see the module notes."""

    def __init__(self, cfg: CfgNode, fl_cfg: DetectorConfig, run: Path, *, progress: bool = True) -> None:
        self.fl_cfg, self.run, self.progress = fl_cfg, run, progress
        self.is_main = distributed.context().is_main
        self.metrics = MetricsLog(run / "metrics.jsonl")
        self.budget_s = (fl_cfg.train.max_minutes or 0) * 60
        self.elapsed_before, self.t0, self.end_iter = 0.0, time.perf_counter(), cfg.SOLVER.MAX_ITER
        with _ddp_on_cpu():
            super().__init__(cfg)
        self.checkpointer = AtomicCheckpointer(self.model, str(run / "checkpoints"), trainer=weakref.proxy(self))
        self.ours = Checkpointer(run, model=TorchvisionView(distributed.unwrap(self.model)))
        groups = self.optimizer.param_groups
        # The LR logged is the weights' (biases may run at BIAS_LR_FACTOR times it), as the torchvision engine.
        self.weights_group = next((i for i, g in enumerate(groups) if g["initial_lr"] == cfg.SOLVER.BASE_LR), 0)
        self.val_records = DatasetCatalog.get(cfg.DATASETS.TEST[0])
        self.cat_ids = dataset_id_of(cfg.DATASETS.TEST[0])

    # -- builders (classmethods in detectron2, so that subclasses can swap one part) --
    @classmethod
    def build_model(cls, cfg: CfgNode) -> torch.nn.Module:
        """Return detectron2's model with the fast-backward RoIAlign the torchvision engine uses on the CPU."""
        model = super().build_model(cfg)
        use_fast_roi_align(model)
        return model

    @classmethod
    def build_optimizer(cls, cfg: CfgNode, model: torch.nn.Module) -> torch.optim.Optimizer:
        """Return detectron2's SGD param groups; 'full_model' clipping is one norm over every gradient."""
        plain = cfg.clone()
        plain.defrost()
        plain.SOLVER.CLIP_GRADIENTS.ENABLED = False  # detectron2 0.6 knows only per-tensor clipping
        optimizer = d2_build_optimizer(plain, model)
        clip = cfg.SOLVER.CLIP_GRADIENTS
        if clip.ENABLED:
            if clip.CLIP_TYPE != "full_model":
                return d2_build_optimizer(cfg, model)

            def clip_all(params: Any) -> None:
                torch.nn.utils.clip_grad_norm_(list(params), clip.CLIP_VALUE, clip.NORM_TYPE)

            optimizer.__class__ = _generate_optimizer_class_with_gradient_clipping(
                type(optimizer), global_clipper=clip_all)
        return optimizer

    @classmethod
    def build_lr_scheduler(cls, cfg: CfgNode, optimizer: torch.optim.Optimizer) -> WarmupMultiStepLR:
        """Return the torchvision engine's warm-up + steps schedule, read from the SOLVER keys."""
        s = cfg.SOLVER
        solver = SolverConfig(max_iter=s.MAX_ITER, steps=list(s.STEPS), gamma=s.GAMMA, warmup_iters=s.WARMUP_ITERS,
                              warmup_factor=s.WARMUP_FACTOR)
        return WarmupMultiStepLR(optimizer, solver)

    @classmethod
    def build_train_loader(cls, cfg: CfgNode) -> Any:
        """Return detectron2's aspect-grouped, infinite, seeded loader over our mapper."""
        mapper = Mapper(cfg.INPUT.MIN_SIZE_TRAIN[0], cfg.INPUT.MAX_SIZE_TRAIN, hflip_prob=cfg.FASHIONLIB.HFLIP_PROB,
                        seed=cfg.SEED)
        return build_detection_train_loader(cfg, mapper=mapper)

    def build_hooks(self) -> list[HookBase]:
        """Return the hooks, in the order they run after each step."""
        self.hooks_metrics = Metrics(self.progress)
        return [StepTimer(), Schedule(), self.hooks_metrics, Validation(), Checkpoint()]

    def build_writers(self) -> list[Any]:
        """Return no detectron2 writers: metrics.jsonl is written by the Metrics hook."""
        return []

    # -- the run --
    def elapsed(self) -> float:
        """Return the seconds of training so far, earlier sessions of a resumed run included."""
        return self.elapsed_before + time.perf_counter() - self.t0

    def validate(self, max_images: int | None = -1) -> dict[str, float]:
        """Return validation loss components and COCO AP/AP50/AP75 on the first ``eval_max_images`` val images."""
        from fashionlib.detection.evaluate import coco_evaluate

        n = self.cfg.FASHIONLIB.EVAL_MAX_IMAGES if max_images == -1 else max_images
        indices = list(range(min(n, len(self.val_records)) if n else len(self.val_records)))
        size = (self.cfg.INPUT.MIN_SIZE_TEST, self.cfg.INPUT.MAX_SIZE_TEST)
        devices = [torch.cuda.current_device()] if self.cfg.MODEL.DEVICE.startswith("cuda") else []
        model = distributed.unwrap(self.model)  # rank 0 alone: no DistributedDataParallel in the way
        with torch.random.fork_rng(devices=devices):  # the RPN/RoI samplers draw random numbers
            row = validation_loss(model, self.val_records, Mapper(*size), indices, self.cfg.SOLVER.IMS_PER_BATCH)
            dets = predict_records(model, self.val_records, Mapper(*size, train=False), self.cat_ids,
                                   indices=indices)
        ids = [self.val_records[i]["image_id"] for i in indices]
        stats = coco_evaluate(MetadataCatalog.get(self.cfg.DATASETS.TEST[0]).json_file, dets, image_ids=ids)["stats"]
        return {**row, **{k: stats[k] for k in ("AP", "AP50", "AP75")}, "val_images": len(indices)}

    def save(self, done: int, status: str) -> None:
        """Write detectron2's checkpoint (for resume_or_load), then ours (converted weights, status.json); rank 0 only."""
        if not self.is_main:
            return
        current = self.iter
        self.iter = done - 1  # detectron2 stores the last finished iteration and resumes at the next
        try:
            self.checkpointer.save(D2_CHECKPOINT)
        finally:
            self.iter = current
        self.ours.save(done, status=status, elapsed_s=self.elapsed(), config=self.fl_cfg.to_dict(),
                       engine="detectron2", detectron2_checkpoint=f"{D2_CHECKPOINT}.pth")

    def train_until(self, end_iter: int) -> tuple[int, str]:
        """Run iterations up to ``end_iter`` or the time budget; return (iterations done, status)."""
        self.end_iter = end_iter
        status, last_step = "finished", 0.0
        self.t0 = time.perf_counter()
        self.iter = self.start_iter
        with EventStorage(self.start_iter) as self.storage:
            self.before_train()
            try:
                for it in range(self.start_iter, end_iter):
                    self.iter = it
                    if self.budget_s and distributed.rank0_decides(self.elapsed() + last_step > self.budget_s,
                                                                   self.cfg.MODEL.DEVICE):
                        status = "time_budget"
                        break
                    step_start = time.perf_counter()
                    self.before_step()
                    self.run_step()
                    self.after_step()
                    last_step = time.perf_counter() - step_start
                else:
                    self.iter = end_iter
            finally:
                self.after_train()
        if status == "finished" and self.iter < self.max_iter:
            status = "stopped"
        return self.iter, status


@contextmanager
def _ddp_on_cpu() -> Iterator[None]:
    """Let detectron2 0.6's trainer wrap a CPU model in DDP (gloo processes), for the duration of its constructor.

    Its ``create_ddp_model`` always passes ``device_ids=[local rank]``, which DistributedDataParallel
    accepts for a GPU model only; a CPU model must be wrapped without device ids.
    """
    import detectron2.engine.defaults as defaults
    from torch.nn.parallel import DistributedDataParallel

    original = defaults.create_ddp_model

    def create_ddp_model(model: torch.nn.Module, **kwargs: Any) -> torch.nn.Module:
        if not distributed.context().active or next(model.parameters()).is_cuda:
            return original(model, **kwargs)
        kwargs.pop("fp16_compression", None)  # a gradient-compression hook for NCCL; nothing to compress here
        return DistributedDataParallel(model, **kwargs)

    defaults.create_ddp_model = create_ddp_model
    try:
        yield
    finally:
        defaults.create_ddp_model = original


def _quiet_detectron2_logs() -> None:
    """Keep detectron2's INFO chatter (model printout, dataset tables) off the console unless logging is set up."""
    logger = logging.getLogger("detectron2")
    if logger.level == logging.NOTSET:  # DefaultTrainer would otherwise install its own stdout handler
        logger.setLevel(logging.INFO)


def train(
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
) -> TrainResult:
    """Train ``cfg`` with detectron2 into ``out_dir`` (same arguments and run folder as the torchvision engine)."""
    run = Path(out_dir)
    cfg = cfg.copy()
    if max_minutes is not None:
        cfg.train.max_minutes = max_minutes
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    cfg.data.coco_dir = str(Path(coco_dir).resolve())
    cfg.data.image_root = str(Path(image_root).resolve())
    is_main = distributed.context().is_main

    # 1. The run folder: fresh, resumed or refused (the torchvision engine's rules); rank 0 prepares it.
    state = check_run_folder(cfg, run, resume=resume, overwrite=overwrite)
    distributed.barrier()  # every process has checked the folder before rank 0 changes it
    if is_main:
        if state is None and overwrite:  # check_run_folder let a fresh run into a used folder only with overwrite
            shutil.rmtree(run / "checkpoints", ignore_errors=True)
            for old in [*run.glob("detections_*.json"), *run.glob("eval_*.json"), run / "metrics.jsonl",
                        run / "status.json", run / FINAL_WEIGHTS]:
                old.unlink(missing_ok=True)
        run.mkdir(parents=True, exist_ok=True)
        if state is None:
            (run / "metrics.jsonl").unlink(missing_ok=True)
        atomic_write_text(run / "config.yaml", cfg.to_yaml())
        atomic_write_text(run / "detectron2.yaml", d2_yaml(cfg, device))
    distributed.barrier()

    # 2. detectron2's config, datasets and trainer.
    names = register_datasets(cfg.data.coco_dir, cfg.data.image_root, (cfg.data.train_split, cfg.data.val_split))
    d2cfg = to_d2_config(cfg, device)
    d2cfg.defrost()
    d2cfg.DATASETS.TRAIN = (names[cfg.data.train_split],)
    d2cfg.DATASETS.TEST = (names[cfg.data.val_split],)
    d2cfg.OUTPUT_DIR = str(run)
    d2cfg.freeze()
    _quiet_detectron2_logs()
    with torch_threads(cfg.train.num_threads):
        set_seed(cfg.train.seed)
        if cfg.train.keep_freed_memory and device == "cpu":
            keep_freed_memory()
        trainer = Trainer(d2cfg, cfg, run, progress=progress)
        trainer.resume_or_load(resume=resume)  # resume: model, optimizer, schedule, iteration from d2_last.pth
        if state is not None:
            trainer.elapsed_before = float(state.get("elapsed_s", 0.0))
            if is_main:
                trainer.metrics.truncate_after("iter", trainer.start_iter, drop_kinds=("final",))
            # detectron2's sampler would restart its seeded stream and replay the first batches: reseed it.
            reseeded = d2cfg.clone()
            reseeded.defrost()
            reseeded.SEED = cfg.train.seed + trainer.start_iter
            trainer._trainer.data_loader = trainer.build_train_loader(reseeded)
            trainer._trainer._data_loader_iter_obj = None
        end_iter = cfg.solver.max_iter if stop_at is None else min(stop_at, cfg.solver.max_iter)
        if trainer.start_iter < end_iter and is_main:
            (run / FINAL_WEIGHTS).unlink(missing_ok=True)  # superseded by what this session trains
        done, status = trainer.train_until(end_iter)
        result = TrainResult(run, done, status, trainer.elapsed())
        if not is_main:
            distributed.barrier()  # rank 0 writes the checkpoints and evaluates
            return result
        trainer.save(done, status)  # refuses NaN weights (runio.NonFiniteError), keeping the last good ones
        if status != "stopped":
            trainer.ours.save_final("model", FINAL_WEIGHTS)
        if status == "time_budget":
            result.notes.append(f"stopped by the {cfg.train.max_minutes}-minute budget at iteration {done} of "
                                f"{cfg.solver.max_iter}")

        # 3. Final evaluation with detectron2's inference, written as evaluate-detector writes it.
        if final_eval and status != "stopped":
            result.final_eval = final_evaluation(trainer, run, cfg)
            trainer.metrics.append(kind="final", iter=done, elapsed_s=round(result.elapsed_s, 1),
                                   **{k: result.final_eval["stats"][k] for k in ("AP", "AP50", "AP75")})
            _plot(run)
    distributed.barrier()
    return result


def check_run_folder(cfg: DetectorConfig, run: Path, *, resume: bool, overwrite: bool) -> dict[str, Any] | None:
    """Return the checkpoint state to resume from (None for a fresh run); raise if the folder must not be used.

    Run before any process starts training (``launch_train`` calls it in the launching process), so a
    user's mistake is one line, not a traceback from each worker.
    """
    ckpt_file = checkpoint_path(run)
    if resume and ckpt_file.is_file() and not (run / "checkpoints" / "last_checkpoint").is_file():
        raise ResumeError(f"--resume: {run} was trained by the torchvision engine; resume it without --engine")
    if resume:
        if not ckpt_file.is_file() or not (run / "checkpoints" / "last_checkpoint").is_file():
            raise ResumeError(f"--resume: {run} holds no detectron2 checkpoint; start the run without --resume")
        state = torch.load(ckpt_file, map_location="cpu", weights_only=False)
        if comparable(state["config"]) != comparable(cfg.to_dict()):
            raise ResumeError(
                f"--resume: the config differs from the one {run} was trained with (see {run / 'config.yaml'}); "
                "resume with the same config or train into a new folder"
            )
        return state
    if (ckpt_file.is_file() or (run / "config.yaml").is_file()) and not overwrite:
        raise RunExistsError(f"{run} already holds a detector run; pass --resume to continue it or pick another --out")
    return None


def _launched_worker(cfg: DetectorConfig, kwargs: dict[str, Any], report: Any) -> None:
    """One process of :func:`launch_train` (detectron2's launch calls it after joining the process group)."""
    result = train(cfg, **kwargs)
    if report is not None and distributed.context().is_main:
        report(result)


def launch_train(cfg: DetectorConfig, *, num_processes: int, num_machines: int = 1, machine_rank: int = 0,
                 dist_url: str = "auto", report: Any = None, **kwargs: Any) -> None:
    """Train with detectron2's own ``launch``: ``num_processes`` per machine (one per GPU; gloo CPU processes without).

    ``kwargs`` are :func:`train`'s. The launching process only checks the run folder and waits; the
    workers train, and rank 0 calls ``report(result)`` (a picklable function) at the end.
    """
    from detectron2.engine import launch

    if num_processes < 1 or num_machines < 1 or not 0 <= machine_rank < num_machines:
        raise ValueError(f"detectron2 launch needs --num-gpus >= 1, --num-machines >= 1 and 0 <= --machine-rank < "
                         f"--num-machines; found {num_processes}, {num_machines}, {machine_rank}")
    if num_machines > 1 and dist_url == "auto":
        raise ValueError("several machines need --dist-url tcp://HOST:PORT of machine 0 (auto picks a local port)")
    if machine_rank == 0:
        check_run_folder(cfg, Path(kwargs["out_dir"]), resume=kwargs.get("resume", False),
                         overwrite=kwargs.get("overwrite", False))
    launch(_launched_worker, num_processes, num_machines=num_machines, machine_rank=machine_rank,
           dist_url=dist_url, args=(cfg, kwargs, report))


def final_evaluation(trainer: Trainer, run: Path, cfg: DetectorConfig) -> dict[str, Any]:
    """Write ``detections_<val>.json`` (detectron2's inference) and ``eval_<val>.json``; return the metrics."""
    from fashionlib.detection.evaluate import _quiet_coco, coco_evaluate

    split, records = cfg.data.val_split, trainer.val_records
    n = cfg.train.final_eval_max_images
    indices = list(range(len(records) if n is None else min(n, len(records))))
    size = (trainer.cfg.INPUT.MIN_SIZE_TEST, trainer.cfg.INPUT.MAX_SIZE_TEST)
    dets = predict_records(trainer.model, records, Mapper(*size, train=False), trainer.cat_ids, indices=indices)
    det_path = atomic_write_json(run / f"detections_{split}.json", dets)
    gt_file = Path(cfg.data.coco_dir) / f"{split}.json"
    coco_gt = _quiet_coco(gt_file)
    ids = sorted(coco_gt.getImgIds())
    subset = len(indices) < len(ids)
    ids = ids[: len(indices)]  # records are in image-id order, as pycocotools' ids
    result = coco_evaluate(coco_gt, dets, image_ids=ids)
    result.update(split=split, subset=subset, max_images=len(indices) if subset else None, gt_file=str(gt_file),
                  detections_file=det_path.name, engine="detectron2")
    atomic_write_json(run / f"eval_{split}.json", result, indent=1)
    return result


def _plot(run: Path) -> None:
    """Save ``figures/training.png`` as the torchvision engine does."""
    import matplotlib.pyplot as plt

    from fashionlib.detection.plots import plot_training
    from fashionlib.viz import save_figure

    fig = plot_training(run)
    save_figure(fig, run / "figures" / "training.png")
    plt.close(fig)
