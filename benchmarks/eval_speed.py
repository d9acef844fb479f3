"""Evaluation speed: ``fashionlib.detection.coco_evaluate`` against pycocotools' own evaluate()+accumulate().

A synthetic val split the size of DeepFashion's (40,000 images, one garment each, 3 classes) and 100
detections per image (jittered copies of the ground truth and random boxes, random scores and classes).
One call of :func:`coco_evaluate` is timed, with pycocotools' ``evaluate`` and ``accumulate`` timed
inside it; everything else (our filtering, loadRes, summary, per-class tables, PR curves) is the
overhead, which must not cost more than ``evaluate()+accumulate()`` themselves. For scale, the old
filter (a set of image ids rebuilt per detection) is timed on a slice and extrapolated.

    python benchmarks/eval_speed.py                      # 40,000 images x 100 detections (~4 GB RAM)
    python benchmarks/eval_speed.py --images 2000        # a quick look
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def synthetic(n_images: int, per_image: int, seed: int = 0) -> tuple[dict, list[dict]]:
    """Return (COCO ground truth dict, detections in COCO results format)."""
    rng = np.random.default_rng(seed)
    w, h = rng.integers(200, 301, n_images), rng.integers(250, 301, n_images)
    bw, bh = (w * rng.uniform(0.3, 0.9, n_images)).round(), (h * rng.uniform(0.3, 0.9, n_images)).round()
    x, y = (rng.uniform(0, 1, n_images) * (w - bw)).round(), (rng.uniform(0, 1, n_images) * (h - bh)).round()
    cats = rng.integers(1, 4, n_images)
    images = [{"id": i + 1, "file_name": f"{i + 1}.jpg", "width": int(w[i]), "height": int(h[i])} for i in range(n_images)]
    anns = [{"id": i + 1, "image_id": i + 1, "category_id": int(cats[i]), "bbox": [float(x[i]), float(y[i]),
             float(bw[i]), float(bh[i])], "area": float(bw[i] * bh[i]), "iscrowd": 0} for i in range(n_images)]
    gt = {"images": images, "annotations": anns,
          "categories": [{"id": 1, "name": "upper"}, {"id": 2, "name": "lower"}, {"id": 3, "name": "full"}]}
    n = n_images * per_image
    img = np.repeat(np.arange(n_images), per_image)
    near = rng.random(n) < 0.3  # 30% jittered copies of the garment, the rest anywhere in the image
    jit = rng.normal(0, 0.1, (n, 4))
    dx = np.where(near, x[img] + jit[:, 0] * bw[img], rng.uniform(0, 0.7, n) * w[img])
    dy = np.where(near, y[img] + jit[:, 1] * bh[img], rng.uniform(0, 0.7, n) * h[img])
    dw = np.where(near, bw[img] * (1 + jit[:, 2]), rng.uniform(0.05, 0.3, n) * w[img]).clip(1)
    dh = np.where(near, bh[img] * (1 + jit[:, 3]), rng.uniform(0.05, 0.3, n) * h[img]).clip(1)
    dcat = np.where(near & (rng.random(n) < 0.8), cats[img], rng.integers(1, 4, n))
    score = rng.random(n).round(5)
    boxes = np.stack([dx, dy, dw, dh], 1).round(2).tolist()
    dets = [{"image_id": int(i) + 1, "category_id": int(c), "bbox": b, "score": float(s)}
            for i, c, b, s in zip(img.tolist(), dcat.tolist(), boxes, score.tolist())]
    return gt, dets


def old_filter_seconds(dets: list[dict], ids: list[int], sample: int = 2000) -> float:
    """Return the old per-detection ``set(ids)`` filter's time, measured on ``sample`` detections and scaled."""
    part = dets[:sample]
    start = time.perf_counter()
    kept = [d for d in part if d["image_id"] in set(ids)]
    assert kept
    return (time.perf_counter() - start) * len(dets) / len(part)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=40_000)
    parser.add_argument("--dets", type=int, default=100, help="detections per image")
    args = parser.parse_args(argv)
    from pycocotools.cocoeval import COCOeval

    from fashionlib.detection.evaluate import coco_evaluate

    t0 = time.perf_counter()
    gt, dets = synthetic(args.images, args.dets)
    print(f"synthetic split: {args.images:,} images, {len(dets):,} detections ({time.perf_counter() - t0:.0f} s to make)")
    timings = {"evaluate": 0.0, "accumulate": 0.0}

    def timed(name: str, fn):  # wraps a COCOeval method with a stopwatch
        def wrapper(self, *a, **kw):
            start = time.perf_counter()
            try:
                return fn(self, *a, **kw)
            finally:
                timings[name] += time.perf_counter() - start
        return wrapper

    originals = {name: getattr(COCOeval, name) for name in timings}
    with tempfile.TemporaryDirectory() as tmp:
        gt_file = Path(tmp) / "val.json"
        gt_file.write_text(json.dumps(gt))
        ids = [img["id"] for img in gt["images"]]
        for name, fn in originals.items():
            setattr(COCOeval, name, timed(name, fn))
        try:
            start = time.perf_counter()
            result = coco_evaluate(gt_file, dets, image_ids=ids)
            total = time.perf_counter() - start
        finally:
            for name, fn in originals.items():
                setattr(COCOeval, name, fn)
    coco_own = timings["evaluate"] + timings["accumulate"]
    overhead = total - coco_own
    old = old_filter_seconds(dets, ids)
    print(f"AP {result['stats']['AP']:.3f} over {result['num_images']:,} images")
    print(f"{'pycocotools evaluate()+accumulate()':<44}{coco_own:9.1f} s")
    print(f"{'coco_evaluate total':<44}{total:9.1f} s")
    print(f"{'  overhead (loadRes, filter, tables, summary)':<44}{overhead:9.1f} s")
    print(f"{'old per-detection set() filter (extrapolated)':<44}{old:9.1f} s")
    ok = overhead <= coco_own
    print(("PASS" if ok else "FAIL") + f": overhead {overhead:.1f} s {'<=' if ok else '>'} evaluate()+accumulate() {coco_own:.1f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
