"""Garment crops: from boxes (detector predictions or ground truth) to a GAN-ready crop set.

A crop set is one folder::

    crops/
    ├── train/upper/train_000012_0.jpg ...   image-folder tree (split/class/crop.jpg)
    ├── val/... test/...
    ├── manifest.csv                          one row per crop: source image, box, class, score, policy
    ├── cache/train_64.npy, train_128.npy     packed uint8 arrays (N, S, S, 3), rows in manifest order
    └── crops.json                            how the set was made (written last: its presence = complete)

Square policies (a garment box is rarely square, the GAN wants squares):

* ``pad-context`` (default): grow the short side into the photo around the box
  (the square slides to stay inside the photo); only where the photo ends, repeat
  its border pixels.
* ``pad-reflect``: pad the short side by mirroring the crop's own pixels (an
  elongated garment comes out as two or three mirrored copies).
* ``pad-edge``: pad the short side by repeating the crop's border pixels (streaks).
* ``center``: keep the central square of the box (cuts the long side).
* ``stretch``: resize the box to a square (distorts proportions).

Black bars are never used: a discriminator learns to spot them and the generator
learns to draw them.
"""

from __future__ import annotations

import io
import json
import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from fashionlib import configio
from fashionlib.garments import GARMENT_TYPES, TYPE_IDS, TYPE_NAMES, category_type
from fashionlib.runio import atomic_write_bytes, atomic_write_json, atomic_write_text

POLICIES = ("pad-context", "pad-reflect", "pad-edge", "center", "stretch")
# Crop classes are the garment types (fashionlib.garments); these names stay for code that imports them here.
CLASS_NAMES = TYPE_NAMES
CLASS_IDS = TYPE_IDS
SPLITS = ("train", "val", "test")
CACHE_SIZES = (64, 128)
MARKER = "crops.json"
MANIFEST = "manifest.csv"
TREE_MAX_SIDE = 256  # JPEGs in the image-folder tree are never larger than this (never upscaled)


class CropError(ValueError):
    """A crop source, option or crop folder is not usable (the message says what to do)."""


# ---------------------------------------------------------------------------
# One crop
# ---------------------------------------------------------------------------


def expand_box(box_xywh: Sequence[float], margin: float, width: int, height: int) -> tuple[int, int, int, int]:
    """Return the box grown by ``margin`` (a fraction of its width/height on each side), clipped: (x0, y0, x1, y1)."""
    x, y, w, h = (float(v) for v in box_xywh)
    x0 = max(0, math.floor(x - margin * w))
    y0 = max(0, math.floor(y - margin * h))
    x1 = min(width, math.ceil(x + w + margin * w))
    y1 = min(height, math.ceil(y + h + margin * h))
    if x1 - x0 < 1 or y1 - y0 < 1:
        raise CropError(f"box {list(box_xywh)} has no area inside a {width}x{height} image")
    return x0, y0, x1, y1


def make_square(region: np.ndarray, policy: str) -> np.ndarray:
    """Return an HxWx3 uint8 region made square by ``policy`` using its own pixels (``stretch``: unchanged)."""
    if policy not in POLICIES:
        raise CropError(f"unknown square policy {policy!r}; choose one of {', '.join(POLICIES)}")
    h, w = region.shape[:2]
    if h == w or policy == "stretch":
        return region
    if policy == "center":
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        return region[top : top + side, left : left + side]
    side = max(h, w)
    before_y, before_x = (side - h) // 2, (side - w) // 2
    pad = ((before_y, side - h - before_y), (before_x, side - w - before_x), (0, 0))
    # numpy's reflect mode mirrors repeatedly when the pad is wider than the region.
    mode = "reflect" if policy == "pad-reflect" and min(h, w) > 1 else "edge"
    return np.pad(region, pad, mode=mode)


def _context_window(lo: int, hi: int, side: int, limit: int) -> int:
    """Return the start of a window of ``side`` centred on [lo, hi), slid to fit in [0, limit) when it can."""
    start = lo - (side - (hi - lo)) // 2
    if side <= limit:
        start = min(max(start, 0), limit - side)
    return start


def square_crop_array(
    image: np.ndarray, box_xywh: Sequence[float], margin: float, policy: str
) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Return (square HxWx3 uint8 crop at native resolution, the photo window it covers as x0, y0, x1, y1)."""
    if policy not in POLICIES:
        raise CropError(f"unknown square policy {policy!r}; choose one of {', '.join(POLICIES)}")
    height, width = image.shape[:2]
    x0, y0, x1, y1 = expand_box(box_xywh, margin, width, height)
    if policy != "pad-context":
        square = make_square(image[y0:y1, x0:x1], policy)
        if policy == "stretch":
            side = max(square.shape[:2])
            square = np.asarray(Image.fromarray(np.ascontiguousarray(square)).resize((side, side), Image.Resampling.LANCZOS))
        return square, (x0, y0, x1, y1)
    side = max(x1 - x0, y1 - y0)
    cx0 = _context_window(x0, x1, side, width)
    cy0 = _context_window(y0, y1, side, height)
    cx1, cy1 = cx0 + side, cy0 + side
    ix0, iy0, ix1, iy1 = max(cx0, 0), max(cy0, 0), min(cx1, width), min(cy1, height)
    pad = ((iy0 - cy0, cy1 - iy1), (ix0 - cx0, cx1 - ix1), (0, 0))
    # Beyond the photo's border: repeat it (mirroring would duplicate the garment).
    return np.pad(image[iy0:iy1, ix0:ix1], pad, mode="edge"), (cx0, cy0, cx1, cy1)


def crop_garment(
    image: Image.Image,
    box_xywh: Sequence[float],
    *,
    policy: str = "pad-context",
    margin: float = 0.1,
    size: int | None = None,
) -> Image.Image:
    """Return the square crop of one box (resized to ``size`` when given, else at its native side)."""
    square, _ = square_crop_array(np.asarray(image.convert("RGB")), box_xywh, margin, policy)
    out = Image.fromarray(np.ascontiguousarray(square))
    if size is not None and out.size != (size, size):
        out = out.resize((size, size), Image.Resampling.LANCZOS)
    return out


def compare_policies(
    image: Image.Image, box_xywh: Sequence[float], *, margin: float = 0.1, size: int = 128
) -> dict[str, Image.Image]:
    """Return {policy: crop} for every square policy on the same box."""
    return {p: crop_garment(image, box_xywh, policy=p, margin=margin, size=size) for p in POLICIES}


# ---------------------------------------------------------------------------
# Box sources
# ---------------------------------------------------------------------------

BOX_COLUMNS = ["split", "image_id", "source_image", "category_id", "box_x", "box_y", "box_w", "box_h", "score",
               "deepfashion_category"]


def _load_split(coco_dir: Path, split: str) -> dict[str, Any]:
    path = coco_dir / f"{split}.json"
    if not path.is_file():
        raise CropError(f"{path} not found: build the COCO folder first (fashionlib convert ROOT {coco_dir})")
    return json.loads(path.read_text(encoding="utf-8"))


def coco_type_ids(data: dict[str, Any], source: str | Path) -> dict[int, int]:
    """Return {COCO category id: garment type id} read from a COCO file's own ``categories``.

    Ids are never taken at face value: in a ``--classes categories`` file id 2 is "Tee" (upper), not "lower".
    """
    out = {}
    for c in data.get("categories") or []:
        garment = category_type(c)
        if garment is None:
            raise CropError(f"{source}: category {c.get('id')} {c.get('name')!r} is not one of "
                            f"{', '.join(GARMENT_TYPES)} and has none as its supercategory: crops need garment "
                            "types (fashionlib convert --classes types)")
        out[int(c["id"])] = garment
    if not out:
        raise CropError(f"{source}: no categories list: not a COCO file written by fashionlib convert")
    return out


def _garment(types: dict[int, int], category_id: int, source: str | Path) -> int:
    if category_id not in types:
        raise CropError(f"{source}: category_id {category_id} is not in the file's categories ({sorted(types)})")
    return types[category_id]


def boxes_from_coco(coco_dir: str | Path, splits: Sequence[str] = SPLITS) -> pd.DataFrame:
    """Return the ground-truth boxes of a COCO folder as a table (one row per box, score 1, garment type ids)."""
    coco_dir = Path(coco_dir)
    rows = []
    for split in splits:
        data = _load_split(coco_dir, split)
        source = coco_dir / f"{split}.json"
        types = coco_type_ids(data, source)
        names = {im["id"]: im["file_name"] for im in data["images"]}
        for a in data["annotations"]:
            x, y, w, h = a["bbox"]
            rows.append((split, a["image_id"], names[a["image_id"]], _garment(types, int(a["category_id"]), source),
                         x, y, w, h, 1.0, int(a.get("deepfashion_category", 0))))
    return pd.DataFrame(rows, columns=BOX_COLUMNS)


def is_detector_run(path: str | Path) -> bool:
    """Return True when ``path`` looks like a detector run folder (config.yaml or detections_*.json)."""
    path = Path(path)
    return (path / "config.yaml").is_file() or any(path.glob("detections_*.json"))


def _detector_coco_dir(det_dir: Path) -> Path | None:
    """Return the COCO folder named in a detector run's config.yaml, if any."""
    cfg_path = det_dir / "config.yaml"
    if not cfg_path.is_file():
        return None
    import yaml

    cfg = yaml.safe_load(cfg_path.read_text(encoding="utf-8")) or {}
    # fashionlib.detection records it as data.coco_dir; a flat coco_dir key is accepted too.
    data = cfg.get("data") if isinstance(cfg.get("data"), dict) else {}
    for value in (data.get("coco_dir"), cfg.get("coco_dir")):
        if isinstance(value, str) and (Path(value) / "val.json").is_file():
            return Path(value)
    return None


def detections_path(det_dir: str | Path, split: str) -> Path:
    """Return the path of a detector run's predictions for one split (it may not exist yet)."""
    return Path(det_dir) / f"detections_{split}.json"


def boxes_from_detections(
    det_dir: str | Path,
    coco_dir: str | Path | None = None,
    splits: Sequence[str] = SPLITS,
    *,
    score_threshold: float = 0.5,
) -> pd.DataFrame:
    """Return detector boxes with score >= threshold (file names from the COCO split of the same image ids)."""
    det_dir = Path(det_dir)
    coco_dir = Path(coco_dir) if coco_dir is not None else _detector_coco_dir(det_dir)
    if coco_dir is None:
        raise CropError(f"cannot tell which COCO folder {det_dir} was run on: pass --coco DIR")
    trained_on = _detector_coco_dir(det_dir)
    rows = []
    for split in splits:
        path = detections_path(det_dir, split)
        if not path.is_file():
            raise CropError(f"{path} not found: run the detector on the {split} split first")
        dets = json.loads(path.read_text(encoding="utf-8"))
        data = _load_split(coco_dir, split)
        coco_path = coco_dir / f"{split}.json"
        types = coco_type_ids(data, coco_path)
        # Detection category ids are the classes of the COCO folder the detector was trained on.
        if trained_on is not None and Path(trained_on).resolve() != coco_dir.resolve():
            det_types = coco_type_ids(_load_split(Path(trained_on), "val"), Path(trained_on) / "val.json")
        else:
            det_types = types
        names = {im["id"]: im["file_name"] for im in data["images"]}
        truth = {a["image_id"]: (_garment(types, int(a["category_id"]), coco_path), int(a.get("deepfashion_category", 0)))
                 for a in data["annotations"]}
        for d in dets:
            if d["score"] < score_threshold:
                continue
            if d["image_id"] not in names:
                raise CropError(f"{path}: image_id {d['image_id']} is not in {coco_path}")
            x, y, w, h = d["bbox"]
            garment = _garment(det_types, int(d["category_id"]), path)
            gt_type, gt_cat = truth.get(d["image_id"], (0, 0))
            # The image's DeepFashion category only describes a detection of the annotated garment type.
            rows.append((split, d["image_id"], names[d["image_id"]], garment, x, y, w, h,
                         float(d["score"]), gt_cat if gt_type == garment else 0))
    return pd.DataFrame(rows, columns=BOX_COLUMNS)


def keep_best_per_image(boxes: pd.DataFrame, max_per_image: int | None) -> pd.DataFrame:
    """Return at most ``max_per_image`` boxes per photo, the highest-scored (all of them when None)."""
    if max_per_image is None:
        return boxes
    order = boxes.sort_values(["split", "image_id", "score"], ascending=[True, True, False], kind="stable")
    return order.groupby(["split", "image_id"], sort=False).head(max_per_image).sort_index()


def _iou_xywh(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    x1, y1 = np.maximum(a[:, 0], b[:, 0]), np.maximum(a[:, 1], b[:, 1])
    x2 = np.minimum(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2])
    y2 = np.minimum(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    return inter / (a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter)


def detector_crop_quality(det: pd.DataFrame, gt: pd.DataFrame, iou: float = 0.5) -> pd.DataFrame:
    """Return, per split, how many detector boxes match a ground-truth garment of the same class (IoU >= iou).

    Columns: detector boxes, of which correct (same photo, same class, IoU >= iou): their precision; and the
    ground-truth garments, of which covered by a correct box: the recall.
    """
    cols = ["split", "image_id", "category_id", "box_x", "box_y", "box_w", "box_h"]
    pairs = det[cols].reset_index().merge(gt[cols], on=["split", "image_id"], suffixes=("", "_gt"))
    ious = _iou_xywh(pairs[["box_x", "box_y", "box_w", "box_h"]].to_numpy(float),
                     pairs[["box_x_gt", "box_y_gt", "box_w_gt", "box_h_gt"]].to_numpy(float))
    good = pairs[(ious >= iou) & (pairs["category_id"] == pairs["category_id_gt"])]
    rows = []
    for split in [s for s in SPLITS if s in set(det["split"]) | set(gt["split"])]:
        g = good[good["split"] == split]
        n_det, n_gt = int((det["split"] == split).sum()), int((gt["split"] == split).sum())
        correct = int(g["index"].nunique())
        covered = int(g.drop_duplicates(["image_id", "box_x_gt", "box_y_gt"]).shape[0])
        rows.append({"split": split, "detector boxes": n_det, "correct (same class, IoU>=0.5)": correct,
                     "precision": round(correct / max(n_det, 1), 3), "ground-truth garments": n_gt,
                     "covered": covered, "recall": round(covered / max(n_gt, 1), 3)})
    table = pd.DataFrame(rows).set_index("split")
    total = table.sum()
    total["precision"] = round(total["correct (same class, IoU>=0.5)"] / max(total["detector boxes"], 1), 3)
    total["recall"] = round(total["covered"] / max(total["ground-truth garments"], 1), 3)
    table.loc["all"] = total
    return table


# ---------------------------------------------------------------------------
# Building a crop set
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CropConfig:
    """How crops are made; stored in crops.json so a folder is rebuilt only when this changes."""

    policy: str = "pad-context"
    margin: float = 0.1
    min_size: int = 32  # drop boxes whose shorter side (pixels, before the margin) is below this
    score_threshold: float = 0.5  # detector boxes only
    sizes: tuple[int, ...] = CACHE_SIZES
    classes: tuple[str, ...] = GARMENT_TYPES
    splits: tuple[str, ...] = SPLITS
    max_per_class: int | None = None  # per split; None keeps all
    # Detector boxes: keep the best-scored box(es) of each photo. DeepFashion labels one garment per photo, and
    # torchvision's per-class NMS lets one garment come out twice (a dress as "upper" and "full"): without this
    # the second box becomes a crop with the wrong class. None keeps every box above the score threshold.
    max_per_image: int | None = 1
    jpeg_quality: int = 95

    def __post_init__(self) -> None:
        configio.check_types(self)  # a wrong type fails here, naming the field, not deep in the crop loop

    @classmethod
    def from_dict(cls, values: dict[str, Any], *, source: str = "crop config") -> CropConfig:
        """Return a config from JSON/YAML values (lists for tuples), every value type-checked."""
        return configio.validate(cls, values, source=source)

    def check(self) -> None:
        """Raise :class:`CropError` when an option is out of range."""
        if self.policy not in POLICIES:
            raise CropError(f"unknown square policy {self.policy!r}; choose one of {', '.join(POLICIES)}")
        unknown = set(self.classes) - set(CLASS_IDS)
        if unknown or not self.classes:
            raise CropError(f"classes must be among {', '.join(CLASS_IDS)}, got {list(self.classes)}")
        if not 0 <= self.margin <= 1:
            raise CropError(f"margin is a fraction of the box side in [0, 1], got {self.margin}")
        if any(s < 8 for s in self.sizes):
            raise CropError(f"cache sizes must be at least 8 pixels, got {list(self.sizes)}")

    def to_dict(self) -> dict[str, Any]:
        """Return the config as JSON-ready values."""
        d = asdict(self)
        d["sizes"], d["classes"], d["splits"] = list(self.sizes), list(self.classes), list(self.splits)
        return d


@dataclass
class CropReport:
    """What a crop build produced: counts per split and class, and what was dropped and why."""

    out_dir: Path
    source: str
    counts: pd.DataFrame
    dropped_small: int = 0
    dropped_classes: int = 0
    dropped_cap: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def table(self) -> pd.DataFrame:
        """Return crops per split (rows) and class (columns) with a total column."""
        t = self.counts.copy()
        t["total"] = t.sum(axis=1)
        return t


def select_boxes(boxes: pd.DataFrame, config: CropConfig) -> tuple[pd.DataFrame, dict[str, int]]:
    """Return the boxes kept by the config (classes, splits, min size, cap) and the drop counts."""
    config.check()
    keep_ids = [CLASS_IDS[c] for c in config.classes]
    b = boxes[boxes["split"].isin(config.splits)]
    in_class = b["category_id"].isin(keep_ids)
    big = np.minimum(b["box_w"], b["box_h"]) >= config.min_size
    dropped_classes = int((~in_class).sum())
    dropped_small = int((in_class & ~big).sum())
    b = b[in_class & big].copy()
    dropped_cap = 0
    if config.max_per_class is not None:
        # Highest scores first, then image id: a deterministic cap.
        b = b.sort_values(["split", "category_id", "score", "image_id"], ascending=[True, True, False, True])
        capped = b.groupby(["split", "category_id"], sort=False).head(config.max_per_class)
        dropped_cap = len(b) - len(capped)
        b = capped
    b["box_rank"] = 0
    b = b.sort_values(["split", "image_id", "score"], ascending=[True, True, False], kind="stable")
    b["box_rank"] = b.groupby(["split", "image_id"]).cumcount()
    b["split"] = pd.Categorical(b["split"], categories=list(SPLITS))
    b = b.sort_values(["split", "image_id", "box_rank"]).reset_index(drop=True)
    b["split"] = b["split"].astype(str)
    return b, {"dropped_small": dropped_small, "dropped_classes": dropped_classes, "dropped_cap": dropped_cap}


class _NpyWriter:
    """Write an (N, S, S, 3) uint8 .npy file row by row, then move it into place atomically."""

    def __init__(self, path: Path, shape: tuple[int, ...]) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, self.tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        self.array = np.lib.format.open_memmap(self.tmp, mode="w+", dtype=np.uint8, shape=shape)

    def close(self) -> None:
        self.array.flush()
        del self.array
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        Path(self.tmp).unlink(missing_ok=True)


def _save_jpeg(img: Image.Image, path: Path, quality: int) -> None:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    atomic_write_bytes(path, buf.getvalue())


def build_crops(
    boxes: pd.DataFrame,
    image_root: str | Path,
    out_dir: str | Path,
    config: CropConfig | None = None,
    *,
    source: str = "ground truth",
    source_path: str | Path | None = None,
    progress: bool = True,
) -> CropReport:
    """Crop every selected box into ``out_dir`` (tree, manifest, uint8 caches, crops.json); return the report."""
    from tqdm.auto import tqdm

    config = config or CropConfig()
    image_root, out_dir = Path(image_root), Path(out_dir)
    selected, drops = select_boxes(boxes, config)
    if selected.empty:
        raise CropError(f"no box left to crop from {source} (classes {list(config.classes)}, "
                        f"min size {config.min_size}px): lower --min-size or check the source")
    marker = out_dir / MARKER
    marker.unlink(missing_ok=True)  # the folder is incomplete until the marker is written again
    per_split = {s: int((selected["split"] == s).sum()) for s in config.splits}
    writers = {
        (s, size): _NpyWriter(out_dir / "cache" / f"{s}_{size}.npy", (n, size, size, 3))
        for s, n in per_split.items() if n for size in config.sizes
    }
    rows = []
    position = dict.fromkeys(per_split, 0)
    try:
        groups = selected.groupby("source_image", sort=False)
        for name, group in tqdm(groups, total=groups.ngroups, desc="crop", disable=not progress, leave=False):
            path = image_root / name
            if not path.is_file():
                raise FileNotFoundError(f"image {path} (from {source}) is not on disk: is --images the right root?")
            with Image.open(path) as im:
                pixels = np.asarray(im.convert("RGB"))
            for r in group.itertuples(index=False):
                box = (r.box_x, r.box_y, r.box_w, r.box_h)
                arr, (x0, y0, x1, y1) = square_crop_array(pixels, box, config.margin, config.policy)
                square = Image.fromarray(np.ascontiguousarray(arr))
                side = square.size[0]
                tree_img = square if side <= TREE_MAX_SIDE else square.resize(
                    (TREE_MAX_SIDE, TREE_MAX_SIDE), Image.Resampling.LANCZOS)
                cls = CLASS_NAMES[int(r.category_id)]
                crop_id = f"{r.split}_{int(r.image_id):06d}_{int(r.box_rank)}"
                rel = f"{r.split}/{cls}/{crop_id}.jpg"
                _save_jpeg(tree_img, out_dir / rel, config.jpeg_quality)
                i = position[r.split]
                for size in config.sizes:
                    small = square if side == size else square.resize((size, size), Image.Resampling.LANCZOS)
                    writers[(r.split, size)].array[i] = np.asarray(small)
                position[r.split] = i + 1
                rows.append({
                    "crop_id": crop_id, "split": r.split, "index": i, "class": cls, "category_id": int(r.category_id),
                    "image_id": int(r.image_id), "source_image": name,
                    "box_x": r.box_x, "box_y": r.box_y, "box_w": r.box_w, "box_h": r.box_h,
                    "crop_x0": x0, "crop_y0": y0, "crop_x1": x1, "crop_y1": y1, "native_side": side,
                    "score": round(float(r.score), 4), "source": source, "policy": config.policy,
                    "margin": config.margin, "deepfashion_category": int(r.deepfashion_category), "path": rel,
                })
    except BaseException:
        for w in writers.values():
            w.abort()
        raise
    for w in writers.values():
        w.close()
    manifest = pd.DataFrame(rows)
    # Rows are written in split order, so manifest order == cache order within each split.
    atomic_write_text(out_dir / MANIFEST, manifest.to_csv(index=False))
    counts = (manifest.groupby(["split", "class"]).size().unstack(fill_value=0)
              .reindex(index=[s for s in SPLITS if s in per_split and per_split[s]],
                       columns=list(config.classes), fill_value=0))
    atomic_write_json(marker, {
        "config": config.to_dict(), "source": source,
        "source_stamp": source_stamp(source_path) if source_path is not None else None,
        "image_root": str(image_root.resolve()), "counts": {s: int(n) for s, n in per_split.items()},
    }, indent=1)
    return CropReport(out_dir=out_dir, source=source, counts=counts, **drops)


def source_stamp(path: str | Path) -> dict[str, Any]:
    """Return what a crop source was (path plus size and mtime of its JSON files) to detect stale crops."""
    path = Path(path)
    files = sorted(path.glob("*.json")) if path.is_dir() else [path]
    return {"path": str(path.resolve()),
            "files": [[f.name, f.stat().st_size, int(f.stat().st_mtime)] for f in files if f.is_file()]}


# ---------------------------------------------------------------------------
# Reading a crop set
# ---------------------------------------------------------------------------


@dataclass
class CropSet:
    """Crops of one split at one size: uint8 images (N, S, S, 3), garment type ids 1..3 and the manifest rows."""

    images: np.ndarray
    labels: np.ndarray
    manifest: pd.DataFrame
    size: int
    split: str

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, classes: Sequence[str]) -> CropSet:
        """Return the crops of some classes only (names: upper, lower, full)."""
        ids = [CLASS_IDS[c] for c in classes]
        keep = np.flatnonzero(np.isin(self.labels, ids))
        return CropSet(np.asarray(self.images[keep]), self.labels[keep], self.manifest.iloc[keep].reset_index(drop=True),
                       self.size, self.split)

    def class_counts(self) -> dict[str, int]:
        """Return the number of crops per class name."""
        return {CLASS_NAMES[c]: int((self.labels == c).sum()) for c in sorted(CLASS_NAMES) if (self.labels == c).any()}


def read_marker(crops_dir: str | Path) -> dict[str, Any]:
    """Return crops.json of a complete crop folder (raises :class:`CropError` when incomplete)."""
    marker = Path(crops_dir) / MARKER
    if not marker.is_file():
        raise CropError(f"{crops_dir} is not a complete crop folder (no {MARKER}): run `fashionlib crop` "
                        "or notebook 05 first")
    return json.loads(marker.read_text(encoding="utf-8"))


def read_manifest(crops_dir: str | Path) -> pd.DataFrame:
    """Return the manifest of a crop folder (one row per crop)."""
    read_marker(crops_dir)
    return pd.read_csv(Path(crops_dir) / MANIFEST)


def load_crops(
    crops_dir: str | Path, split: str = "train", size: int = 64, classes: Sequence[str] | None = None,
    *, mmap: bool = False,
) -> CropSet:
    """Return the crops of a split at a size from the packed cache (no JPEG decoding)."""
    crops_dir = Path(crops_dir)
    meta = read_marker(crops_dir)
    if size not in meta["config"]["sizes"]:
        raise CropError(f"{crops_dir} has caches at {meta['config']['sizes']} px, not {size}: rebuild with --size {size}")
    path = crops_dir / "cache" / f"{split}_{size}.npy"
    if not path.is_file():
        raise CropError(f"{crops_dir} has no {split} crops (splits built: {meta['config']['splits']})")
    images = np.load(path, mmap_mode="r" if mmap else None)
    manifest = pd.read_csv(crops_dir / MANIFEST)
    manifest = manifest[manifest["split"] == split].sort_values("index").reset_index(drop=True)
    if len(manifest) != len(images):
        raise CropError(f"{path} holds {len(images)} crops but the manifest lists {len(manifest)}: rebuild the folder")
    crops = CropSet(images, manifest["category_id"].to_numpy(np.int64), manifest, size, split)
    return crops.subset(classes) if classes is not None else crops


# ---------------------------------------------------------------------------
# Choosing a source (used by the notebooks)
# ---------------------------------------------------------------------------


@dataclass
class CropSource:
    """Which boxes a crop set is made from, and why."""

    kind: str  # "detector" or "ground truth"
    path: Path
    reason: str


def choose_source(
    profile: Any, *, prefer: str = "auto", score_threshold: float = 0.5, min_fraction: float = 0.5,
    min_size: int = 32,
) -> CropSource:
    """Return the detector run when it yields enough crops (>= min_fraction of the ground-truth boxes), else ground truth."""
    from fashionlib.coco import ensure_coco

    coco_dir = ensure_coco(profile)
    if prefer not in ("auto", "detector", "gt"):
        raise CropError(f"prefer must be auto, detector or gt, got {prefer!r}")
    if prefer == "gt":
        return CropSource("ground truth", coco_dir, "ground-truth boxes were asked for")
    det_dir = Path(profile.detector_dir)
    missing = [s for s in SPLITS if not detections_path(det_dir, s).is_file()]
    if missing:
        reason = f"no detector predictions in {det_dir} for {', '.join(missing)}: using ground-truth boxes"
        if prefer == "detector":
            raise CropError(reason.split(":")[0] + ": run the detector notebook (04) first")
        return CropSource("ground truth", coco_dir, reason)
    gt = boxes_from_coco(coco_dir)
    det = keep_best_per_image(boxes_from_detections(det_dir, coco_dir, score_threshold=score_threshold), 1)
    n_gt = int((np.minimum(gt["box_w"], gt["box_h"]) >= min_size).sum())
    n_det = int((np.minimum(det["box_w"], det["box_h"]) >= min_size).sum())
    if prefer == "auto" and n_det < min_fraction * n_gt:
        return CropSource("ground truth", coco_dir,
                          f"the detector yields only {n_det} boxes with score >= {score_threshold} "
                          f"(ground truth has {n_gt}): too few, using ground-truth boxes")
    return CropSource("detector", det_dir, f"the detector yields {n_det} boxes with score >= {score_threshold} "
                      f"(ground truth has {n_gt})")


def ensure_crops(
    profile: Any, config: CropConfig | None = None, *, source: CropSource | None = None,
    out_dir: str | Path | None = None, progress: bool = False,
) -> Path:
    """Return a complete crop folder for the profile, building it only when missing or made differently."""
    config = config or CropConfig()
    source = source or choose_source(profile, score_threshold=config.score_threshold, min_size=config.min_size)
    out = Path(out_dir) if out_dir is not None else Path(profile.crops_dir)
    marker = out / MARKER
    if marker.is_file():
        meta = json.loads(marker.read_text(encoding="utf-8"))
        if (meta["config"] == config.to_dict() and meta["source"] == source.kind
                and meta["source_stamp"] == source_stamp(source.path)):
            return out
    coco_dir = Path(profile.coco_dir)
    if source.kind == "detector":
        boxes = boxes_from_detections(source.path, coco_dir, config.splits, score_threshold=config.score_threshold)
        boxes = keep_best_per_image(boxes, config.max_per_image)
    else:
        boxes = boxes_from_coco(source.path, config.splits)
    build_crops(boxes, profile.data_root, out, config, source=source.kind, source_path=source.path, progress=progress)
    return out


# ---------------------------------------------------------------------------
# Tables and figures
# ---------------------------------------------------------------------------


def box_summary(boxes: pd.DataFrame, min_size: int = 32) -> pd.DataFrame:
    """Return boxes per split and class, how many are below ``min_size`` px, and the median shorter side."""
    b = boxes.assign(cls=boxes["category_id"].map(CLASS_NAMES), short=np.minimum(boxes["box_w"], boxes["box_h"]))
    table = b.groupby(["split", "cls"]).agg(boxes=("short", "size"), below_min=("short", lambda s: int((s < min_size).sum())),
                                             median_short_side=("short", "median"))
    table = table.reindex(pd.MultiIndex.from_product([[s for s in SPLITS if s in set(b["split"])], list(CLASS_IDS)],
                                                     names=["split", "class"])).fillna(0)
    table.columns = ["boxes", f"below {min_size}px", "median shorter side (px)"]
    return table.astype({"boxes": int, f"below {min_size}px": int})


def crop_summary(crops_dir: str | Path) -> pd.DataFrame:
    """Return crops per split (rows) and class (columns) of a crop folder, with totals and the source."""
    meta = read_marker(crops_dir)
    m = pd.read_csv(Path(crops_dir) / MANIFEST)
    table = (m.groupby(["split", "class"]).size().unstack(fill_value=0)
             .reindex(index=[s for s in SPLITS if s in set(m["split"])],
                      columns=[c for c in meta["config"]["classes"]], fill_value=0))
    table["total"] = table.sum(axis=1)
    table.loc["all"] = table.sum(axis=0)
    table.columns.name = f"{meta['source']} boxes, {meta['config']['policy']}"
    return table



def policy_figure(
    image_root: str | Path, boxes: pd.DataFrame, *, n: int = 4, margin: float = 0.1, size: int = 96, seed: int = 0,
) -> Any:
    """Return a figure: for n boxes (the most elongated of a seeded pick), the photo with its box and every policy."""
    import matplotlib.pyplot as plt

    from fashionlib.viz import TYPE_COLORS, draw_boxes

    rng = np.random.default_rng(seed)
    pool = boxes.iloc[rng.permutation(len(boxes))[: max(n * 10, n)]]
    aspect = np.maximum(pool["box_w"] / pool["box_h"], pool["box_h"] / pool["box_w"])
    # Elongated boxes show the difference between policies best.
    picked = pool.assign(aspect=aspect.to_numpy()).sort_values("aspect", ascending=False).head(n)
    fig, axes = plt.subplots(len(picked), len(POLICIES) + 1, figsize=(1.4 * (len(POLICIES) + 1), 1.5 * len(picked)))
    axes = np.atleast_2d(axes)
    for row, r in zip(axes, picked.itertuples(index=False)):
        with Image.open(Path(image_root) / r.source_image) as im:
            image = im.convert("RGB")
        box = (r.box_x, r.box_y, r.box_w, r.box_h)
        row[0].imshow(image)
        draw_boxes(row[0], [box], [CLASS_NAMES[int(r.category_id)]], TYPE_COLORS[int(r.category_id)])
        for ax, (policy, crop) in zip(row[1:], compare_policies(image, box, margin=margin, size=size).items()):
            ax.imshow(crop)
            ax.set_title(policy, fontsize=8)
        for ax in row:
            ax.axis("off")
    axes[0, 0].set_title("photo + box", fontsize=8)
    fig.tight_layout()
    return fig


def compare_sources(
    profile: Any, *, split: str = "val", n: int = 6, score_threshold: float = 0.5, policy: str = "pad-context",
    margin: float = 0.1, size: int = 96, seed: int = 0,
) -> Any:
    """Return a figure: for n images, the ground-truth crop beside the detector's best crop (or None without predictions)."""
    import matplotlib.pyplot as plt

    det_dir = Path(profile.detector_dir)
    if not detections_path(det_dir, split).is_file():
        print(f"no detector predictions for {split} in {det_dir}: nothing to compare (run notebook 04 first)")
        return None
    gt = boxes_from_coco(profile.coco_dir, (split,))
    det = boxes_from_detections(det_dir, profile.coco_dir, (split,), score_threshold=score_threshold)
    best = det.sort_values("score", ascending=False).drop_duplicates("image_id")
    both = gt.merge(best, on="image_id", suffixes=("", "_det"))
    if both.empty:
        print(f"the detector found nothing with score >= {score_threshold} on {split}: nothing to compare")
        return None
    pick = both.iloc[np.sort(np.random.default_rng(seed).permutation(len(both))[:n])]
    fig, axes = plt.subplots(2, len(pick), figsize=(1.6 * len(pick), 3.6), squeeze=False)
    for j, r in enumerate(pick.itertuples(index=False)):
        with Image.open(Path(profile.data_root) / r.source_image) as im:
            image = im.convert("RGB")
        axes[0, j].imshow(crop_garment(image, (r.box_x, r.box_y, r.box_w, r.box_h), policy=policy, margin=margin,
                                       size=size))
        axes[0, j].set_title(f"truth: {CLASS_NAMES[int(r.category_id)]}", fontsize=7)
        axes[1, j].imshow(crop_garment(image, (r.box_x_det, r.box_y_det, r.box_w_det, r.box_h_det), policy=policy,
                                       margin=margin, size=size))
        axes[1, j].set_title(f"detector: {CLASS_NAMES.get(int(r.category_id_det), '?')} {r.score_det:.2f}",
                             fontsize=7)
    for ax in axes.ravel():
        ax.axis("off")
    fig.tight_layout()
    return fig


def class_grid(crops: CropSet | str | Path, *, per_class: int = 8, seed: int = 0, split: str = "train",
               size: int = 64) -> Any:
    """Return a figure with one row of random crops per class (from a CropSet or a crop folder)."""
    from fashionlib.viz import image_grid

    if not isinstance(crops, CropSet):
        crops = load_crops(crops, split, size)
    rng = np.random.default_rng(seed)
    images, titles = [], []
    for cid in sorted(CLASS_NAMES):
        idx = np.flatnonzero(crops.labels == cid)
        if not len(idx):
            continue
        pick = rng.choice(idx, size=min(per_class, len(idx)), replace=False)
        pick = np.sort(pick)
        images += [crops.images[i] for i in pick]
        titles += [CLASS_NAMES[cid]] * len(pick)
    return image_grid(images, ncols=per_class, titles=titles, cell=1.1)


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------


def _cmd_crop(args: Any) -> int:
    source = Path(args.source)
    config = CropConfig(
        policy=args.policy, margin=args.margin, min_size=args.min_size, score_threshold=args.score,
        sizes=tuple(args.size) if args.size else CACHE_SIZES, classes=tuple(args.classes), splits=tuple(args.splits),
        max_per_class=args.max_per_class,
    )
    config.check()
    if (source / "train.json").is_file() and not is_detector_run(source):
        boxes, kind = boxes_from_coco(source, config.splits), "ground truth"
    elif is_detector_run(source):
        boxes = boxes_from_detections(source, args.coco, config.splits, score_threshold=config.score_threshold)
        boxes = keep_best_per_image(boxes, config.max_per_image)
        kind = "detector"
    else:
        raise CropError(f"{source} is neither a COCO folder (train.json ...) nor a detector run "
                        "(config.yaml, detections_<split>.json)")
    report = build_crops(boxes, args.images, args.out, config, source=kind, source_path=source)
    print(f"wrote {int(report.counts.to_numpy().sum())} crops from {kind} boxes to {args.out} "
          f"(dropped: {report.dropped_small} below {config.min_size}px, {report.dropped_classes} other classes, "
          f"{report.dropped_cap} over the cap)")
    print(report.table().to_string())
    return 0


def add_commands(sub: Any) -> None:
    """Register ``fashionlib crop``."""
    p = sub.add_parser("crop", help="crop garments from detector predictions or ground-truth boxes")
    p.add_argument("source", help="a detector run folder (its predictions) or a COCO folder (ground-truth boxes)")
    p.add_argument("--images", required=True, help="image root (the DeepFashion folder holding img/)")
    p.add_argument("--out", required=True, help="output crop folder")
    p.add_argument("--size", type=int, nargs="+", choices=CACHE_SIZES, default=None,
                   help="packed cache sizes (default: 64 128)")
    p.add_argument("--classes", nargs="+", choices=list(CLASS_IDS), default=list(CLASS_IDS), help="classes to keep")
    p.add_argument("--splits", nargs="+", choices=SPLITS, default=list(SPLITS), help="splits to crop")
    p.add_argument("--policy", choices=POLICIES, default="pad-context", help="how a box becomes a square")
    p.add_argument("--margin", type=float, default=0.1, help="margin around the box, fraction of its side")
    p.add_argument("--min-size", type=int, default=32, help="drop boxes whose shorter side is below this (px)")
    p.add_argument("--score", type=float, default=0.5, help="score threshold for detector boxes")
    p.add_argument("--max-per-class", type=int, default=None, help="keep at most this many crops per split and class")
    p.add_argument("--coco", default=None, help="COCO folder the detector ran on (default: from its config.yaml)")
    p.set_defaults(func=_cmd_crop)
