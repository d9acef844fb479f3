"""Tiny COCO datasets and configs for the detection tests (built in the test, no sample data needed)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from fashionlib.detection.config import from_dict

COLORS = {1: (220, 60, 40), 2: (30, 180, 190), 3: (250, 200, 20)}


def make_coco(root: Path, *, n_train: int = 16, n_val: int = 6, seed: int = 0, size: tuple[int, int] = (64, 48)) -> Path:
    """Write images with one or two flat-coloured garment boxes and train/val/test COCO files; return the coco dir."""
    rng = np.random.default_rng(seed)
    coco = root / "coco"
    coco.mkdir(parents=True, exist_ok=True)
    categories = [{"id": 1, "name": "upper"}, {"id": 2, "name": "lower"}, {"id": 3, "name": "full"}]
    image_id, ann_id = 1, 1
    for split, n in (("train", n_train), ("val", n_val), ("test", n_val)):
        images, anns = [], []
        for _ in range(n):
            w, h = size if rng.random() < 0.5 else size[::-1]  # both orientations
            arr = np.full((h, w, 3), 128, np.uint8) + rng.integers(0, 20, (h, w, 3), dtype=np.uint8)
            for cat in rng.choice([1, 2, 3], size=int(rng.integers(1, 3)), replace=False):
                bw, bh = int(rng.integers(w // 4, w // 2)), int(rng.integers(h // 4, h // 2))
                x, y = int(rng.integers(0, w - bw)), int(rng.integers(0, h - bh))
                arr[y : y + bh, x : x + bw] = COLORS[int(cat)]
                anns.append({"id": ann_id, "image_id": image_id, "category_id": int(cat), "bbox": [x, y, bw, bh],
                             "area": bw * bh, "iscrowd": 0})
                ann_id += 1
            name = f"img/{split}_{image_id:04d}.jpg"
            (root / "img").mkdir(exist_ok=True)
            Image.fromarray(arr).save(root / name, quality=95)
            images.append({"id": image_id, "file_name": name, "width": w, "height": h})
            image_id += 1
        (coco / f"{split}.json").write_text(json.dumps({"images": images, "annotations": anns, "categories": categories}))
    return coco


def tiny_config(**train_overrides):
    """Return a config small enough that one training iteration takes milliseconds."""
    raw = {
        "name": "tiny",
        "model": {"backbone": "small", "weights": "none", "trainable_layers": 5, "widths": [8, 16, 16, 16],
                  "blocks": [1, 1, 1, 1], "returned_layers": [2, 3], "fpn_channels": 16,
                  "anchor_sizes": [16, 32, 64], "representation_size": 32},
        "rpn": {"pre_nms_top_n_train": 100, "post_nms_top_n_train": 50, "pre_nms_top_n_test": 50,
                "post_nms_top_n_test": 30, "batch_size_per_image": 32},
        "roi_heads": {"batch_size_per_image": 32},
        "input": {"min_size": 48, "max_size": 80},
        "solver": {"base_lr": 0.02, "ims_per_batch": 4, "max_iter": 8, "steps": [6], "warmup_iters": 2},
        "train": {"log_every": 2, "eval_every": 3, "eval_max_images": 4, "checkpoint_every": 100, "num_workers": 0,
                  "channels_last": False, **train_overrides},
    }
    return from_dict(raw)
