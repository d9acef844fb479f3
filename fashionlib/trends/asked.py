"""Designs on request: a GAN conditioned on a garment type *and* an attribute value, and whether its designs carry it.

The generator's condition vector is half a one-hot garment type and half a one-hot attribute
slot (:func:`fashionlib.gan.condition_vectors`): the attribute values asked for (e.g. floral,
striped, dotted, plaid) plus one slot for crops carrying none of them. A value may list
several DeepFashion names of one look, ``"floral|floral print"``; DeepFashion's annotators used
both, for the same look.

Judging the designs: the attribute predictor (:mod:`fashionlib.trends.attributes`) ranks the
attributes of the value's type (texture) for each image, and a design "carries" the value when
one of its names is among the top k (3) of them: the benchmark's top-k rule, which the
predictor's recall was measured by. (A probability threshold is the wrong tool here: rare
attributes rarely pass 0.5, so a threshold of 0.5 recognises a few per cent of real floral crops.) Each row compares the designs asked for
a value with (a) the value's base rate among the garment type's training crops, (b) the share
the predictor recognises among real held-out crops of the type (what not asking gives), (c) the
share among real held-out crops labelled with the value (the predictor's ceiling), and (d)
designs of the same noise asked for "none" (the control).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fashionlib.crops import CLASS_NAMES, load_crops
from fashionlib.trends.catalogue import AttributeTable, TrendsInputError
from fashionlib.trends.prevalence import wilson_interval

# The textures the course asks for by default: frequent in DeepFashion's texture attributes and in the sample.
TEXTURES = ("floral|floral print", "stripe|striped", "dot|polka dot", "plaid")


def names_of(value: str) -> list[str]:
    """Return the DeepFashion attribute names of a value ("floral|floral print" -> both)."""
    return [n.strip() for n in value.split("|") if n.strip()]


def label(value: str) -> str:
    """Return a value's short name (its first attribute name)."""
    return names_of(value)[0]


def attribute_slots(manifest: pd.DataFrame, classes: Sequence[str], table: AttributeTable,
                    values: Sequence[str]) -> np.ndarray:
    """Return each crop's slot: i = the first value whose names its photo carries, len(values) = none, -1 = unknown.

    A crop is unknown when its photo is not in the table or its class is not the photo's annotated
    garment type (a detector crop of another garment: the photo's labels do not describe it).
    """
    row_of = pd.Series(np.arange(table.shape[0]), index=table.images["image_name"].to_numpy())
    rows = row_of.reindex(manifest["source_image"]).to_numpy()
    known = ~np.isnan(rows)
    rows = np.where(known, rows, 0).astype(int)
    known &= table.images["type_name"].to_numpy()[rows] == np.asarray(classes)
    slots = np.full(len(manifest), len(values), dtype=np.int64)
    for i in reversed(range(len(values))):  # the first listed value wins when a photo carries two
        cols = [table.column(n) for n in names_of(values[i])]
        carries = np.asarray(table.X[rows][:, cols].sum(axis=1)).ravel() > 0
        slots[carries] = i
    slots[~known] = -1
    return slots


def attribute_config(profile: Any, values: Sequence[str] = TEXTURES, *, size: int = 64, recipe: str = "small-data",
                     **overrides: Any) -> Any:
    """Return the course's GAN config of a recipe, conditioned on these attribute values too."""
    from fashionlib.gan import default_config

    return default_config(profile, size, recipe, attributes=tuple(values), **overrides)


def ensure_attribute_gan(profile: Any, crops_dir: str | Path, table: AttributeTable, values: Sequence[str] = TEXTURES,
                         *, config: Any = None, progress: bool = True) -> Any:
    """Return a finished GAN run conditioned on garment type and attribute value: loaded, resumed or trained."""
    from fashionlib.gan import ensure_gan

    config = config or attribute_config(profile, values)
    crops = load_crops(crops_dir, "train", config.size, classes=config.classes)
    classes = [CLASS_NAMES[int(c)] for c in crops.labels]
    slots = attribute_slots(crops.manifest, classes, table, config.attributes)
    if not (slots[slots >= 0] < len(config.attributes)).any():
        raise TrendsInputError(f"no training crop carries any of {list(config.attributes)}: choose other attributes")
    return ensure_gan(profile, config.size, config=config, crops_dir=crops_dir, progress=progress,
                      attribute_labels=slots)


def carries(predictor: Any, images: Any, value: str, k: int = 3, *, probs: np.ndarray | None = None) -> np.ndarray:
    """Return per image whether one of the value's names is among the top k attributes of its type.

    ``probs``: the predictor's probabilities for these images, when already computed (one pass for all values).
    """
    from fashionlib.trends.attributes import predict_proba

    if probs is None:
        probs = predict_proba(predictor, images) if len(images) else np.zeros((0, len(predictor.names)))
    cols = [predictor.column(n) for n in names_of(value)]
    types = predictor.attributes["type_name"].to_numpy()
    same_type = np.flatnonzero(types == types[cols[0]])
    top = same_type[np.argsort(-probs[:, same_type], axis=1)[:, :k]]
    return np.isin(top, cols).any(axis=1)


def _share(hits: np.ndarray) -> tuple[float, float, float]:
    lo, hi = wilson_interval(int(hits.sum()), len(hits))
    return float(hits.mean()) if len(hits) else float("nan"), float(lo), float(hi)


def asked_table(predictor: Any, netG: Any, crops_dir: str | Path, table: AttributeTable, *, n: int = 120,
                seed: int = 0, k: int = 3) -> pd.DataFrame:
    """Return one row per (garment type, value): how often designs asked for the value carry it, with references."""
    from fashionlib.gan import generate
    from fashionlib.trends.attributes import predict_proba

    values = list(netG.config.attributes)
    held_manifests, held_images = [], []
    for split in ("val", "test"):
        if (Path(crops_dir) / "cache" / f"{split}_64.npy").is_file():
            cs = load_crops(crops_dir, split, 64, classes=list(netG.class_names))
            held_manifests.append(cs.manifest.assign(_class=[CLASS_NAMES[int(c)] for c in cs.labels]))
            held_images.append(np.asarray(cs.images))
    held = pd.concat(held_manifests, ignore_index=True)
    images = np.concatenate(held_images)
    held_slots = attribute_slots(held, held["_class"].to_list(), table, values)
    train = load_crops(crops_dir, "train", 64, classes=list(netG.class_names))
    train_classes = np.array([CLASS_NAMES[int(c)] for c in train.labels])
    train_slots = attribute_slots(train.manifest, list(train_classes), table, values)
    held_probs = predict_proba(predictor, images)  # one pass over the real crops, reused for every value
    rows = []
    for garment in netG.class_names:
        control = predict_proba(predictor, generate(netG, n, classes=garment, attribute="none", seed=seed))
        mine = (held["_class"].to_numpy() == garment) & (held_slots >= 0)
        known_train = (train_classes == garment) & (train_slots >= 0)
        for i, value in enumerate(values):
            asked = generate(netG, n, classes=garment, attribute=value, seed=seed)  # the control's noise
            share, lo, hi = _share(carries(predictor, asked, value, k))
            labelled = mine & (held_slots == i)
            rows.append({
                "garment": garment, "asked": label(value), "designs": n, "carry it": share, "ci_low": lo, "ci_high": hi,
                "asked 'none' (control)": _share(carries(predictor, None, value, k, probs=control))[0],
                "base rate (train labels)": float((train_slots[known_train] == i).mean()) if known_train.any() else np.nan,
                "real held-out crops": _share(carries(predictor, None, value, k, probs=held_probs[mine]))[0],
                "real crops labelled with it": _share(carries(predictor, None, value, k, probs=held_probs[labelled]))[0],
                "labelled held-out crops": int(labelled.sum()),
            })
    return pd.DataFrame(rows)


def asked_grid(netG: Any, *, per_cell: int = 3, seed: int = 0) -> Any:
    """Return a figure: one row per attribute slot (values, then none), per_cell designs per garment type."""
    import matplotlib.pyplot as plt

    from fashionlib.gan import generate, to_uint8

    slots = [*netG.config.attributes, "none"]
    garments = list(netG.class_names)
    cols = per_cell * len(garments)
    fig, axes = plt.subplots(len(slots), cols, figsize=(1.1 * cols, 1.2 * len(slots)), squeeze=False)
    for r, value in enumerate(slots):
        for g, garment in enumerate(garments):
            imgs = to_uint8(generate(netG, per_cell, classes=garment, attribute=value, seed=seed))
            for j in range(per_cell):
                ax = axes[r, g * per_cell + j]
                ax.imshow(imgs[j])
                ax.set_xticks([])
                ax.set_yticks([])
                if r == 0 and j == 0:
                    ax.set_title(garment, fontsize=8, loc="left")
        axes[r, 0].set_ylabel(label(value), fontsize=8, rotation=0, ha="right", va="center")
    fig.suptitle("Designs asked for a garment type (columns) and a texture (rows); same noise in every row",
                 fontsize=9)
    fig.tight_layout()
    return fig
