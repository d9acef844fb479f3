"""Garment detector: torchvision's Faster R-CNN + FPN trained on DeepFashion in COCO format.

Modules, in the order a run uses them: ``config`` (YAML -> dataclasses),
``data`` (COCO dataset, flips, batches), ``model`` (the network and its weights),
``engine`` (the training loop), ``predict`` (inference), ``evaluate``
(pycocotools), ``plots`` (figures for notebooks 03-04).

A run folder (default ``profile.detector_dir``) holds ``config.yaml``,
``metrics.jsonl``, ``checkpoints/last.pt``, ``detections_<split>.json`` (COCO
results format), ``eval_<split>.json`` and ``figures/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fashionlib import distributed
from fashionlib.detection.config import (
    ConfigError,
    DetectorConfig,
    config_table,
    fast_version,
    load_config,
    sample_config,
    study_config,
    with_global_batch,
    with_overrides,
    with_schedule,
)
from fashionlib.detection.data import CocoDetection
from fashionlib.detection.engine import ResumeError, RunExistsError, TrainResult, train, train_one_iter
from fashionlib.detection.evaluate import (
    STUDY_VAL,
    box_size_counts,
    coco_evaluate,
    describe,
    evaluate_run,
    explain_minus_one,
    load_eval,
    per_class_table,
    plot_pr_curves,
    size_table,
    stats_table,
    study_table,
)
from fashionlib.detection.model import WeightsNotFoundError, build_model, model_summary, weights_file
from fashionlib.detection.plots import (
    confusion_table,
    miss_table,
    plot_misses,
    plot_training,
    prediction_grid,
    training_frames,
    validation_table,
)
from fashionlib.detection.predict import (
    EVAL_BATCH_SIZE,
    class_agnostic_nms,
    load_detector,
    predict_folder,
    predict_images,
    write_all_detections,
    write_detections,
)
from fashionlib.detection.runs import RunError, comparable, load_run_config, read_status

__all__ = [
    "EVAL_BATCH_SIZE", "STUDY_VAL", "CocoDetection", "ConfigError", "DetectorConfig", "ResumeError", "RunError",
    "RunExistsError",
    "TrainResult", "WeightsNotFoundError", "add_commands", "box_size_counts", "build_model", "class_agnostic_nms", "coco_evaluate",
    "config_table", "confusion_table", "default_config", "describe", "ensure_detector", "evaluate_run", "explain_minus_one",
    "fast_version", "load_config", "load_detector", "load_eval", "load_run_config", "miss_table", "model_summary",
    "per_class_table", "plot_misses", "plot_pr_curves", "plot_training", "predict_folder", "predict_images",
    "prediction_grid", "read_status", "sample_config", "size_table", "stats_table", "study_config", "study_table",
    "train", "train_detector", "train_one_iter", "training_frames", "validation_table", "weights_file", "with_global_batch",
    "with_schedule",
    "write_all_detections", "write_detections",
]


def default_config(profile: Any) -> DetectorConfig:
    """Return the profile's detector config: the CPU stand-in for ``sample``, the study's for ``full``."""
    return sample_config() if profile.is_sample else study_config()


def train_detector(
    profile: Any,
    config: str | Path | DetectorConfig | None = None,
    *,
    max_minutes: float | None = None,
    max_iter: int | None = None,
    run_dir: str | Path | None = None,
    progress: bool = True,
    verbose: bool = True,
    engine: str = "torchvision",
) -> TrainResult:
    """Train the profile's detector into ``run_dir`` (default ``profile.detector_dir``), or reuse a finished run.

    ``engine``: "torchvision" (this package's loop) or "detectron2" (needs ``make detectron2``); both write
    the same run-folder layout.

    A run is reused when its checkpoint is final (finished or stopped by the time
    budget) and its config equals the requested one; an unfinished one is resumed.

    Under ``profile.fast`` the schedule is shortened (same model, same data) and a
    finished full-length run of the same config is reused as it is. A folder holding a run of another
    config is moved aside (``<folder>.replaced-<time>``), never trained over; only the short FAST run
    of the same config is replaced.
    """
    from fashionlib.coco import ensure_coco

    if engine == "detectron2":
        from fashionlib.detection.d2 import train as engine_train  # detectron2 is imported only here
    elif engine == "torchvision":
        engine_train = train
    else:
        raise ValueError(f"engine must be torchvision or detectron2, found {engine!r}")
    base = config if isinstance(config, DetectorConfig) else (load_config(config) if config else default_config(profile))
    if max_iter is not None:
        base = with_schedule(base, max_iter)
    if max_minutes is not None:
        base = base.copy()
        base.train.max_minutes = max_minutes
    cfg = fast_version(base) if profile.fast else base
    run = Path(run_dir or profile.detector_dir)
    coco = ensure_coco(profile)
    status = read_status(run)
    if status is not None:
        saved = comparable(status["config"])
        same = saved == comparable(cfg.to_dict())
        if status["status"] in ("finished", "time_budget") and (same or saved == comparable(base.to_dict())):
            if not (run / "eval_val.json").is_file():
                evaluate_run(run, "val", max_images=cfg.train.final_eval_max_images, progress=progress)
            if verbose:
                print(f"Reusing the trained detector in {_shown(run)} (status {status['status']}, iteration "
                      f"{status['iteration']}, {status['elapsed_s'] / 60:.1f} min of training); "
                      "delete that folder to train again.")
            return TrainResult(run, status["iteration"], status["status"], status["elapsed_s"],
                               final_eval=load_eval(run, "val"), reused=True)
        if status["status"] in ("running", "stopped") and same:
            if verbose:
                print(f"Resuming the unfinished run in {_shown(run)} from iteration {status['iteration']}.")
            return engine_train(cfg, coco_dir=coco, image_root=profile.data_root, out_dir=run, resume=True,
                                device=profile.device, progress=progress)
        # Only the short FASHIONLIB_FAST run of this config is trained over; any other run is kept.
        if saved != comparable(fast_version(base).to_dict()):
            kept = set_aside(run)
            if verbose:
                print(f"{_shown(run)} held a run of another config: moved to {kept.name} (nothing deleted); "
                      "training the requested config.")
    return engine_train(cfg, coco_dir=coco, image_root=profile.data_root, out_dir=run, overwrite=True,
                        device=profile.device, progress=progress)


def set_aside(run: Path) -> Path:
    """Rename a run folder to a free ``<name>.replaced-<time>`` beside it and return the new path."""
    import time

    stamp = time.strftime("%Y%m%d-%H%M%S")
    for n in range(1000):
        target = run.with_name(f"{run.name}.replaced-{stamp}" + (f"-{n}" if n else ""))
        if not target.exists():
            run.rename(target)  # atomic on one file system: the old run is either here or there
            return target
    raise FileExistsError(f"no free name to move {run} aside; move or delete it yourself")


def ensure_detector(
    profile: Any, config: str | Path | DetectorConfig | None = None, *, run_dir: str | Path | None = None,
    progress: bool = True,
) -> Path:
    """Return the profile's trained detector run folder, training it first (short under FAST) if needed."""
    return train_detector(profile, config, run_dir=run_dir, progress=progress, verbose=True).run_dir


def _shown(path: Path) -> str:
    """Return a run folder as printed in notebooks: relative to the project, never a machine's absolute path."""
    from fashionlib.config import find_home

    try:
        return str(Path(path).resolve().relative_to(find_home()))
    except ValueError:
        return Path(path).name


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------


def _cmd_train(args: Any) -> int:
    from fashionlib.config import get_profile

    profile = get_profile()
    cfg = load_config(args.config) if args.config else default_config(profile)
    cfg = with_overrides(cfg, args.overrides)  # before the schedule flags below, as if edited in the file
    if args.keep_freed_memory:
        cfg.train.keep_freed_memory = True
    if args.max_iter:
        cfg = with_schedule(cfg, args.max_iter)
    if args.batch_size and args.batch_size != cfg.solver.ims_per_batch:
        old_lr = cfg.solver.base_lr
        cfg = with_global_batch(cfg, args.batch_size)
        print(f"global batch {args.batch_size}: solver.base_lr {old_lr:g} -> {cfg.solver.base_lr:g} (linear rule)")
    if args.fast or (profile.fast and not args.config):
        cfg = fast_version(cfg)
    if (args.coco is None) != (args.images is None):
        raise ValueError("give both --coco DIR and --images ROOT, or neither (then the profile's data is used)")
    if args.coco is None:
        from fashionlib.coco import ensure_coco

        coco, images = ensure_coco(profile), profile.data_root
    else:
        coco, images = Path(args.coco), Path(args.images)
    out = Path(args.out) if args.out else profile.detector_dir
    kwargs = dict(coco_dir=coco, image_root=images, out_dir=out, resume=args.resume, overwrite=args.overwrite,
                  max_minutes=args.max_minutes, stop_at=args.stop_at)
    launched = args.num_gpus > 1 or args.num_machines > 1
    if launched and args.engine != "detectron2":
        raise ValueError("--num-gpus/--num-machines start detectron2's own launch (--engine detectron2); the "
                         "torchvision engine runs on several processes under torchrun (README, torchrun)")
    if distributed.launched_by_torchrun() and args.engine == "detectron2":
        raise ValueError("the detectron2 engine starts its own processes: run it without torchrun, with "
                         "--num-gpus N (and --num-machines, --machine-rank, --dist-url across machines)")
    if launched:
        import torch

        from fashionlib.detection.d2 import launch_train  # detectron2 is imported only here

        device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
        launch_train(cfg, num_processes=args.num_gpus, num_machines=args.num_machines,
                     machine_rank=args.machine_rank, dist_url=args.dist_url, report=report_training,
                     device=device, **kwargs)
        return 0
    ctx, device = distributed.init_from_env(args.device)  # torchrun: join the process group (a no-op otherwise)
    if args.engine == "detectron2":
        from fashionlib.detection.d2 import train as engine_train  # detectron2 is imported only here
    else:
        engine_train = train
    result = engine_train(cfg, device=device, **kwargs)
    distributed.shutdown()
    if ctx.is_main:
        report_training(result)
    return 0


def report_training(result: TrainResult) -> None:
    """Print how a training command ended (rank 0 of a multi-process run only): the account the notebooks print,
    where the run is, and pycocotools' whole summary."""
    print(result.report())
    print(f"run folder: {result.run_dir}")
    if result.final_eval:
        print(result.final_eval["summary"])


def _cmd_evaluate(args: Any) -> int:
    result = evaluate_run(args.run, args.split, max_images=args.max_images, batch_size=args.batch_size,
                          device=args.device)
    if result["subset"]:
        print(f"(first {result['num_images']} images of {args.split} only)")
    print(result["summary"])
    print(f"wrote {Path(args.run) / result['detections_file']} and {Path(args.run) / f'eval_{args.split}.json'}")
    return 0


def _cmd_predict(args: Any) -> int:
    out = predict_folder(args.run, args.images, args.out, score_thresh=args.score_thresh)
    print(f"wrote predictions.json and one drawing per image to {out}")
    return 0


def add_commands(sub: Any) -> None:
    """Register ``train-detector``, ``evaluate-detector`` and ``predict``."""
    p = sub.add_parser("train-detector", help="train the Faster R-CNN garment detector")
    p.add_argument("--config", help="YAML config or a name in configs/ (default: the profile's)")
    p.add_argument("--coco", help="folder with train.json / val.json (default: the profile's, converted if needed)")
    p.add_argument("--images", help="image root the COCO file_names are relative to")
    p.add_argument("--out", help="run folder (default: runs/<profile>/detector)")
    p.add_argument("--resume", action="store_true", help="continue from RUN/checkpoints/last.pt")
    p.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
    p.add_argument("--max-minutes", type=float, default=None, help="stop (checkpointed) after this many minutes")
    p.add_argument("--max-iter", type=int, default=None, help="train this many iterations (schedule scaled to fit)")
    p.add_argument("--stop-at", type=int, default=None, help="stop after this iteration (resumable)")
    p.add_argument("--fast", action="store_true", help="the short FASHIONLIB_FAST schedule")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="global images per step (all processes together); the LR scales by the linear rule")
    p.add_argument("--engine", choices=("torchvision", "detectron2"), default="torchvision",
                   help="training engine; detectron2 needs `make detectron2` (same run folder either way)")
    p.add_argument("--num-gpus", type=int, default=1,
                   help="detectron2 engine: processes per machine started by detectron2's launch (one per GPU; "
                        "gloo CPU processes without GPUs)")
    p.add_argument("--num-machines", type=int, default=1, help="detectron2 engine: machines taking part")
    p.add_argument("--machine-rank", type=int, default=0, help="detectron2 engine: this machine's rank")
    p.add_argument("--dist-url", default="auto",
                   help="detectron2 engine: tcp://HOST:PORT of machine 0 (auto: a free local port, one machine)")
    p.add_argument("--keep-freed-memory", action="store_true",
                   help="CPU: keep freed memory in the process (faster large steps, more memory; README)")
    p.add_argument("overrides", nargs="*", metavar="section.key=value",
                   help="change config values, e.g. solver.base_lr=0.01 train.num_workers=0 (type-checked)")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("evaluate-detector", help="COCO evaluation of a trained detector on a split")
    p.add_argument("run", help="run folder written by train-detector")
    p.add_argument("--split", default="val", help="train, val or test (default val)")
    p.add_argument("--max-images", type=int, default=None, help="evaluate on the first N images only")
    p.add_argument("--batch-size", type=int, default=EVAL_BATCH_SIZE)
    p.add_argument("--device", default=None)
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("predict", help="detect garments in image files or folders")
    p.add_argument("run", help="run folder written by train-detector")
    p.add_argument("images", nargs="+", help="image files or folders")
    p.add_argument("--out", required=True, help="output folder for predictions.json and drawings")
    p.add_argument("--score-thresh", type=float, default=0.5)
    p.set_defaults(func=_cmd_predict)
