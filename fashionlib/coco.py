"""Convert DeepFashion to COCO JSON, one file per split.

Box convention. DeepFashion gives ``x_1 y_1 x_2 y_2`` in pixels with
``x_2 - x_1`` the box width. COCO wants ``[x, y, width, height]``::

    bbox = [x_1, y_1, x_2 - x_1, y_2 - y_1]   (after clamping to the image)
    area = width * height,  iscrowd = 0

A box that sticks out of its image is clamped to it; a box with no area left is
dropped. Both are counted in the :class:`ConversionReport`, never silent.

Classes. ``types`` (the study's setting): 3 classes, 1 upper, 2 lower, 3 full.
``categories``: the 50 categories, ids 1..50, names from list_category_cloth.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fashionlib.deepfashion import SPLITS, DeepFashion, find_files, load
from fashionlib.garments import TYPE_NAMES
from fashionlib.runio import atomic_write_json, atomic_write_text

CLASS_MODES = ("types", "categories")
SOURCE_MARKER = ".source.json"  # what the JSON files were converted from


class ImageHeaderError(ValueError):
    """An image file's header could not be read (names the file)."""


# ---------------------------------------------------------------------------
# Image sizes from headers (no decoding)
# ---------------------------------------------------------------------------

# JPEG start-of-frame markers carry the size (all SOFn except DHT/JPG/DAC).
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def image_size(path: str | Path) -> tuple[int, int]:
    """Return (width, height) read from a JPEG or PNG header, falling back to PIL for anything else."""
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        raise FileNotFoundError(f"image {path} is listed in the annotations but is not on disk") from None
    with handle:
        head = handle.read(24)
        size = None
        if head[:2] == b"\xff\xd8":
            handle.seek(2)
            size = _jpeg_size(handle)
        elif head[:8] == b"\x89PNG\r\n\x1a\n" and len(head) >= 24:
            size = struct.unpack(">II", head[16:24])
        if size and size[0] > 0 and size[1] > 0:
            return size
    from PIL import Image  # other formats, or a header we could not parse: PIL decides

    try:
        with Image.open(path) as img:
            return img.size
    except Exception as exc:  # PIL raises many types for broken files
        raise ImageHeaderError(f"cannot read the size of {path}: {exc}") from exc


def _jpeg_size(handle: Any) -> tuple[int, int] | None:
    """Return (width, height) from the first frame header, walking segments by seeking; None if not found.

    Segments (EXIF, ICC profiles, comments) can be up to 64 KiB each and come in any number, so the
    reader seeks past each one instead of buffering: it never reads beyond what it has checked.
    """
    while True:
        prefix = handle.read(2)
        if len(prefix) < 2 or prefix[0] != 0xFF:
            return None
        marker = prefix[1]
        while marker == 0xFF:  # fill bytes before a marker
            byte = handle.read(1)
            if not byte:
                return None
            marker = byte[0]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length
            continue
        if marker in (0xD9, 0xDA):  # end of image or start of scan before any frame header
            return None
        raw = handle.read(2)
        if len(raw) < 2:
            return None
        length = struct.unpack(">H", raw)[0]
        if length < 2:
            return None
        if marker in _SOF:
            frame = handle.read(5)  # precision, height, width
            if len(frame) < 5:
                return None
            height, width = struct.unpack(">HH", frame[1:5])
            return width, height
        handle.seek(length - 2, os.SEEK_CUR)


def _sizes_chunk(paths: list[str]) -> list[tuple[int, int]]:
    return [image_size(p) for p in paths]


def image_sizes(paths: Sequence[str | Path], *, workers: int | None = None, progress: bool = True) -> np.ndarray:
    """Return an (N, 2) int array of (width, height), read from headers in parallel processes."""
    paths = [str(p) for p in paths]
    workers = workers or min(os.cpu_count() or 1, 8)
    if workers <= 1 or len(paths) < 2000:
        return np.array(_sizes_chunk(paths), dtype=np.int64).reshape(-1, 2)
    from tqdm.auto import tqdm

    step = max(1000, len(paths) // (workers * 16))
    chunks = [paths[i : i + step] for i in range(0, len(paths), step)]
    out: list[tuple[int, int]] = []
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for sizes in tqdm(pool.map(_sizes_chunk, chunks), total=len(chunks), desc="image sizes", disable=not progress or len(paths) < 20000):
            out.extend(sizes)
    return np.array(out, dtype=np.int64).reshape(-1, 2)


# ---------------------------------------------------------------------------
# Conversion
# ---------------------------------------------------------------------------


@dataclass
class ConversionReport:
    """What a conversion wrote: per-split, per-class counts and every box that was clamped or dropped."""

    classes: str
    out_dir: Path | None = None
    counts: pd.DataFrame = field(default_factory=pd.DataFrame)  # rows: split, columns: class names
    clamped: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)
    dropped_images: list[str] = field(default_factory=list)

    def table(self) -> pd.DataFrame:
        """Return the per-split summary: annotations per class, total, clamped and dropped boxes."""
        frame = self.counts.copy()
        frame["total"] = frame.sum(axis=1)
        frame["clamped"] = pd.Series(self.clamped)
        frame["dropped"] = pd.Series(self.dropped)
        return frame

    def __str__(self) -> str:
        return self.table().to_string()


def category_list(ds: DeepFashion, classes: str) -> list[dict[str, Any]]:
    """Return the COCO ``categories`` list for ``types`` (3 classes) or ``categories`` (50) mode."""
    if classes == "types":
        return [{"id": t, "name": name, "supercategory": "garment"} for t, name in TYPE_NAMES.items()]
    if classes == "categories":
        return [
            {"id": int(label), "name": row["name"], "supercategory": row["type_name"]}
            for label, row in ds.categories.iterrows()
        ]
    raise ValueError(f"classes must be one of {', '.join(CLASS_MODES)}, got {classes!r}")


def clamp_boxes(boxes: np.ndarray, sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return COCO [x, y, w, h] boxes clamped to their images, a 'was clamped' mask and a 'kept' mask."""
    x1 = np.clip(boxes[:, 0], 0, sizes[:, 0])
    y1 = np.clip(boxes[:, 1], 0, sizes[:, 1])
    x2 = np.clip(boxes[:, 2], 0, sizes[:, 0])
    y2 = np.clip(boxes[:, 3], 0, sizes[:, 1])
    clamped_box = np.stack([x1, y1, x2, y2], axis=1)
    was_clamped = (clamped_box != boxes).any(axis=1)
    xywh = np.stack([x1, y1, x2 - x1, y2 - y1], axis=1)
    kept = (xywh[:, 2] > 0) & (xywh[:, 3] > 0)
    return xywh, was_clamped, kept


def to_coco(
    ds: DeepFashion, sizes: np.ndarray, split: str, classes: str = "types"
) -> tuple[dict[str, Any], dict[str, int]]:
    """Return (COCO dict, {'clamped': n, 'dropped': n}) for one split, given (width, height) per image."""
    cats = category_list(ds, classes)
    rows = np.flatnonzero((ds.images["split"] == split).to_numpy())
    img = ds.images.iloc[rows]
    boxes = img[["x_1", "y_1", "x_2", "y_2"]].to_numpy(np.int64)
    xywh, was_clamped, kept = clamp_boxes(boxes, sizes[rows])
    cat_col = "category_type" if classes == "types" else "category_label"
    cat_ids = img[cat_col].to_numpy(np.int64)
    image_ids = rows + 1  # global row + 1: an image keeps its id in every split and mode
    names = img["image_name"].tolist()
    images = [
        {"id": int(i), "file_name": n, "width": int(w), "height": int(h)}
        for i, n, (w, h) in zip(image_ids.tolist(), names, sizes[rows].tolist())
    ]
    labels = img["category_label"].to_numpy(np.int64)
    annotations = [
        {
            "id": int(i),
            "image_id": int(i),
            "category_id": int(c),
            "bbox": [int(v) for v in box],
            "area": int(box[2] * box[3]),
            "iscrowd": 0,
            "deepfashion_category": int(lab),
        }
        for i, c, box, lab, keep in zip(image_ids.tolist(), cat_ids.tolist(), xywh.tolist(), labels.tolist(), kept.tolist())
        if keep
    ]
    coco = {
        "info": {
            "description": "DeepFashion Category and Attribute Prediction, converted by fashionlib",
            "classes": classes,
            "split": split,
            "bbox": "[x_1, y_1, x_2 - x_1, y_2 - y_1] clamped to the image",
        },
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": cats,
    }
    stats = {"clamped": int((was_clamped & kept).sum()), "dropped": int((~kept).sum())}
    return coco, stats


def convert(
    root: str | Path,
    out_dir: str | Path,
    *,
    classes: str = "types",
    workers: int | None = None,
    progress: bool = True,
    dataset: DeepFashion | None = None,
) -> ConversionReport:
    """Convert the benchmark at ``root`` to ``out_dir/{train,val,test}.json``; return the report."""
    if classes not in CLASS_MODES:
        raise ValueError(f"classes must be one of {', '.join(CLASS_MODES)}, got {classes!r}")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():  # found before the slow part, not when writing
        raise NotADirectoryError(f"output {out_dir} is a file, not a folder: give a folder for the JSON files")
    ds = dataset or load(root, attributes=False, landmarks=False)
    paths = [ds.image_root / n for n in ds.images["image_name"]]
    sizes = image_sizes(paths, workers=workers, progress=progress)
    report = ConversionReport(classes=classes, out_dir=out_dir)
    names = {c["id"]: c["name"] for c in category_list(ds, classes)}
    counts = {}
    texts = {}
    for split in SPLITS:
        coco, stats = to_coco(ds, sizes, split, classes)
        report.clamped[split], report.dropped[split] = stats["clamped"], stats["dropped"]
        per_class = pd.Series([a["category_id"] for a in coco["annotations"]], dtype=np.int64).value_counts()
        counts[split] = {names[i]: int(per_class.get(i, 0)) for i in names}
        texts[split] = json.dumps(coco, separators=(",", ":"), ensure_ascii=False) + "\n"
    # Write only after every split converted, each file atomically; the marker last.
    for split, text in texts.items():
        atomic_write_text(out_dir / f"{split}.json", text)
    atomic_write_json(out_dir / SOURCE_MARKER, _source(root, classes))
    report.counts = pd.DataFrame.from_dict(counts, orient="index")
    report.counts.index.name = "split"
    return report


def validate(coco_dir: str | Path, image_root: str | Path | None = None) -> pd.DataFrame:
    """Load every split with pycocotools and return images, annotations and categories per split."""
    from contextlib import redirect_stdout
    from io import StringIO

    from pycocotools.coco import COCO

    rows = []
    for split in SPLITS:
        with redirect_stdout(StringIO()):
            api = COCO(str(Path(coco_dir) / f"{split}.json"))
        if image_root is not None:
            first = api.loadImgs(api.getImgIds()[:1])
            if first and not (Path(image_root) / first[0]["file_name"]).is_file():
                raise FileNotFoundError(f"{first[0]['file_name']} not found under {image_root}")
        rows.append(
            {"split": split, "images": len(api.getImgIds()), "annotations": len(api.getAnnIds()),
             "categories": len(api.getCatIds())}
        )
    return pd.DataFrame(rows).set_index("split")


def ensure_coco(profile: Any, classes: str = "types") -> Path:
    """Return the profile's COCO folder, converting the dataset first if the JSON files are missing or stale."""
    out = Path(profile.coco_dir) if classes == "types" else Path(profile.coco_dir).with_name(f"coco_{classes}")
    marker = out / SOURCE_MARKER
    if marker.is_file() and all((out / f"{s}.json").is_file() for s in SPLITS):
        if json.loads(marker.read_text()) == _source(profile.data_root, classes):
            return out
    convert(profile.data_root, out, classes=classes, progress=False)
    return out


def _source(root: str | Path, classes: str) -> dict[str, Any]:
    """Return what a conversion was made from: root, class mode, sizes and mtimes of the lists."""
    files = find_files(root)
    stamp = []
    for name in ("list_category_img", "list_bbox", "list_eval_partition"):
        st = files[name].stat()
        stamp += [st.st_size, int(st.st_mtime)]
    return {"root": str(Path(root).resolve()), "classes": classes, "stamp": stamp}


def peek(coco_dir: str | Path, split: str = "val") -> dict[str, Any]:
    """Return the first image of a split with its annotations and the category list (to print as JSON)."""
    data = json.loads((Path(coco_dir) / f"{split}.json").read_text())
    image = data["images"][0]
    anns = [a for a in data["annotations"] if a["image_id"] == image["id"]]
    return {"image": image, "annotations": anns, "categories": data["categories"]}


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------


def _cmd_convert(args: Any) -> int:
    report = convert(args.root, args.out, classes=args.classes, workers=args.workers)
    print(f"wrote {', '.join(f'{s}.json' for s in SPLITS)} to {args.out} ({args.classes})")
    print(report.table().to_string())
    return 0


def add_commands(sub: Any) -> None:
    """Register ``fashionlib convert``."""
    p = sub.add_parser("convert", help="convert DeepFashion to COCO JSON (train/val/test.json)")
    p.add_argument("root", help="DeepFashion root (with Anno/, Eval/, img/)")
    p.add_argument("out", help="output folder for train.json, val.json, test.json")
    p.add_argument("--classes", choices=CLASS_MODES, default="types", help="3 garment types (default) or 50 categories")
    p.add_argument("--workers", type=int, default=None, help="processes that read image headers")
    p.set_defaults(func=_cmd_convert)


def show_annotations(
    coco_dir: str | Path, image_root: str | Path, split: str = "val", *, n: int = 8, seed: int = 0, ncols: int = 4
) -> Any:
    """Return a grid of images with their COCO boxes drawn back from ``split.json`` (via pycocotools)."""
    from contextlib import redirect_stdout
    from io import StringIO

    import matplotlib.pyplot as plt
    from PIL import Image
    from pycocotools.coco import COCO

    from fashionlib.viz import TYPE_COLORS, draw_boxes

    with redirect_stdout(StringIO()):
        api = COCO(str(Path(coco_dir) / f"{split}.json"))
    ids = sorted(api.getImgIds())
    rng = np.random.default_rng(seed)
    chosen = sorted(rng.choice(ids, size=min(n, len(ids)), replace=False).tolist())
    nrows = max(1, (len(chosen) + ncols - 1) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.4 * ncols, 2.9 * nrows))
    axes = np.atleast_1d(axes).ravel()
    for ax in axes:
        ax.axis("off")
    cats = {c["id"]: c["name"] for c in api.loadCats(api.getCatIds())}
    for ax, image_id in zip(axes, chosen):
        info = api.loadImgs(image_id)[0]
        with Image.open(Path(image_root) / info["file_name"]) as img:
            ax.imshow(img.convert("RGB"))
        anns = api.loadAnns(api.getAnnIds(imgIds=[image_id]))
        names = [cats[a["category_id"]] for a in anns]
        draw_boxes(ax, [a["bbox"] for a in anns], labels=[f"{nm} {a['bbox']}" for nm, a in zip(names, anns)],
                   colors=[TYPE_COLORS.get(nm, "#e4572e") for nm in names])
        ax.set_title(f"id {image_id}: {info['width']}x{info['height']}", fontsize=8)
    fig.tight_layout()
    return fig
