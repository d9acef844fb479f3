"""Figures and tables for notebooks 03-04: training curves, predictions against ground truth, worst misses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torchvision.ops import box_iou

from fashionlib.detection.data import xywh_to_xyxy
from fashionlib.detection.model import LOSS_NAMES
from fashionlib.detection.runs import load_run_config
from fashionlib.runio import MetricsLog


def training_frames(run_dir: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (per-iteration training rows, validation rows) from ``RUN/metrics.jsonl``."""
    frame = MetricsLog(Path(run_dir) / "metrics.jsonl").frame()
    if frame.empty:
        raise FileNotFoundError(f"{run_dir}/metrics.jsonl is empty or missing; train the detector first")
    train = frame[frame["kind"] == "train"].dropna(axis=1, how="all").reset_index(drop=True)
    val = frame[frame["kind"] == "val"].dropna(axis=1, how="all").reset_index(drop=True)
    return train, val


def validation_table(run_dir: str | Path) -> pd.DataFrame:
    """Return the periodic validation rows (iteration, validation loss, AP, AP50, AP75, images used)."""
    _, val = training_frames(run_dir)
    cols = ["val_loss", "AP", "AP50", "AP75", "val_images"]
    table = pd.DataFrame(columns=cols) if val.empty else val[["iter", *cols]].set_index("iter")
    final = _final_row(run_dir)
    if final is not None:  # the end-of-training evaluation on the whole split (no loss measured there)
        table.loc[final["iter"]] = [float("nan"), final["AP"], final["AP50"], final["AP75"], final.get("num_images")]
    table["scope"] = ["val subset"] * len(val) + (["final, whole split"] if final is not None else [])
    return table.rename_axis("iter").round(4)


def _final_row(run_dir: str | Path) -> dict[str, Any] | None:
    """Return the last ``final`` metrics row (end-of-training evaluation), with the number of images evaluated."""
    rows = [r for r in MetricsLog(Path(run_dir) / "metrics.jsonl").rows() if r.get("kind") == "final"]
    if not rows:
        return None
    row = dict(rows[-1])
    eval_file = Path(run_dir) / "eval_val.json"
    if eval_file.is_file():
        row["num_images"] = json.loads(eval_file.read_text(encoding="utf-8")).get("num_images")
    return row


def plot_training(run_dir: str | Path, smooth: int = 20) -> Any:
    """Return a figure: loss components (smoothed) over iterations, train vs val loss, and val AP."""
    import matplotlib.pyplot as plt

    train, val = training_frames(run_dir)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    roll = train.set_index("iter")[list(LOSS_NAMES) + ["loss"]].rolling(smooth, min_periods=1).mean()
    for name in LOSS_NAMES:
        axes[0].plot(roll.index, roll[name], label=name.replace("loss_", ""))
    axes[0].set_title(f"loss components (mean of {smooth} iterations)")
    axes[0].set_xlabel("iteration")
    axes[0].legend(fontsize=8)
    axes[1].plot(roll.index, roll["loss"], label="train")
    if not val.empty:
        axes[1].plot(val["iter"], val["val_loss"], "o-", label="validation")
    axes[1].set_title("total loss")
    axes[1].set_xlabel("iteration")
    axes[1].legend(fontsize=8)
    final = _final_row(run_dir)
    for key in ("AP50", "AP", "AP75"):
        if val.empty and final is None:
            break
        line = axes[2].plot(val["iter"] if not val.empty else [], val[key] if not val.empty else [], "o-", label=key)
        if final is not None:  # the final evaluation (whole split) as a star at the last iteration
            axes[2].plot([final["iter"]], [final[key]], "*", markersize=11, color=line[0].get_color())
    axes[2].set_ylim(0, 1)
    axes[2].legend(fontsize=8)
    axes[2].set_title("validation AP (o: val subset, *: final, whole split)", fontsize=9)
    axes[2].set_xlabel("iteration")
    fig.tight_layout()
    return fig


def _split_data(run_dir: str | Path, split: str) -> tuple[dict[str, Any], dict[int, list], dict[int, list], list[int]]:
    """Return (gt json, gt anns by image, detections by image, evaluated image ids) for a split of a run."""
    run = Path(run_dir)
    cfg = load_run_config(run)
    gt = json.loads((Path(cfg.data.coco_dir) / f"{split}.json").read_text(encoding="utf-8"))
    det_file = run / f"detections_{split}.json"
    if not det_file.is_file():
        raise FileNotFoundError(f"{det_file} not found; run evaluate_run(run_dir, {split!r}) first")
    dets = json.loads(det_file.read_text(encoding="utf-8"))
    ids = sorted(img["id"] for img in gt["images"])
    eval_file = run / f"eval_{split}.json"
    if eval_file.is_file():
        limit = json.loads(eval_file.read_text(encoding="utf-8")).get("max_images")
        if limit:
            ids = ids[:limit]
    gt_by: dict[int, list] = {i: [] for i in ids}
    for ann in gt["annotations"]:
        if ann["image_id"] in gt_by:
            gt_by[ann["image_id"]].append(ann)
    det_by: dict[int, list] = {i: [] for i in ids}
    for d in dets:
        if d["image_id"] in det_by:
            det_by[d["image_id"]].append(d)
    return gt, gt_by, det_by, ids


def _best(ann: dict[str, Any], dets: list[dict[str, Any]]) -> tuple[float, dict[str, Any] | None]:
    """Return (best IoU, that detection) of a ground-truth box among ``dets`` ((0, None) if there are none)."""
    if not dets:
        return 0.0, None
    ious = box_iou(xywh_to_xyxy(torch.tensor([ann["bbox"]], dtype=torch.float32)),
                   xywh_to_xyxy(torch.tensor([d["bbox"] for d in dets], dtype=torch.float32)))[0]
    k = int(ious.argmax())
    return float(ious[k]), dets[k]


def miss_table(run_dir: str | Path, split: str = "val", score_thresh: float = 0.5) -> pd.DataFrame:
    """Return every ground-truth box with what the detector made of it, worst first.

    ``best_iou``/``score``: the best same-class detection from ``score_thresh`` up; ``found_as``,
    ``iou_any``, ``score_any``: the best-overlapping detection of any class from ``score_thresh`` up (a
    wrong ``found_as`` is class confusion); ``iou_low_score``: the best same-class IoU at any score (the
    garment was found but scored below the threshold).
    """
    gt, gt_by, det_by, _ = _split_data(run_dir, split)
    names = {c["id"]: c["name"] for c in gt["categories"]}
    files = {img["id"]: img["file_name"] for img in gt["images"]}
    rows = []
    for image_id, anns in gt_by.items():
        dets = [d for d in det_by[image_id] if d["score"] >= score_thresh]
        for ann in anns:
            iou, same = _best(ann, [d for d in dets if d["category_id"] == ann["category_id"]])
            iou_any, other = _best(ann, dets)
            iou_low, _ = _best(ann, [d for d in det_by[image_id] if d["category_id"] == ann["category_id"]])
            rows.append({"image_id": image_id, "file_name": files[image_id], "class": names[ann["category_id"]],
                         "area": ann["bbox"][2] * ann["bbox"][3], "best_iou": round(iou, 3),
                         "score": round(same["score"], 3) if same else 0.0,
                         "found_as": names[other["category_id"]] if other else "nothing",
                         "iou_any": round(iou_any, 3), "score_any": round(other["score"], 3) if other else 0.0,
                         "iou_low_score": round(iou_low, 3)})
    frame = pd.DataFrame(rows)
    return frame.sort_values(["best_iou", "area", "image_id"], kind="stable").reset_index(drop=True)


def confusion_table(run_dir: str | Path, split: str = "val", score_thresh: float = 0.5, iou: float = 0.5) -> pd.DataFrame:
    """Return ground-truth class x what covers it: each class predicted on it (IoU >= ``iou``, score from
    ``score_thresh`` up; one garment can count under several classes: duplicates) and "missed"."""
    gt, gt_by, det_by, _ = _split_data(run_dir, split)
    names = {c["id"]: c["name"] for c in gt["categories"]}
    order = [names[k] for k in sorted(names)]
    table = pd.DataFrame(0, index=pd.Index(order, name="ground truth"), columns=[*order, "missed"])
    for image_id, anns in gt_by.items():
        dets = [d for d in det_by[image_id] if d["score"] >= score_thresh]
        for ann in anns:
            hits = {names[d["category_id"]] for d in dets if _best(ann, [d])[0] >= iou}
            for name in hits:
                table.loc[names[ann["category_id"]], name] += 1
            if not hits:
                table.loc[names[ann["category_id"]], "missed"] += 1
    return table


def _draw(ax: Any, image_root: Path, file_name: str, anns: list, dets: list, names: dict[int, str], title: str) -> None:
    from fashionlib.detection.predict import draw_detections

    with Image.open(image_root / file_name) as img:
        pred = {"boxes": [d["bbox"] for d in dets], "scores": [d["score"] for d in dets],
                "category_ids": [d["category_id"] for d in dets], "labels": [names[d["category_id"]] for d in dets]}
        gt = {"boxes": [a["bbox"] for a in anns], "category_ids": [a["category_id"] for a in anns]}
        draw_detections(ax, img.convert("RGB"), pred, gt)
    ax.set_title(title, fontsize=7)


def prediction_grid(
    run_dir: str | Path, split: str = "val", *, n: int = 8, score_thresh: float = 0.5, seed: int = 0, ncols: int = 4
) -> Any:
    """Return a grid of images: predictions (solid, with scores) over ground truth (dashed)."""
    import matplotlib.pyplot as plt

    gt, gt_by, det_by, ids = _split_data(run_dir, split)
    root = Path(load_run_config(run_dir).data.image_root)
    names = {c["id"]: c["name"] for c in gt["categories"]}
    files = {img["id"]: img["file_name"] for img in gt["images"]}
    pick = np.random.default_rng(seed).choice(len(ids), size=min(n, len(ids)), replace=False)
    nrows = -(-len(pick) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.9 * ncols, 2.2 * nrows))
    axes = np.atleast_1d(axes).ravel()
    for ax in axes:
        ax.axis("off")
    for ax, k in zip(axes, sorted(pick)):
        image_id = ids[k]
        dets = [d for d in det_by[image_id] if d["score"] >= score_thresh]
        _draw(ax, root, files[image_id], gt_by[image_id], dets, names, f"image {image_id}")
    fig.suptitle(f"{split}: predictions (solid, score >= {score_thresh}) vs ground truth (dashed)", fontsize=9)
    fig.tight_layout()
    return fig


def plot_misses(run_dir: str | Path, split: str = "val", *, n: int = 8, score_thresh: float = 0.5, ncols: int = 4) -> Any:
    """Return a grid of the ``n`` ground-truth boxes the detector found worst (lowest best IoU)."""
    import matplotlib.pyplot as plt

    gt, gt_by, det_by, _ = _split_data(run_dir, split)
    root = Path(load_run_config(run_dir).data.image_root)
    names = {c["id"]: c["name"] for c in gt["categories"]}
    misses = miss_table(run_dir, split, score_thresh).drop_duplicates("image_id").head(n)
    nrows = max(1, -(-len(misses) // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.9 * ncols, 2.2 * nrows))
    axes = np.atleast_1d(axes).ravel()
    for ax in axes:
        ax.axis("off")
    for ax, row in zip(axes, misses.to_dict("records")):
        dets = [d for d in det_by[row["image_id"]] if d["score"] >= score_thresh]
        _draw(ax, root, row["file_name"], gt_by[row["image_id"]], dets, names,
              f"{row['class']} found as {row['found_as']} (IoU {row['iou_any']:.2f})")
    fig.suptitle(f"worst misses on {split} (dashed: ground truth)", fontsize=9)
    fig.tight_layout()
    return fig
