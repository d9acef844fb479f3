"""Evaluation with pycocotools: the 12 standard numbers, AP per class and per box size, PR curves.

``evaluate_run(RUN, "val")`` runs the detector over a split, writes
``RUN/detections_val.json`` (COCO results format) and ``RUN/eval_val.json`` and
returns the same dict. A value of -1 in COCO's table is not a score: it means
the split has no ground-truth box in that size bucket (small < 32x32 pixels,
medium up to 96x96, large above), so there is nothing to measure.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fashionlib.runio import atomic_write_json

# The 12 numbers of COCOeval.summarize(), in its order.
STAT_NAMES = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")
# The study's Detectron Faster R-CNN R50-FPN on DeepFashion (3 classes), validation split.
STUDY_VAL = {"AP": 0.721, "AP50": 0.922, "AP75": 0.843, "APs": 0.094, "APm": 0.466, "APl": 0.744}
SIZE_BUCKETS = {"small": (0, 32**2), "medium": (32**2, 96**2), "large": (96**2, float("inf"))}


def _quiet_coco(gt: str | Path | Any) -> Any:
    """Return a pycocotools COCO object for a path (its loading chatter silenced) or pass one through."""
    from pycocotools.coco import COCO

    if isinstance(gt, COCO):
        return gt
    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(gt))


def coco_evaluate(
    gt: str | Path | Any, detections: Sequence[dict[str, Any]], *, image_ids: Sequence[int] | None = None
) -> dict[str, Any]:
    """Return COCO box metrics: ``stats`` (12 numbers), ``per_class``, ``pr_curves`` and pycocotools' ``summary`` text."""
    from pycocotools.cocoeval import COCOeval

    coco_gt = _quiet_coco(gt)
    ids = sorted(coco_gt.getImgIds()) if image_ids is None else sorted(int(i) for i in image_ids)
    cats = coco_gt.loadCats(sorted(coco_gt.getCatIds()))
    wanted = set(ids)  # built once: a set per detection made this quadratic (minutes at 40k images)
    dets = [d for d in detections if d["image_id"] in wanted]
    result: dict[str, Any] = {"num_images": len(ids), "num_detections": len(dets)}
    if not dets:  # loadRes cannot take an empty list; no detection means zero precision everywhere
        result["stats"] = {name: 0.0 for name in STAT_NAMES}
        result["per_class"] = {c["name"]: {k: 0.0 for k in STUDY_VAL} for c in cats}
        result["pr_curves"] = {"recall": np.linspace(0, 1, 101).round(2).tolist(), "iou50": {}, "iou75": {}}
        result["summary"] = "no detections: every AP and AR is 0"
        return result
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        coco_dt = coco_gt.loadRes([dict(d) for d in dets])  # loadRes adds keys in place: give it copies
        ev = COCOeval(coco_gt, coco_dt, "bbox")
        ev.params.imgIds = ids
        ev.evaluate()
        ev.accumulate()
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        ev.summarize()
    result["stats"] = {name: round(float(v), 4) for name, v in zip(STAT_NAMES, ev.stats)}
    result["summary"] = buf.getvalue().rstrip()
    precision = ev.eval["precision"]  # [IoU thresholds, recall points, classes, area ranges, max dets]
    result["per_class"] = {
        cat["name"]: {
            "AP": _mean_valid(precision[:, :, k, 0, -1]),
            "AP50": _mean_valid(precision[0, :, k, 0, -1]),
            "AP75": _mean_valid(precision[5, :, k, 0, -1]),
            "APs": _mean_valid(precision[:, :, k, 1, -1]),
            "APm": _mean_valid(precision[:, :, k, 2, -1]),
            "APl": _mean_valid(precision[:, :, k, 3, -1]),
        }
        for k, cat in enumerate(cats)
    }
    result["pr_curves"] = {
        "recall": [round(float(r), 2) for r in ev.params.recThrs],
        "iou50": {cat["name"]: [round(float(p), 4) for p in precision[0, :, k, 0, -1]] for k, cat in enumerate(cats)},
        "iou75": {cat["name"]: [round(float(p), 4) for p in precision[5, :, k, 0, -1]] for k, cat in enumerate(cats)},
    }
    return result


def _mean_valid(values: np.ndarray) -> float:
    """Return the mean of the entries that are not -1 (pycocotools' 'nothing to measure'), or -1 if none."""
    valid = values[values > -1]
    return round(float(valid.mean()), 4) if valid.size else -1.0


def evaluate_run(
    run_dir: str | Path,
    split: str = "val",
    *,
    max_images: int | None = None,
    batch_size: int | None = None,
    device: str | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Write ``detections_<split>.json`` and ``eval_<split>.json`` for a trained run; return the metrics.

    ``batch_size`` defaults to ``predict.EVAL_BATCH_SIZE``, shared by every evaluation so that they agree.
    """
    from fashionlib.detection.predict import EVAL_BATCH_SIZE, write_detections
    from fashionlib.detection.runs import load_run_config

    run = Path(run_dir)
    det_path = write_detections(run, split, max_images=max_images, batch_size=batch_size or EVAL_BATCH_SIZE,
                                device=device, progress=progress)
    cfg = load_run_config(run)
    gt_file = Path(cfg.data.coco_dir) / f"{split}.json"
    coco_gt = _quiet_coco(gt_file)
    ids = sorted(coco_gt.getImgIds())
    subset = max_images is not None and max_images < len(ids)
    if subset:
        ids = ids[:max_images]  # the dataset is ordered by image id, so these are the images predicted
    result = coco_evaluate(coco_gt, json.loads(det_path.read_text()), image_ids=ids)
    result.update(split=split, subset=subset, max_images=max_images if subset else None, gt_file=str(gt_file), detections_file=det_path.name)
    atomic_write_json(run / f"eval_{split}.json", result, indent=1)
    return result


def load_eval(run_dir: str | Path, split: str = "val") -> dict[str, Any]:
    """Return ``RUN/eval_<split>.json`` as written by :func:`evaluate_run`."""
    path = Path(run_dir) / f"eval_{split}.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; run `fashionlib evaluate-detector {run_dir} --split {split}`")
    return json.loads(path.read_text(encoding="utf-8"))


def stats_table(result: dict[str, Any]) -> pd.DataFrame:
    """Return the 12 COCO numbers as a one-column table."""
    return pd.DataFrame({"value": result["stats"]}).rename_axis("metric")


def study_table(result: dict[str, Any], label: str = "this run") -> pd.DataFrame:
    """Return the study's six validation numbers beside this run's."""
    rows = {k: {"study (Detectron R50-FPN, DeepFashion val)": v, label: result["stats"][k]} for k, v in STUDY_VAL.items()}
    return pd.DataFrame(rows).T.rename_axis("metric")


def per_class_table(result: dict[str, Any]) -> pd.DataFrame:
    """Return AP, AP50, AP75 and AP by box size for each class."""
    return pd.DataFrame(result["per_class"]).T.rename_axis("class")


def box_size_counts(gt: str | Path | Any, image_ids: Sequence[int] | None = None) -> pd.DataFrame:
    """Return how many ground-truth boxes of each class fall in COCO's small / medium / large buckets."""
    coco_gt = _quiet_coco(gt)
    anns = coco_gt.loadAnns(coco_gt.getAnnIds(imgIds=list(image_ids) if image_ids is not None else []))
    names = {c["id"]: c["name"] for c in coco_gt.loadCats(coco_gt.getCatIds())}
    counts = pd.DataFrame(0, index=[names[k] for k in sorted(names)], columns=list(SIZE_BUCKETS))
    for ann in anns:
        area = ann.get("area", ann["bbox"][2] * ann["bbox"][3])
        for bucket, (lo, hi) in SIZE_BUCKETS.items():
            if lo <= area < hi:
                counts.loc[names[ann["category_id"]], bucket] += 1
    counts.loc["all"] = counts.sum()
    return counts.rename_axis("class")


def evaluated_counts(result: dict[str, Any]) -> pd.DataFrame:
    """Return the ground-truth size-bucket counts of exactly the images an evaluation covered."""
    coco_gt = _quiet_coco(result["gt_file"])
    ids = sorted(coco_gt.getImgIds())
    if result.get("max_images"):
        ids = ids[: result["max_images"]]
    return box_size_counts(coco_gt, ids)


def explain_minus_one(result: dict[str, Any]) -> str:
    """Return a plain-words note on AP by box size, saying why a -1 is an empty size bucket, not a score."""
    counts = evaluated_counts(result)
    lines = []
    for key, bucket in (("APs", "small"), ("APm", "medium"), ("APl", "large")):
        n = int(counts.loc["all", bucket])
        value = result["stats"][key]
        if value == -1:
            lines.append(f"{key} = -1: no {bucket} ground-truth box among the evaluated images, so there is nothing "
                         "to measure (pycocotools writes -1; it is not a score).")
        else:
            lines.append(f"{key} = {value:.3f} over {n} {bucket} ground-truth boxes.")
    return "\n".join(lines)


def plot_pr_curves(result: dict[str, Any]) -> Any:
    """Return a figure of precision against recall per class, at IoU 0.5 and 0.75."""
    import matplotlib.pyplot as plt

    from fashionlib.viz import TYPE_COLORS

    curves = result["pr_curves"]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True)
    for ax, key, title in zip(axes, ("iou50", "iou75"), ("IoU 0.50", "IoU 0.75")):
        for name, prec in curves[key].items():
            prec = np.asarray(prec, dtype=float)
            prec[prec < 0] = np.nan  # -1: recall level never reached
            ap = result["per_class"][name]["AP50" if key == "iou50" else "AP75"]
            ax.plot(curves["recall"], prec, label=f"{name} (AP {ap:.2f})", color=TYPE_COLORS.get(name))
        ax.set_title(f"precision-recall, {title}")
        ax.set_xlabel("recall")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.legend(loc="lower left", fontsize=8)
    axes[0].set_ylabel("precision")
    fig.tight_layout()
    return fig


def size_table(result: dict[str, Any]) -> pd.DataFrame:
    """Return, per COCO size bucket, the number of ground-truth boxes, this run's AP and AR, and the study's AP."""
    counts = evaluated_counts(result)
    buckets = (("small", "APs", "ARs"), ("medium", "APm", "ARm"), ("large", "APl", "ARl"))
    return pd.DataFrame({
        "GT boxes": [int(counts.loc["all", b]) for b, _, _ in buckets],
        "AP": [result["stats"][ap] for _, ap, _ in buckets],
        "AR": [result["stats"][ar] for _, _, ar in buckets],
        "study AP": [STUDY_VAL[ap] for _, ap, _ in buckets],
    }, index=pd.Index([b for b, _, _ in buckets], name="size"))


def describe(result: dict[str, Any]) -> str:
    """Return pycocotools' summary headed by what was evaluated (split, images, whether a subset)."""
    what = f"{result['split']}: {result['num_images']} images, {result['num_detections']} detections"
    if result.get("subset"):
        what += f" (SUBSET: the first {result['num_images']} images only, FASHIONLIB_FAST=1)"
    return what + "\n" + result["summary"]
