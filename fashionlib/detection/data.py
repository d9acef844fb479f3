"""Data: a dataset over a COCO JSON file + image root, flips, a resumable batch sampler, batching.

Resizing and normalisation happen here, once per image, with exactly the
arithmetic of torchvision's ``GeneralizedRCNNTransform`` (normalise, then
bilinear resize so the short side is ``min_size`` and the long side at most
``max_size``). The model then only pads images into a batch
(:class:`fashionlib.detection.model.PreparedTransform`). Boxes inside the pipeline
are ``[x1, y1, x2, y2]`` in resized pixels; everything leaving the package is COCO
``[x, y, w, h]`` in original pixels.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from fashionlib.detection.config import InputConfig


class DatasetError(ValueError):
    """Raised when a COCO file or its images cannot be used for detection."""


def load_image(path: str | Path) -> torch.Tensor:
    """Return an RGB image as a float CxHxW tensor in [0, 1]."""
    try:
        with Image.open(path) as img:
            arr = np.asarray(img.convert("RGB"))
    except FileNotFoundError:
        raise FileNotFoundError(f"image {path} not found; is the image root right?") from None
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).float().div_(255)


def resize_scale(height: int, width: int, min_size: int, max_size: int) -> float:
    """Return torchvision's resize factor: short side to ``min_size``, long side capped at ``max_size``."""
    return min(min_size / min(height, width), max_size / max(height, width))


def prepare_image(image: torch.Tensor, inp: InputConfig) -> torch.Tensor:
    """Return the image normalised and resized exactly as torchvision's GeneralizedRCNNTransform would."""
    mean = torch.as_tensor(inp.pixel_mean, dtype=image.dtype)[:, None, None]
    std = torch.as_tensor(inp.pixel_std, dtype=image.dtype)[:, None, None]
    image = (image - mean) / std
    scale = resize_scale(image.shape[-2], image.shape[-1], inp.min_size, inp.max_size)
    return torch.nn.functional.interpolate(
        image[None], scale_factor=scale, mode="bilinear", recompute_scale_factor=True, align_corners=False
    )[0]


def resize_boxes(boxes: torch.Tensor, old_hw: Sequence[int], new_hw: Sequence[int]) -> torch.Tensor:
    """Return xyxy boxes scaled from an image of size ``old_hw`` to ``new_hw`` (torchvision's arithmetic)."""
    ratio_h = torch.tensor(new_hw[0], dtype=torch.float32) / torch.tensor(old_hw[0], dtype=torch.float32)
    ratio_w = torch.tensor(new_hw[1], dtype=torch.float32) / torch.tensor(old_hw[1], dtype=torch.float32)
    x1, y1, x2, y2 = boxes.unbind(1)
    return torch.stack((x1 * ratio_w, y1 * ratio_h, x2 * ratio_w, y2 * ratio_h), dim=1)


def hflip(image: torch.Tensor, boxes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the image mirrored left-right and its xyxy boxes mirrored with it."""
    width = image.shape[-1]
    flipped = boxes.clone()
    flipped[:, 0] = width - boxes[:, 2]
    flipped[:, 2] = width - boxes[:, 0]
    return image.flip(-1), flipped


def xywh_to_xyxy(boxes: torch.Tensor) -> torch.Tensor:
    """Return COCO ``[x, y, w, h]`` boxes as ``[x1, y1, x2, y2]``."""
    return torch.cat([boxes[:, :2], boxes[:, :2] + boxes[:, 2:]], dim=1)


def xyxy_to_xywh(boxes: torch.Tensor) -> torch.Tensor:
    """Return ``[x1, y1, x2, y2]`` boxes as COCO ``[x, y, w, h]``."""
    return torch.cat([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], dim=1)


@dataclass
class ImageRecord:
    """One image of a COCO file with its ground truth (xyxy, original pixels, contiguous labels)."""

    image_id: int
    file_name: str
    width: int
    height: int
    boxes: np.ndarray  # (N, 4) float32 xyxy
    labels: np.ndarray  # (N,) int64, 1..K


class CocoDetection(Dataset):
    """A detection dataset over a COCO JSON file and the folder its ``file_name``s are relative to.

    Items are ``(image, target)`` with the image normalised and resized; ``target``
    holds ``boxes`` (xyxy, resized pixels), ``labels`` (1..K), ``image_id``,
    ``orig_size`` (h, w) and ``size`` (h, w after resizing). An index may be an int
    or an ``(int, flip)`` pair from :class:`TrainBatchSampler`.
    """

    def __init__(self, ann_file: str | Path, image_root: str | Path, inp: InputConfig) -> None:
        self.ann_file = Path(ann_file)
        self.image_root = Path(image_root)
        self.inp = inp
        if not self.ann_file.is_file():
            raise FileNotFoundError(
                f"COCO file {self.ann_file} not found; build it with fashionlib.coco.ensure_coco(profile) "
                "or `fashionlib convert ROOT OUT`"
            )
        data = json.loads(self.ann_file.read_text(encoding="utf-8"))
        missing = [k for k in ("images", "annotations", "categories") if k not in data]
        if missing:
            raise DatasetError(f"{self.ann_file} is not a COCO detection file: missing {', '.join(missing)}")
        self.categories = sorted(data["categories"], key=lambda c: c["id"])
        self.cat_ids = [c["id"] for c in self.categories]
        self.class_names = [c["name"] for c in self.categories]
        label_of = {cid: i + 1 for i, cid in enumerate(self.cat_ids)}  # 0 is the background
        per_image: dict[int, list[dict[str, Any]]] = {img["id"]: [] for img in data["images"]}
        for ann in data["annotations"]:
            if ann.get("iscrowd", 0):
                continue
            if ann["image_id"] not in per_image:
                raise DatasetError(f"{self.ann_file}: annotation {ann.get('id')} points to a missing image")
            per_image[ann["image_id"]].append(ann)
        self.records: list[ImageRecord] = []
        for img in sorted(data["images"], key=lambda i: i["id"]):
            anns = [a for a in per_image[img["id"]] if a["bbox"][2] > 0 and a["bbox"][3] > 0]
            boxes = np.array([a["bbox"] for a in anns], dtype=np.float32).reshape(-1, 4)
            boxes[:, 2:] += boxes[:, :2]
            labels = np.array([label_of[a["category_id"]] for a in anns], dtype=np.int64)
            self.records.append(
                ImageRecord(img["id"], img["file_name"], int(img["width"]), int(img["height"]), boxes, labels)
            )

    def __len__(self) -> int:
        return len(self.records)

    def aspect_groups(self, k: int = 3) -> np.ndarray:
        """Return each image's aspect-ratio bin (2k+2 bins, as torchvision's reference scripts); batches keep one bin.

        Images in a batch are padded to the largest one: pairing images of similar shape
        means less zero padding computed at every layer.
        """
        ratios = np.array([r.width / r.height for r in self.records], dtype=np.float64)
        return np.digitize(ratios, 2 ** np.linspace(-1, 1, 2 * k + 1)).astype(np.int64)

    def image_path(self, index: int) -> Path:
        """Return the path of image ``index``."""
        return self.image_root / self.records[index].file_name

    def __getitem__(self, index: int | tuple[int, bool]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        index, flip = index if isinstance(index, tuple) else (index, False)
        rec = self.records[index]
        image = load_image(self.image_path(index))
        boxes = torch.from_numpy(rec.boxes.copy())
        if flip:
            image, boxes = hflip(image, boxes)
        orig = image.shape[-2:]
        image = prepare_image(image, self.inp)
        boxes = resize_boxes(boxes, orig, image.shape[-2:])
        target = {
            "boxes": boxes,
            "labels": torch.from_numpy(rec.labels.copy()),
            "image_id": torch.tensor(rec.image_id),
            "orig_size": torch.tensor(list(orig)),
            "size": torch.tensor(list(image.shape[-2:])),
        }
        return image, target


def collate(batch: list[tuple[torch.Tensor, dict[str, torch.Tensor]]]) -> tuple[list, list]:
    """Return a batch as (list of images, list of targets); the model pads them."""
    images, targets = zip(*batch)
    return list(images), list(targets)


class TrainBatchSampler:
    """An endless, seeded stream of training batches of ``(index, flip)`` pairs that can start at any iteration.

    Epoch ``e`` visits the images in ``randperm(n, seed + e)`` order, each flipped
    with probability ``hflip_prob`` (same seed); batches hold images of one aspect
    group, as torchvision's ``GroupedBatchSampler`` does. Because the stream is a pure
    function of the seed, resuming at iteration ``k`` simply skips ``k`` batches:
    no sampler state has to be checkpointed.
    """

    def __init__(self, groups: np.ndarray, batch_size: int, *, seed: int, hflip_prob: float, start_iter: int = 0,
                 shard: tuple[int, int] = (0, 1)):
        self.groups = np.asarray(groups)
        self.shard = shard  # (rank, world size): this process's slice of every batch (torchrun)
        self.batch_size = batch_size
        self.seed = seed
        self.hflip_prob = hflip_prob
        self.start_iter = start_iter
        if len(self.groups) == 0:
            raise DatasetError("the training split has no images")

    def _batches(self) -> Iterator[list[tuple[int, bool]]]:
        pending: dict[int, list[tuple[int, bool]]] = {}
        epoch = 0
        while True:
            gen = torch.Generator().manual_seed(self.seed * 100003 + epoch)
            order = torch.randperm(len(self.groups), generator=gen).tolist()
            flips = (torch.rand(len(self.groups), generator=gen) < self.hflip_prob).tolist()
            for idx in order:
                group = pending.setdefault(int(self.groups[idx]), [])
                group.append((idx, bool(flips[idx])))
                if len(group) == self.batch_size:
                    yield list(group)
                    group.clear()
            epoch += 1

    def __iter__(self) -> Iterator[list[tuple[int, bool]]]:
        stream = self._batches()
        for _ in range(self.start_iter):
            next(stream)
        rank, world = self.shard
        size = self.batch_size // world
        for batch in stream:
            yield batch[rank * size : (rank + 1) * size]


def make_train_loader(
    dataset: CocoDetection, batch_size: int, *, seed: int, start_iter: int = 0, num_workers: int = 0,
    shard: tuple[int, int] = (0, 1),
) -> torch.utils.data.DataLoader:
    """Return the endless training loader, positioned at ``start_iter``; ``shard`` = (rank, world size)."""
    sampler = TrainBatchSampler(dataset.aspect_groups(), batch_size, seed=seed, hflip_prob=dataset.inp.hflip_prob,
                                start_iter=start_iter, shard=shard)
    return torch.utils.data.DataLoader(
        dataset,
        batch_sampler=sampler,
        collate_fn=collate,
        num_workers=num_workers,
        # A private generator: creating the loader must not draw from the global RNG (resume determinism).
        generator=torch.Generator().manual_seed(seed),
        persistent_workers=False,
    )


def make_eval_loader(
    dataset: CocoDetection, batch_size: int, *, indices: Sequence[int] | None = None, num_workers: int = 0
) -> torch.utils.data.DataLoader:
    """Return a loader over ``indices`` (default: all images) in file order, without flips."""
    indices = list(range(len(dataset))) if indices is None else list(indices)
    groups = dataset.aspect_groups()
    # Sort by aspect group so batches need little padding; results are keyed by image id anyway.
    order = sorted(indices, key=lambda i: (groups[i], i))
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    return torch.utils.data.DataLoader(
        dataset,
        batch_sampler=batches,
        collate_fn=collate,
        num_workers=num_workers,
        generator=torch.Generator().manual_seed(0),
    )
