"""Datasets for detectron2: idempotent registration of our COCO files, and a mapper with our resize arithmetic.

The mapper resizes with exactly the torchvision engine's arithmetic
(``fashionlib.detection.data``: bilinear, short side to ``min_size``, long side at most
``max_size``), so a model trained by either engine sees the same pixels, and the
converted checkpoint predicts the same boxes in ``fashionlib.detection.predict``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.datasets import register_coco_instances
from detectron2.structures import Boxes, BoxMode, Instances

from fashionlib.detection.data import hflip, load_image, resize_boxes, resize_scale

PREFIX = "fashionlib"


def dataset_name(split: str) -> str:
    """Return the detectron2 catalog name of one of our splits."""
    return f"{PREFIX}_{split}"


def register_datasets(coco_dir: str | Path, image_root: str | Path, splits: Sequence[str] = ("train", "val")) -> dict[str, str]:
    """Register ``COCO_DIR/<split>.json`` in detectron2's catalogs; return ``{split: name}``.

    Safe to call again (a re-run notebook cell): the same files are left registered,
    other files under the same name replace the old entry instead of failing with
    "already registered".
    """
    names = {}
    for split in splits:
        name = dataset_name(split)
        json_file = str((Path(coco_dir) / f"{split}.json").resolve())
        root = str(Path(image_root).resolve())
        if not Path(json_file).is_file():
            raise FileNotFoundError(f"COCO file {json_file} not found; build it with `fashionlib convert` first")
        if name in DatasetCatalog.list():
            meta = MetadataCatalog.get(name)
            if meta.get("json_file") == json_file and meta.get("image_root") == root:
                names[split] = name
                continue
            DatasetCatalog.remove(name)
            MetadataCatalog.remove(name)
        register_coco_instances(name, {}, json_file, root)
        names[split] = name
    return names


def dataset_id_of(name: str) -> dict[int, int]:
    """Return detectron2's contiguous class index -> the COCO category id, for a registered dataset."""
    meta = MetadataCatalog.get(name)
    if not meta.get("thing_dataset_id_to_contiguous_id"):
        DatasetCatalog.get(name)  # loading the records fills the metadata
    return {v: k for k, v in MetadataCatalog.get(name).thing_dataset_id_to_contiguous_id.items()}


class Mapper:
    """detectron2 dataset record -> model input: the image resized (0-255 RGB float) and its boxes as Instances."""

    def __init__(self, min_size: int, max_size: int, *, hflip_prob: float = 0.0, train: bool = True, seed: int = 0) -> None:
        self.min_size, self.max_size = min_size, max_size
        self.hflip_prob, self.train = hflip_prob, train
        self.rng = np.random.default_rng(seed)  # flips only; the global torch RNG stays the model's

    def __call__(self, record: dict[str, Any]) -> dict[str, Any]:
        image = load_image(record["file_name"]).mul_(255)
        height, width = image.shape[-2:]
        scale = resize_scale(height, width, self.min_size, self.max_size)
        image = torch.nn.functional.interpolate(
            image[None], scale_factor=scale, mode="bilinear", recompute_scale_factor=True, align_corners=False
        )[0]
        out = {"image": image, "height": height, "width": width, "image_id": record["image_id"]}
        if not self.train:
            return out
        anns = [a for a in record.get("annotations", []) if not a.get("iscrowd", 0)]
        boxes = torch.tensor([BoxMode.convert(a["bbox"], a["bbox_mode"], BoxMode.XYXY_ABS) for a in anns],
                             dtype=torch.float32).reshape(-1, 4)
        boxes = resize_boxes(boxes, (height, width), image.shape[-2:])
        if self.hflip_prob and self.rng.random() < self.hflip_prob:
            image, boxes = hflip(image, boxes)
            out["image"] = image
        instances = Instances(tuple(image.shape[-2:]))
        instances.gt_boxes = Boxes(boxes)
        instances.gt_classes = torch.tensor([a["category_id"] for a in anns], dtype=torch.int64)
        out["instances"] = instances
        return out


def eval_batches(records: Sequence[dict[str, Any]], batch_size: int, indices: Sequence[int] | None = None) -> Iterator[list[dict[str, Any]]]:
    """Yield record batches in the torchvision engine's evaluation order (aspect group, then index).

    Padding depends on which images share a batch, so the same batches make the two
    engines' evaluations of one set of weights agree.
    """
    indices = list(range(len(records))) if indices is None else list(indices)
    ratios = np.array([r["width"] / r["height"] for r in records], dtype=np.float64)
    groups = np.digitize(ratios, 2 ** np.linspace(-1, 1, 7))  # CocoDetection.aspect_groups(k=3)'s bins
    order = sorted(indices, key=lambda i: (groups[i], i))
    for start in range(0, len(order), batch_size):
        yield [records[i] for i in order[start:start + batch_size]]
