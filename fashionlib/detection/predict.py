"""Prediction: load a trained run, batched inference over a COCO split or image files, drawings.

Every prediction leaves this module in COCO results format, in original image
pixels: ``{"image_id", "category_id", "bbox": [x, y, w, h], "score"}``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from fashionlib.detection.config import DetectorConfig, norm_kind
from fashionlib.detection.data import (
    CocoDetection,
    load_image,
    make_eval_loader,
    prepare_image,
    resize_boxes,
    xywh_to_xyxy,
    xyxy_to_xywh,
)
from fashionlib.detection.model import build_model
from fashionlib.detection.runs import FINAL_WEIGHTS, RunError, checkpoint_path, load_run_config, torch_threads
from fashionlib.runio import atomic_write_json

# Images per inference batch. A batch is zero-padded to its largest image, and the padding shifts the
# features near the image borders a little, so scores depend slightly on the batch size: every evaluation
# (end of training, notebook 04, the CLI) uses this one size, so they all report the same numbers.
EVAL_BATCH_SIZE = 4


def model_for_checkpoint(cfg: DetectorConfig, *, channels_last: bool = False) -> torch.nn.Module:
    """Return the network of ``cfg`` without loading pretrained files (a checkpoint will supply the weights)."""
    bare = cfg.copy()
    bare.model.norm = norm_kind(cfg)  # keep the norm the run trained with
    bare.model.weights = "none"
    model = build_model(bare, channels_last=channels_last)
    if cfg.model.weights == "coco":  # FrozenBN eps is not in the state dict; COCO weights use 0
        from torchvision.ops.misc import FrozenBatchNorm2d

        for mod in model.modules():
            if isinstance(mod, FrozenBatchNorm2d):
                mod.eps = 0.0
    return model


def load_detector(
    run_dir: str | Path, *, checkpoint: str | None = None, device: str | None = None
) -> tuple[torch.nn.Module, DetectorConfig]:
    """Return ``(model in eval mode, config)`` of a run: its final weights, else its last checkpoint.

    ``checkpoint`` names a file in ``RUN/checkpoints/`` (e.g. ``"last"``) to load that one instead.
    """
    cfg = load_run_config(run_dir)
    final = Path(run_dir) / FINAL_WEIGHTS
    path = final if checkpoint is None and final.is_file() else checkpoint_path(run_dir, checkpoint or "last")
    if not path.is_file():
        raise RunError(f"{path} not found; the run in {run_dir} has not written a checkpoint yet")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    state = torch.load(path, map_location="cpu", weights_only=False)
    model = model_for_checkpoint(cfg, channels_last=cfg.train.channels_last and device.startswith("cuda"))
    model.load_state_dict(state if path == final else state["model"])
    return model.to(device).eval(), cfg


def _to_results(
    out: dict[str, torch.Tensor], target: dict[str, torch.Tensor], cat_ids: Sequence[int]
) -> list[dict[str, Any]]:
    """Return one image's detections in COCO results format, boxes mapped back to original pixels."""
    boxes = resize_boxes(out["boxes"].float().cpu(), target["size"].tolist(), target["orig_size"].tolist())
    boxes = xyxy_to_xywh(boxes).tolist()
    image_id = int(target["image_id"])
    return [
        {"image_id": image_id, "category_id": int(cat_ids[label - 1]),
         "bbox": [round(v, 2) for v in box], "score": round(score, 5)}
        for box, label, score in zip(boxes, out["labels"].tolist(), out["scores"].float().cpu().tolist())
    ]


@torch.inference_mode()
def predict_dataset(
    model: torch.nn.Module,
    dataset: CocoDetection,
    *,
    indices: Sequence[int] | None = None,
    batch_size: int = EVAL_BATCH_SIZE,
    device: str = "cpu",
    amp: bool = False,
    progress: bool = True,
    desc: str = "predict",
) -> list[dict[str, Any]]:
    """Return the model's detections on ``dataset`` (or the images at ``indices``) in COCO results format."""
    was_training = model.training
    model.eval()
    results: list[dict[str, Any]] = []
    loader = make_eval_loader(dataset, batch_size, indices=indices)
    use_amp = amp and device.startswith("cuda")
    try:
        for images, targets in tqdm(loader, desc=desc, disable=not progress, leave=False):
            with torch.autocast("cuda", enabled=use_amp):
                outputs = model([img.to(device, non_blocking=True) for img in images])
            for out, target in zip(outputs, targets):
                results.extend(_to_results(out, target, dataset.cat_ids))
    finally:
        model.train(was_training)
    results.sort(key=lambda r: (r["image_id"], -r["score"]))
    return results


def class_agnostic_nms(detections: Sequence[dict[str, Any]], iou_thresh: float = 0.7) -> list[dict[str, Any]]:
    """Return COCO-format detections where, per image, a box overlapping a higher-scored box of ANY class
    by more than ``iou_thresh`` is dropped (torchvision's detector runs NMS per class, so one garment can
    come out twice, e.g. a dress as "upper" and as "full")."""
    from torchvision.ops import nms

    by_image: dict[int, list[dict[str, Any]]] = {}
    for d in detections:
        by_image.setdefault(d["image_id"], []).append(d)
    kept: list[dict[str, Any]] = []
    for image_id in sorted(by_image):
        dets = by_image[image_id]
        boxes = xywh_to_xyxy(torch.tensor([d["bbox"] for d in dets], dtype=torch.float32))
        keep = nms(boxes, torch.tensor([d["score"] for d in dets], dtype=torch.float32), iou_thresh)
        kept.extend(dets[i] for i in sorted(keep.tolist(), key=lambda i: -dets[i]["score"]))
    return kept


def split_dataset(cfg: DetectorConfig, split: str) -> CocoDetection:
    """Return the dataset of a split (``train``, ``val``, ``test``) named in a run's config."""
    if not cfg.data.coco_dir or not cfg.data.image_root:
        raise RunError("the config has no data.coco_dir / data.image_root; it was not produced by a training run")
    return CocoDetection(Path(cfg.data.coco_dir) / f"{split}.json", cfg.data.image_root, cfg.input)


def write_detections(
    run_dir: str | Path,
    split: str = "val",
    *,
    max_images: int | None = None,
    batch_size: int = EVAL_BATCH_SIZE,
    device: str | None = None,
    progress: bool = True,
) -> Path:
    """Run the trained detector over a split and write ``RUN/detections_<split>.json``; return its path."""
    model, cfg = load_detector(run_dir, device=device)
    device = next(model.parameters()).device.type
    dataset = split_dataset(cfg, split)
    indices = None if max_images is None else list(range(min(max_images, len(dataset))))
    with torch_threads(cfg.train.num_threads if device == "cpu" else None):
        dets = predict_dataset(
            model, dataset, indices=indices, batch_size=batch_size, device=device, amp=cfg.train.amp,
            progress=progress, desc=f"detect {split}",
        )
    return atomic_write_json(Path(run_dir) / f"detections_{split}.json", dets)


def write_all_detections(
    run_dir: str | Path, splits: Sequence[str] = ("train", "val", "test"), *, max_images: int | None = None,
    progress: bool = True,
) -> dict[str, Path]:
    """Write ``detections_<split>.json`` for every split (what the crop stage reads); return the paths."""
    return {split: write_detections(run_dir, split, max_images=max_images, progress=progress) for split in splits}


@torch.inference_mode()
def predict_images(
    run_dir: str | Path,
    paths: Sequence[str | Path],
    *,
    score_thresh: float = 0.5,
    batch_size: int = EVAL_BATCH_SIZE,
    device: str | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Return, per image file, ``{"file", "boxes" (xywh), "scores", "labels" (names), "category_ids"}``."""
    model, cfg = load_detector(run_dir, device=device)
    device = next(model.parameters()).device.type
    names = _class_names(cfg)
    out: list[dict[str, Any]] = []
    paths = [Path(p) for p in paths]
    with torch_threads(cfg.train.num_threads if device == "cpu" else None):
        for start in tqdm(range(0, len(paths), batch_size), desc="predict", disable=not progress, leave=False):
            chunk = paths[start : start + batch_size]
            raw = [load_image(p) for p in chunk]
            prepared = [prepare_image(img, cfg.input) for img in raw]
            outputs = model([img.to(device) for img in prepared])
            for path, img, prep, pred in zip(chunk, raw, prepared, outputs):
                keep = pred["scores"] >= score_thresh
                boxes = resize_boxes(pred["boxes"][keep].float().cpu(), prep.shape[-2:], img.shape[-2:])
                labels = pred["labels"][keep].tolist()
                out.append({
                    "file": str(path),
                    "boxes": [[round(v, 2) for v in b] for b in xyxy_to_xywh(boxes).tolist()],
                    "scores": [round(s, 5) for s in pred["scores"][keep].float().cpu().tolist()],
                    "category_ids": labels,  # the COCO files of this project use ids 1..K = labels
                    "labels": [names.get(lab, str(lab)) for lab in labels],
                })
    return out


def _class_names(cfg: DetectorConfig) -> dict[int, str]:
    """Return label -> class name, read from the run's COCO train file (fallback: the study's 3 types)."""
    try:
        ds_file = Path(cfg.data.coco_dir or "") / f"{cfg.data.train_split}.json"
        cats = json.loads(ds_file.read_text(encoding="utf-8"))["categories"]
        return {i + 1: c["name"] for i, c in enumerate(sorted(cats, key=lambda c: c["id"]))}
    except (OSError, KeyError, ValueError):
        return {1: "upper", 2: "lower", 3: "full"}


def predict_folder(
    run_dir: str | Path, images: Sequence[str | Path], out_dir: str | Path, *, score_thresh: float = 0.5
) -> Path:
    """Predict image files (or every image in folders), write ``predictions.json`` and one drawing each; return out_dir."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from fashionlib.viz import save_figure

    files: list[Path] = []
    for item in map(Path, images):
        if item.is_dir():
            files += sorted(p for p in item.rglob("*") if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
        elif item.is_file():
            files.append(item)
        else:
            raise FileNotFoundError(f"{item} is neither an image nor a folder")
    if not files:
        raise FileNotFoundError("no .jpg/.jpeg/.png images found in the given paths")
    out = Path(out_dir)
    preds = predict_images(run_dir, files, score_thresh=score_thresh)
    atomic_write_json(out / "predictions.json", preds, indent=1)
    for i, pred in enumerate(preds):
        fig, ax = plt.subplots(figsize=(4, 4))
        from PIL import Image

        with Image.open(pred["file"]) as img:
            draw_detections(ax, img.convert("RGB"), pred)
        save_figure(fig, out / f"{i:05d}_{Path(pred['file']).stem}.png")
        plt.close(fig)
    return out


def draw_detections(ax: Any, image: Any, pred: dict[str, Any], gt: dict[str, Any] | None = None) -> None:
    """Draw an image with predicted boxes (solid, labelled with score) and optional ground truth (dashed)."""
    from fashionlib.viz import TYPE_COLORS, draw_boxes

    ax.imshow(np.asarray(image))
    ax.axis("off")
    if gt is not None:
        draw_boxes(ax, gt["boxes"], None, [TYPE_COLORS.get(c, "white") for c in gt["category_ids"]],
                   linestyle="--", linewidth=1.5)
    labels = [f"{name} {s:.2f}" for name, s in zip(pred["labels"], pred["scores"])]
    draw_boxes(ax, pred["boxes"], labels, [TYPE_COLORS.get(c, "#e4572e") for c in pred["category_ids"]])
