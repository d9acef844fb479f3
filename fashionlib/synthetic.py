"""A small synthetic dataset in the exact DeepFashion *Category and Attribute Prediction* format.

The real benchmark sits behind a password, so every notebook, test and
benchmark of the ``sample`` profile runs on this stand-in instead. It is written
with the same files, columns and padding as the real one::

    root/Anno/list_category_cloth.txt   the real 50 categories (4 of them with no images)
    root/Anno/list_category_img.txt     one category label per image
    root/Anno/list_bbox.txt             one garment box per image: x_1 y_1 x_2 y_2 (x_2 - x_1 = width)
    root/Anno/list_attr_cloth.txt       58 real-sounding attributes of the 5 types
    root/Anno/list_attr_img.txt         1 / -1 per attribute and image
    root/Anno/list_landmarks.txt        6 / 4 / 8 landmarks for upper / lower / full-body garments
    root/Eval/list_eval_partition.txt   train / val / test (about 72 / 14 / 14 %)
    root/img/<Item_Folder>/img_00000001.jpg ...

Each image shows one garment of 15 drawn categories (Tee, Tank, Sweater, Hoodie,
Top, Blazer, Jeans, Joggers, Shorts, Cutoffs, Skirt, Dress, Jumpsuit, Romper,
Coat) on a mannequin or laid flat, with a texture tied to its attributes
(stripes, dots, plaid, floral, denim, knit, ...), in front of a plain, room-like
or cluttered background, at small, medium and large scale. The box is the tight
box of the garment's visible pixels; landmarks sit on its collar, sleeves,
waist and hem. Folders are products: the images of one folder show the same
garment in different poses, places and sizes.

Generation is deterministic: each image draws from its own random generator
seeded by ``(seed, index)``, so the same ``(n_images, seed)`` gives
byte-identical files whatever the number of worker processes.
"""

from __future__ import annotations

import colorsys
import contextlib
import io
import json
import math
import multiprocessing as mp
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from fashionlib.config import SAMPLE_IMAGES, SAMPLE_SEED
from fashionlib.deepfashion import CATEGORIES, MERGED_CATEGORIES

GENERATOR_VERSION = 1  # bump whenever the drawing changes, so old samples are regenerated
MARKER = ".fashionlib-sample.json"
NAME_WIDTH = 71  # image_name column width in the real files
CLOTH_WIDTH = 29  # name column width of list_category_cloth / list_attr_cloth

__all__ = [
    "ATTRIBUTES",
    "CATEGORIES",
    "DRAWN_CATEGORIES",
    "GENERATOR_VERSION",
    "MARKER",
    "ImageSpec",
    "RenderedImage",
    "SampleExistsError",
    "add_commands",
    "ensure_sample",
    "generate_sample",
    "plan_sample",
    "read_marker",
    "render_image",
    "size_class",
]


class SampleExistsError(FileExistsError):
    """Raised when the output folder holds something that is not a generated sample."""


# ---------------------------------------------------------------------------
# Vocabulary: categories drawn, attributes, landmarks
# ---------------------------------------------------------------------------

# Drawn categories and their share of images (uneven, like the real catalogue; Tee and Dress dominate).
DRAWN_CATEGORIES: dict[str, float] = {
    "Tee": 12, "Tank": 6, "Sweater": 6, "Hoodie": 5, "Top": 6, "Blazer": 5,
    "Jeans": 8, "Joggers": 5, "Shorts": 8, "Cutoffs": 4, "Skirt": 7,
    "Dress": 13, "Jumpsuit": 5, "Romper": 5, "Coat": 5,
}
assert not set(DRAWN_CATEGORIES) & set(MERGED_CATEGORIES)

# (name, type) with 1 texture, 2 fabric, 3 shape, 4 part, 5 style; alphabetical like the real file.
ATTRIBUTES: list[tuple[str, int]] = sorted(
    [(n, 1) for n in ("abstract chevron print", "animal print", "color block", "distressed", "dot", "floral",
                      "floral print", "graphic", "heathered", "leopard", "plaid", "polka dot", "stripe", "striped")]
    + [(n, 2) for n in ("chiffon", "cotton", "denim", "faux leather", "fleece", "knit", "lace", "ribbed",
                        "satin", "woven", "wool")]
    + [(n, 3) for n in ("a-line", "bodycon", "fit", "flare", "longline", "maxi", "midi", "mini", "pleated",
                        "relaxed", "skinny", "slim", "wide-leg")]
    + [(n, 4) for n in ("belted", "button", "collar", "crew neck", "cuffed", "drawstring", "hooded",
                        "long sleeve", "pocket", "short sleeve", "sleeveless", "v-neck", "zip")]
    + [(n, 5) for n in ("athletic", "boho", "casual", "classic", "party", "summer", "vintage")]
)
_ATTR_INDEX = {name: i for i, (name, _) in enumerate(ATTRIBUTES)}

# Landmark order per clothes_type. "left" is the wearer's left, i.e. the image's right for a front view.
LANDMARK_NAMES = {
    1: ("left collar", "right collar", "left sleeve", "right sleeve", "left hem", "right hem"),
    2: ("left waistline", "right waistline", "left hem", "right hem"),
    3: ("left collar", "right collar", "left sleeve", "right sleeve",
        "left waistline", "right waistline", "left hem", "right hem"),
}
_CATEGORY_LABEL = {name: i + 1 for i, (name, _) in enumerate(CATEGORIES)}
_CATEGORY_TYPE = dict(CATEGORIES)

# COCO size classes by box area.
SMALL_AREA, MEDIUM_AREA = 32**2, 96**2
# Target share of small / medium / large garments (COCO area classes).
SIZE_MIX = (0.08, 0.25, 0.67)
SPLIT_FRACTIONS = (0.72, 0.14, 0.14)  # like the real 209,222 / 40,000 / 40,000


def size_class(area: float) -> str:
    """Return the COCO size class ("small", "medium", "large") of a box area in pixels."""
    return "small" if area < SMALL_AREA else "medium" if area < MEDIUM_AREA else "large"


# ---------------------------------------------------------------------------
# Planning: products (folders), their look and attributes, the split
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageSpec:
    """Everything needed to draw one image (plain data, cheap to send to a worker)."""

    index: int
    image_name: str
    category: str
    item: dict[str, Any]  # the product's look: shape parameters, texture, colours
    attributes: tuple[int, ...]  # indices into ATTRIBUTES that are positive
    split: str
    seed: int

    @property
    def category_label(self) -> int:
        """Return the 1-based row of the category in list_category_cloth."""
        return _CATEGORY_LABEL[self.category]

    @property
    def clothes_type(self) -> int:
        """Return 1 (upper), 2 (lower) or 3 (full body)."""
        return _CATEGORY_TYPE[self.category]


# Texture weights per category (texture names are drawn by _texture).
_TEXTURES: dict[str, dict[str, float]] = {
    "Tee": {"solid": 30, "graphic": 20, "hstripe": 15, "heathered": 10, "colorblock": 8, "dots": 7, "vstripe": 5,
            "floral": 5},
    "Tank": {"solid": 35, "hstripe": 15, "heathered": 15, "floral": 10, "colorblock": 10, "dots": 5, "chevron": 10},
    "Sweater": {"knit": 45, "heathered": 20, "hstripe": 15, "solid": 10, "plaid": 5, "colorblock": 5},
    "Hoodie": {"solid": 40, "heathered": 30, "colorblock": 15, "graphic": 15},
    "Top": {"floral": 25, "solid": 20, "dots": 10, "chevron": 10, "lace": 10, "hstripe": 10, "animal": 5,
            "colorblock": 10},
    "Blazer": {"solid": 55, "plaid": 20, "vstripe": 10, "heathered": 10, "leather": 5},
    "Jeans": {"denim": 85, "solid": 15},
    "Joggers": {"solid": 45, "heathered": 35, "colorblock": 10, "plaid": 10},
    "Shorts": {"solid": 30, "denim": 20, "floral": 15, "hstripe": 10, "plaid": 10, "dots": 8, "chevron": 7},
    "Cutoffs": {"denim": 90, "solid": 10},
    "Skirt": {"floral": 20, "solid": 20, "plaid": 15, "dots": 10, "leather": 10, "lace": 8, "chevron": 7,
              "animal": 10},
    "Dress": {"floral": 28, "solid": 20, "dots": 10, "hstripe": 8, "chevron": 8, "animal": 6, "colorblock": 8,
              "lace": 7, "plaid": 5},
    "Jumpsuit": {"solid": 45, "floral": 15, "denim": 15, "hstripe": 10, "dots": 5, "chevron": 10},
    "Romper": {"floral": 30, "solid": 25, "dots": 10, "hstripe": 10, "chevron": 10, "colorblock": 5, "plaid": 10},
    "Coat": {"solid": 50, "plaid": 20, "heathered": 15, "leather": 8, "animal": 7},
}
# Texture -> (texture attributes to pick one of, fabric attributes to pick one of)
_TEXTURE_ATTRS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "solid": ((), ("cotton", "satin", "chiffon", "woven")),
    "graphic": (("graphic",), ("cotton",)),
    "hstripe": (("stripe", "striped"), ("cotton", "knit")),
    "vstripe": (("stripe", "striped"), ("cotton", "woven")),
    "dots": (("dot", "polka dot"), ("chiffon", "cotton")),
    "plaid": (("plaid",), ("woven", "wool", "cotton")),
    "floral": (("floral", "floral print"), ("chiffon", "cotton", "satin")),
    "colorblock": (("color block",), ("cotton", "knit")),
    "chevron": (("abstract chevron print",), ("chiffon", "cotton")),
    "animal": (("animal print", "leopard"), ("chiffon", "satin")),
    "heathered": (("heathered",), ("knit", "cotton", "fleece")),
    "knit": ((), ("knit", "ribbed")),
    "denim": ((), ("denim",)),
    "leather": ((), ("faux leather",)),
    "lace": ((), ("lace",)),
}
_ADJECTIVES = (
    "Classic", "Everyday", "Relaxed", "Boxy", "Soft", "Lightweight", "Sweet", "Sporty", "Vintage", "Easy",
    "Cozy", "Crisp", "Breezy", "Essential", "Weekend", "City", "Sheer", "Pleated-Front", "Tiered", "Textured",
    "Drapey", "Cutout", "Side-Slit", "Paneled", "Ruffled", "Printed", "Woven", "Marled", "Mod", "Retro",
    "Sunny", "Island", "Garden", "Midnight", "Coastal", "Prairie", "Downtown", "Studio", "Cropped", "Longline",
)
_TEXTURE_WORDS = {
    "graphic": ("Graphic", "Logo"), "hstripe": ("Striped", "Nautical_Striped"), "vstripe": ("Pinstriped", "Striped"),
    "dots": ("Dotted", "Polka_Dot"), "plaid": ("Plaid", "Tartan"), "floral": ("Floral", "Floral_Print"),
    "colorblock": ("Colorblock", "Two-Tone"), "chevron": ("Chevron", "Zigzag"),
    "animal": ("Leopard_Print", "Animal_Print"), "heathered": ("Heathered", "Marled"), "knit": ("Knit", "Ribbed"),
    "denim": ("Denim", "Washed"), "leather": ("Faux_Leather", "Vegan_Leather"), "lace": ("Lace", "Crochet"),
}


def _pick(rng: np.random.Generator, weights: dict[str, float]) -> str:
    keys = list(weights)
    p = np.array([weights[k] for k in keys], dtype=float)
    return keys[int(rng.choice(len(keys), p=p / p.sum()))]


def _hsv(h: float, s: float, v: float) -> list[int]:
    return [int(round(c * 255)) for c in colorsys.hsv_to_rgb(h % 1.0, min(max(s, 0), 1), min(max(v, 0), 1))]


def _garment_colors(rng: np.random.Generator, texture: str) -> list[list[int]]:
    """Return three colours for a garment: main, accent, second accent (saturated, so garments stand out)."""
    if texture == "denim":
        base = [[38, 52, 92], [58, 84, 132], [112, 144, 186], [44, 44, 52]][int(rng.integers(4))]
        base = [int(np.clip(c + rng.integers(-8, 9), 0, 255)) for c in base]
        return [base, [min(255, c + 60) for c in base], [190, 140, 60]]  # thread colour for stitches
    if texture == "leather":
        base = [[30, 28, 30], [92, 56, 34], [96, 26, 36], [150, 100, 60]][int(rng.integers(4))]
        return [base, [min(255, c + 50) for c in base], [200, 200, 200]]
    if texture == "animal":
        return [_hsv(rng.uniform(0.07, 0.11), rng.uniform(0.45, 0.7), rng.uniform(0.7, 0.9)),
                [70, 44, 26], [22, 18, 16]]
    if texture == "lace":
        base = [[242, 238, 228], [25, 25, 28], [220, 70, 90], [235, 225, 200]][int(rng.integers(4))]
        return [base, [max(0, c - 70) for c in base] if sum(base) > 300 else [90, 90, 95], base]
    h = rng.uniform()
    if rng.uniform() < 0.15:  # neutrals: black, white, grey, navy, beige
        main = [[28, 28, 30], [236, 236, 232], [128, 128, 130], [30, 40, 82], [214, 196, 160]][int(rng.integers(5))]
    else:
        main = _hsv(h, rng.uniform(0.55, 0.95), rng.uniform(0.5, 0.95))
    accent = _hsv(h + rng.choice([0.5, 0.33, -0.33, 0.08]), rng.uniform(0.4, 0.95), rng.uniform(0.3, 1.0))
    second = _hsv(h + rng.uniform(0.15, 0.85), rng.uniform(0.3, 0.9), rng.uniform(0.6, 1.0))
    return [main, accent, second]


def _item_look(rng: np.random.Generator, cat: str) -> tuple[dict[str, Any], list[str]]:
    """Return one product's shape parameters and look, and its attribute names."""
    u = rng.uniform
    texture = _pick(rng, _TEXTURES[cat])
    tex_attrs, fabrics = _TEXTURE_ATTRS[texture]
    attrs: list[str] = []
    if tex_attrs:
        attrs.append(tex_attrs[int(rng.integers(len(tex_attrs)))])
    fabric = fabrics[int(rng.integers(len(fabrics)))]
    item: dict[str, Any] = {
        "texture": texture, "colors": _garment_colors(rng, texture), "period": u(0.02, 0.045),
        "fit": u(1.0, 1.12), "sleeve": "none", "neck": "crew", "hood": False, "pocket": False, "zip": False,
        "buttons": 0, "drawstring": False, "cuffs": False, "lapel": False, "belt": False, "fray": False,
        "pleats": False, "legs": "straight", "hem": 0.5, "flare": 0.0, "top": 0.39, "block": int(rng.integers(3)),
        "graphic": int(rng.integers(3)),
    }
    if cat == "Tee":
        item.update(sleeve="short", neck="crew" if u() < 0.7 else "v", hem=u(0.47, 0.52), fit=u(1.0, 1.15))
        attrs += ["short sleeve", "crew neck" if item["neck"] == "crew" else "v-neck"]
        attrs += ["casual"] if u() < 0.5 else []
    elif cat == "Tank":
        item.update(sleeve="none", neck="strap", hem=u(0.46, 0.52))
        attrs += ["sleeveless"] + (["athletic"] if u() < 0.3 else []) + (["summer"] if u() < 0.3 else [])
    elif cat == "Sweater":
        item.update(sleeve="long", cuffs=True, neck="crew" if u() < 0.7 else "v", hem=u(0.48, 0.54), fit=u(1.05, 1.2))
        attrs += ["long sleeve", "crew neck" if item["neck"] == "crew" else "v-neck"]
        attrs += ["classic"] if u() < 0.4 else []
    elif cat == "Hoodie":
        item.update(sleeve="long", cuffs=True, hood=True, pocket=u() < 0.8, drawstring=u() < 0.7, zip=u() < 0.3,
                    hem=u(0.49, 0.53), fit=u(1.08, 1.2))
        fabric = "fleece" if u() < 0.6 else fabric
        attrs += ["hooded", "long sleeve"] + [a for a in ("pocket", "drawstring", "zip") if item[a]]
        attrs += ["athletic" if u() < 0.5 else "casual"]
    elif cat == "Top":
        item.update(sleeve=_pick(rng, {"none": 35, "three_quarter": 35, "short": 30}),
                    neck=_pick(rng, {"scoop": 40, "v": 35, "crew": 25}), hem=u(0.55, 0.61), flare=u(0.1, 0.4))
        attrs += ["longline"] + {"none": ["sleeveless"], "short": ["short sleeve"]}.get(item["sleeve"], [])
        attrs += ["v-neck"] if item["neck"] == "v" else []
        attrs += ["boho"] if u() < 0.3 else []
    elif cat == "Blazer":
        item.update(sleeve="long", lapel=True, buttons=int(rng.integers(1, 3)), hem=u(0.5, 0.55), fit=u(1.05, 1.12))
        attrs += ["long sleeve", "collar", "button"] + (["classic"] if u() < 0.6 else []) + (["slim"] if u() < 0.3 else [])
    elif cat == "Jeans":
        item.update(legs=_pick(rng, {"skinny": 40, "straight": 45, "wide": 15}), hem=u(0.9, 0.94), pocket=True,
                    top=u(0.38, 0.41))
        attrs += ["pocket"] + {"skinny": ["skinny"], "wide": ["wide-leg"]}.get(item["legs"], ["slim"] if u() < 0.5 else [])
    elif cat == "Joggers":
        item.update(legs="tapered", cuffs=True, drawstring=u() < 0.8, hem=u(0.89, 0.93), top=u(0.38, 0.41))
        fabric = "fleece" if u() < 0.4 else fabric
        attrs += ["cuffed"] + (["drawstring"] if item["drawstring"] else []) + (["athletic"] if u() < 0.6 else [])
    elif cat == "Shorts":
        item.update(legs="wide", hem=u(0.58, 0.65), pocket=u() < 0.5, top=u(0.38, 0.41))
        attrs += (["pocket"] if item["pocket"] else []) + (["summer"] if u() < 0.5 else [])
    elif cat == "Cutoffs":
        item.update(legs="wide", hem=u(0.55, 0.59), fray=True, pocket=True, top=u(0.38, 0.41))
        attrs += ["distressed", "pocket", "summer"] if u() < 0.5 else ["distressed", "pocket"]
    elif cat == "Skirt":
        length = _pick(rng, {"mini": 45, "midi": 40, "maxi": 15})
        hem = {"mini": u(0.56, 0.62), "midi": u(0.68, 0.78), "maxi": u(0.86, 0.92)}[length]
        item.update(hem=hem, flare=u(0.05, 0.5), pleats=u() < 0.3, top=u(0.38, 0.41))
        attrs += [length, "a-line" if item["flare"] > 0.25 else "bodycon"] + (["pleated"] if item["pleats"] else [])
    elif cat in ("Dress", "Jumpsuit", "Romper"):
        sleeve = _pick(rng, {"none": 50, "short": 35, "three_quarter": 15} if cat == "Dress" else {"none": 60, "short": 40})
        neck = _pick(rng, {"scoop": 35, "v": 30, "crew": 20, "strap": 15})
        item.update(sleeve=sleeve, neck=neck, belt=u() < (0.25 if cat == "Dress" else 0.4))
        attrs += {"none": ["sleeveless"], "short": ["short sleeve"]}.get(sleeve, [])
        attrs += (["v-neck"] if neck == "v" else []) + (["belted"] if item["belt"] else [])
        if cat == "Dress":
            length = _pick(rng, {"mini": 45, "midi": 40, "maxi": 15})
            hem = {"mini": u(0.57, 0.64), "midi": u(0.68, 0.8), "maxi": u(0.86, 0.93)}[length]
            item.update(hem=hem, flare=u(0.15, 0.6), pleats=u() < 0.2)
            attrs += [length, "flare" if item["flare"] > 0.4 else "a-line"]
            attrs += ["party"] if u() < 0.25 else []
        elif cat == "Jumpsuit":
            item.update(legs="wide" if u() < 0.5 else "straight", hem=u(0.9, 0.94))
            attrs += ["wide-leg"] if item["legs"] == "wide" else []
        else:
            item.update(legs="wide", hem=u(0.57, 0.63))
            attrs += ["summer"] if u() < 0.5 else []
        attrs += ["boho"] if texture == "floral" and u() < 0.4 else []
    elif cat == "Coat":
        item.update(sleeve="long", lapel=True, buttons=int(rng.integers(2, 4)), belt=u() < 0.3,
                    hem=u(0.68, 0.84), fit=u(1.12, 1.25), flare=u(0.0, 0.15))
        fabric = "wool" if texture in ("solid", "heathered") and u() < 0.6 else fabric
        attrs += ["long sleeve", "collar", "button", "longline"] + (["belted"] if item["belt"] else [])
        attrs += ["classic"] if u() < 0.5 else []
    else:  # pragma: no cover - DRAWN_CATEGORIES and this function must agree
        raise KeyError(cat)
    if item["fit"] > 1.14 and cat not in ("Coat",):
        attrs.append("relaxed")
    elif item["fit"] < 1.03 and _CATEGORY_TYPE[cat] == 1:
        attrs.append("fit")
    attrs.append(fabric)
    attrs += ["vintage"] if u() < 0.06 else []
    return item, sorted(set(attrs), key=_ATTR_INDEX.__getitem__)


def _folder_name(rng: np.random.Generator, cat: str, texture: str, taken: set[str]) -> str:
    """Return a unique product folder name whose last word is the category, e.g. Striped_Cotton_Tee."""
    for attempt in range(50):
        words: list[str] = []
        if texture in _TEXTURE_WORDS and rng.uniform() < 0.6:
            options = _TEXTURE_WORDS[texture]
            words.append(options[int(rng.integers(len(options)))])
        for _ in range(int(rng.integers(1, 3)) + attempt // 10):
            words.insert(0, _ADJECTIVES[int(rng.integers(len(_ADJECTIVES)))])
        name = "_".join(dict.fromkeys(words + [cat]))  # no repeated word
        if name not in taken and len(name) <= 45:
            taken.add(name)
            return name
    name = f"{cat}_{len(taken)}"  # practically unreachable; still unique
    taken.add(name)
    return name


def plan_sample(n_images: int = SAMPLE_IMAGES, seed: int = SAMPLE_SEED) -> list[ImageSpec]:
    """Return the specification of every image (products, looks, attributes, split), in file order."""
    if n_images < 1:
        raise ValueError(f"n_images must be at least 1, got {n_images}")
    rng = np.random.default_rng([seed, 0x5A17])
    names = list(DRAWN_CATEGORIES)
    weights = np.array([DRAWN_CATEGORIES[n] for n in names], dtype=float)
    folders: list[tuple[str, str, dict[str, Any], list[str], int]] = []
    taken: set[str] = set()
    total = 0
    while total < n_images:
        cat = names[int(rng.choice(len(names), p=weights / weights.sum()))]
        item, attrs = _item_look(rng, cat)
        count = min(int(rng.integers(2, 9)), n_images - total)  # a few images per product
        folders.append((_folder_name(rng, cat, item["texture"], taken), cat, item, attrs, count))
        total += count
    # Split by product (no product in two splits), stratified by category: each category's folders in
    # random order, assigned by where the middle of the folder falls in the category's cumulative count.
    split_of: dict[int, str] = {}
    edges = np.cumsum(SPLIT_FRACTIONS)
    for cat in names:
        idx = [i for i, f in enumerate(folders) if f[1] == cat]
        idx = [idx[j] for j in rng.permutation(len(idx))]
        n_cat = sum(folders[i][4] for i in idx)
        seen = 0
        for i in idx:
            middle = (seen + folders[i][4] / 2) / n_cat
            split_of[i] = ("train", "val", "test")[int(np.searchsorted(edges, middle, side="right").clip(0, 2))]
            seen += folders[i][4]
    specs: list[ImageSpec] = []
    for i, (folder, cat, item, attrs, count) in enumerate(folders):
        attr_idx = tuple(_ATTR_INDEX[a] for a in attrs)
        for k in range(count):
            specs.append(ImageSpec(len(specs), f"img/{folder}/img_{k + 1:08d}.jpg", cat, item, attr_idx,
                                   split_of[i], seed))
    return specs


# ---------------------------------------------------------------------------
# Geometry: a figure in body units (height 1, v downwards, u to the image's right)
# ---------------------------------------------------------------------------

HEAD_C, HEAD_R = (0.0, 0.068), (0.045, 0.058)
NECK_TOP, NECK_V, NECK_W = 0.11, 0.14, 0.024
SH_V, ARMPIT_V, WAIST_V, HIP_V, CROTCH_V, KNEE_V, ANKLE_V, FOOT_V = (
    0.165, 0.245, 0.385, 0.475, 0.525, 0.715, 0.935, 0.975)
CHEST_W, WAIST_W, ARM_LEN = 0.095, 0.078, 0.33
SLEEVE_LEN = {"short": 0.3, "three_quarter": 0.7, "long": 1.0}

Point = tuple[float, float]


@dataclass
class Pose:
    """One image's pose: arm angle, leg spread, body widths, whole-figure tilt."""

    arm: float  # radians from vertical, outwards
    spread: float  # extra half-distance between the ankles
    sw: float  # shoulder half-width
    hw: float  # hip half-width
    tilt: float  # radians, whole figure


@dataclass
class Shape:
    """A garment (or body) drawing in body units."""

    add: list[list[Point]] = field(default_factory=list)  # polygons that make the mask
    cut: list[list[Point]] = field(default_factory=list)  # polygons removed from the mask (face opening)
    details: list[tuple] = field(default_factory=list)  # ("line"|"poly"|"dot", points, colour key, width)
    landmarks: list[Point] = field(default_factory=list)


def _arm(pose: Pose, s: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the shoulder joint, the arm direction and the outward normal for side s (-1 left, +1 right)."""
    joint = np.array([s * (pose.sw - 0.02), SH_V + 0.012])
    d = np.array([s * math.sin(pose.arm), math.cos(pose.arm)])
    n = np.array([s * math.cos(pose.arm), -math.sin(pose.arm)])
    return joint, d, n


def _leg_x(pose: Pose, v: float) -> float:
    """Return the right leg's centre line at height v."""
    return 0.048 + pose.spread * max(0.0, v - CROTCH_V) / (ANKLE_V - CROTCH_V)


def _mirror(points: list[Point]) -> list[Point]:
    return [(-u, v) for u, v in points]


def _symmetric(right: list[Point], center_top: Point | None = None, center_bottom: Point | None = None) -> list[Point]:
    """Return a polygon from its right half (top to bottom) mirrored onto the left."""
    poly = ([center_top] if center_top else []) + right + ([center_bottom] if center_bottom else [])
    return poly + _mirror(right)[::-1]


def _torso(item: dict[str, Any], pose: Pose, hem: float, hem_w: float) -> tuple[list[Point], Point]:
    """Return the upper-body polygon of a top or bodice, and its right collar point."""
    fit = item["fit"]
    cw, ww, hipw = CHEST_W * fit + 0.01, WAIST_W * fit + 0.01, pose.hw * fit + 0.01
    neck = item["neck"]
    nw, dip = {"crew": (0.036, NECK_V + 0.03), "v": (0.036, 0.25), "scoop": (0.05, 0.215),
               "strap": (0.045, 0.215)}[neck]
    sleeveless = item["sleeve"] == "none"
    right: list[Point] = [(nw, NECK_V + (0.01 if neck in ("scoop", "strap") else 0))]
    if sleeveless:
        strap = 0.03 if neck == "strap" else 0.05
        right += [(nw + strap, SH_V - 0.005), (cw, ARMPIT_V + 0.02)]
    else:
        right += [(pose.sw + 0.008, SH_V), (cw, ARMPIT_V)]
    if hem > WAIST_V + 0.02:
        right.append((ww, WAIST_V))
    if hem > HIP_V + 0.02:
        right.append((hipw, HIP_V))
    right.append((max(hem_w, cw * 0.9), hem))
    return _symmetric(right, (0.0, dip), None), right[0]


def _sleeves(item: dict[str, Any], pose: Pose, shape: Shape) -> None:
    """Add both sleeves (or armholes) and the sleeve landmarks."""
    kind = item["sleeve"]
    for s in (-1, 1):
        joint, d, n = _arm(pose, s)
        if kind == "none":
            shape.landmarks.append((s * (CHEST_W * item["fit"] + 0.01), ARMPIT_V + 0.015))
            continue
        length = SLEEVE_LEN[kind]
        w_end = {"short": 0.045, "three_quarter": 0.036, "long": 0.031}[kind] + 0.006 * (item["fit"] - 1) * 10
        end = joint + d * length * ARM_LEN
        shoulder = (s * (pose.sw + 0.008), SH_V)
        armpit = (s * (CHEST_W * item["fit"] + 0.008), ARMPIT_V)
        poly = [shoulder, tuple(end + n * w_end), tuple(end - n * w_end), armpit]
        shape.add.append(poly)
        shape.landmarks.append((float(end[0]), float(end[1])))
        if item["cuffs"] and kind == "long":
            a, b = end - d * 0.03, end
            shape.details.append(("poly", [tuple(a + n * w_end), tuple(b + n * w_end), tuple(b - n * w_end),
                                           tuple(a - n * w_end)], "shade", 0))


def _pants(item: dict[str, Any], pose: Pose, top: float, hem: float, shape: Shape) -> None:
    """Add a two-legged lower garment from height ``top`` to ``hem`` with waist and hem landmarks."""
    ww = WAIST_W * 1.02 + 0.012
    hipw = pose.hw * 1.04 + 0.012
    legs = item["legs"]
    open_w = {"skinny": 0.03, "straight": 0.04, "tapered": 0.031, "wide": 0.055}[legs]
    if hem < KNEE_V:
        open_w = max(open_w, 0.05 + 0.01 * (item["fit"] - 1) * 10)
    cx = _leg_x(pose, hem)
    knee_cx = _leg_x(pose, KNEE_V)
    knee_w = {"skinny": 0.033, "straight": 0.042, "tapered": 0.042, "wide": 0.052}[legs]
    right: list[Point] = [(ww, top), (hipw, HIP_V)]
    inner: list[Point] = []
    if hem > KNEE_V + 0.05:
        right.append((knee_cx + knee_w, KNEE_V))
        inner = [(max(knee_cx - knee_w, 0.008), KNEE_V)]
    if item["fray"]:  # jagged hem of cut-off shorts
        xs = np.linspace(cx + open_w, max(cx - open_w, 0.006), 7)
        right += [(float(x), hem + (0.012 if j % 2 else 0.0)) for j, x in enumerate(xs)]
    else:
        right += [(cx + open_w, hem), (max(cx - open_w, 0.006), hem)]
    right += inner[::-1]
    right.append((0.0, CROTCH_V + 0.006))
    poly = right[:-1] + [right[-1]] + _mirror(right[:-1])[::-1]
    shape.add.append(poly)
    shape.landmarks += [(ww * 0.9, top + 0.012), (-ww * 0.9, top + 0.012), (cx, hem - 0.01), (-cx, hem - 0.01)]


def _skirt(item: dict[str, Any], pose: Pose, top: float, hem: float, shape: Shape) -> list[Point]:
    """Add a skirt polygon from ``top`` to ``hem``; return its right hem corner."""
    hipw = pose.hw * 1.05 + 0.012
    ww = WAIST_W * item["fit"] + 0.012
    hem_w = hipw + item["flare"] * max(hem - HIP_V, 0.05) + 0.01
    spread_w = max(hem_w, _leg_x(pose, hem) + 0.045) if hem > KNEE_V else hem_w  # cover the legs
    right: list[Point] = [(ww, top)]
    if top < HIP_V - 0.02:
        right.append((hipw, HIP_V))
    right.append((spread_w, hem))
    shape.add.append(_symmetric(right))
    if item["pleats"]:
        for k in range(1, 6):
            f = k / 6 * 2 - 1
            shape.details.append(("line", [(f * ww, top + 0.02), (f * spread_w, hem)], "shade", 1))
    return [(spread_w * 0.85, hem - 0.01)]


def garment_shape(category: str, item: dict[str, Any], pose: Pose) -> Shape:
    """Return the garment's polygons, details and landmarks (in body units) for one pose."""
    shape = Shape()
    ctype = _CATEGORY_TYPE[category]
    fit = item["fit"]
    if ctype in (1, 3):
        if ctype == 1:
            hem, top_hem_w = item["hem"], pose.hw * fit + 0.01 + item["flare"] * 0.1
        elif category == "Coat":
            hem, top_hem_w = item["hem"], pose.hw * fit + 0.02 + item["flare"] * 0.2
        else:
            hem, top_hem_w = WAIST_V + 0.015, WAIST_W * fit + 0.012
        torso, collar = _torso(item, pose, hem, top_hem_w)
        if category == "Coat" and hem > KNEE_V:  # a long coat must cover both legs
            torso = [(np.sign(u) * max(abs(u), _leg_x(pose, hem) + 0.05) if v >= hem - 1e-9 else u, v)
                     for u, v in torso]
        shape.add.append(torso)
        shape.landmarks += [collar, (-collar[0], collar[1])]
        _sleeves(item, pose, shape)
        if item["hood"]:
            cx, cy = HEAD_C
            ring = [(cx + 0.078 * math.cos(t), cy + 0.012 + 0.09 * math.sin(t))
                    for t in np.linspace(math.pi * 0.85, math.pi * 2.15, 14)]
            shape.add.append(ring + [(0.06, NECK_V + 0.02), (-0.06, NECK_V + 0.02)])
            shape.cut.append([(HEAD_C[0] + HEAD_R[0] * 1.05 * math.cos(t), HEAD_C[1] + 0.008 + HEAD_R[1] * math.sin(t))
                              for t in np.linspace(0, 2 * math.pi, 16, endpoint=False)])
        if ctype == 1:
            shape.landmarks += [(top_hem_w * 0.9, hem - 0.012), (-top_hem_w * 0.9, hem - 0.012)]
        _upper_details(category, item, pose, hem, top_hem_w, shape)
    if ctype == 3 and category != "Coat":
        waist = WAIST_W * fit + 0.012
        shape.landmarks += [(waist, WAIST_V + 0.01), (-waist, WAIST_V + 0.01)]
        if category == "Dress":
            hem_pts = _skirt(item, pose, WAIST_V, item["hem"], shape)
            shape.landmarks += [hem_pts[0], (-hem_pts[0][0], hem_pts[0][1])]
        else:
            lower = Shape()
            _pants(item, pose, WAIST_V, item["hem"], lower)
            shape.add += lower.add
            shape.landmarks += lower.landmarks[2:]
        if item["belt"]:
            shape.details.append(("poly", [(-waist, WAIST_V - 0.008), (waist, WAIST_V - 0.008),
                                           (waist, WAIST_V + 0.014), (-waist, WAIST_V + 0.014)], "accent", 0))
    elif category == "Coat":
        waist = WAIST_W * fit + 0.012
        shape.landmarks = shape.landmarks[:4] + [(waist, WAIST_V), (-waist, WAIST_V)] + shape.landmarks[4:]
        hem_w = max(pose.hw * fit + 0.02, _leg_x(pose, item["hem"]) + 0.05)
        shape.landmarks += [(hem_w * 0.9, item["hem"] - 0.012), (-hem_w * 0.9, item["hem"] - 0.012)]
        if item["belt"]:
            shape.details.append(("poly", [(-waist - 0.01, WAIST_V - 0.01), (waist + 0.01, WAIST_V - 0.01),
                                           (waist + 0.01, WAIST_V + 0.012), (-waist - 0.01, WAIST_V + 0.012)],
                                  "outline", 0))
    if ctype == 2:
        top = item["top"]
        if category == "Skirt":
            ww = WAIST_W * fit + 0.012
            hem_pts = _skirt(item, pose, top, item["hem"], shape)
            shape.landmarks += [(ww * 0.9, top + 0.012), (-ww * 0.9, top + 0.012), hem_pts[0],
                                (-hem_pts[0][0], hem_pts[0][1])]
        else:
            _pants(item, pose, top, item["hem"], shape)
        _lower_details(category, item, pose, top, shape)
    return shape


def _upper_details(category: str, item: dict[str, Any], pose: Pose, hem: float, hem_w: float, shape: Shape) -> None:
    """Add seams, bands, pockets, lapels, buttons and prints to a top."""
    d = shape.details
    if category in ("Sweater", "Hoodie"):
        d.append(("poly", [(-hem_w, hem - 0.03), (hem_w, hem - 0.03), (hem_w, hem), (-hem_w, hem)], "shade", 0))
    if item["pocket"]:
        d.append(("line", [(-0.06, 0.46), (-0.045, 0.39), (0.045, 0.39), (0.06, 0.46)], "outline", 1))
    if item["zip"]:
        d.append(("line", [(0.0, NECK_V + 0.03), (0.0, hem)], "outline", 1))
    if item["drawstring"] and item["hood"]:
        d += [("line", [(s * 0.025, NECK_V + 0.025), (s * 0.03, 0.25)], "light", 1) for s in (-1, 1)]
    if item["lapel"]:
        # Open front: a light shirt in the V, lapels folded over it.
        d.append(("poly", [(-0.035, NECK_V), (0.035, NECK_V), (0.0, 0.3)], "light", 0))
        d += [("line", [(s * 0.036, NECK_V), (s * 0.075, 0.2), (s * 0.05, 0.22), (0.0, 0.31)], "outline", 1)
              for s in (-1, 1)]
        d.append(("line", [(0.0, 0.31), (0.0, hem)], "outline", 1))
        for k in range(item["buttons"]):
            v = 0.34 + k * 0.06
            d.append(("dot", [(0.02, v)], "outline", 0.009))
            if category == "Coat":
                d.append(("dot", [(-0.045, v)], "outline", 0.009))
    if item["texture"] == "graphic":
        kind = item["graphic"]
        if kind == 0:
            d.append(("poly", [(-0.05, 0.2), (0.05, 0.2), (0.05, 0.3), (-0.05, 0.3)], "accent", 0))
            d.append(("poly", [(-0.03, 0.22), (0.03, 0.22), (0.0, 0.28)], "second", 0))
        elif kind == 1:
            d.append(("dot", [(0.0, 0.26)], "accent", 0.05))
            d.append(("dot", [(0.0, 0.26)], "second", 0.025))
        else:
            star = [(0.055 * (1 if k % 2 == 0 else 0.45) * math.sin(k * math.pi / 5),
                     0.26 - 0.055 * (1 if k % 2 == 0 else 0.45) * math.cos(k * math.pi / 5)) for k in range(10)]
            d.append(("poly", star, "accent", 0))


def _lower_details(category: str, item: dict[str, Any], pose: Pose, top: float, shape: Shape) -> None:
    """Add waistband, fly, pockets, drawstring and cuffs to a lower garment."""
    d = shape.details
    ww = WAIST_W * 1.02 + 0.012 if category != "Skirt" else WAIST_W * item["fit"] + 0.012
    d.append(("line", [(-ww, top + 0.022), (ww, top + 0.022)], "outline" if category != "Joggers" else "shade", 1))
    if category in ("Jeans", "Cutoffs", "Shorts", "Jumpsuit"):
        d.append(("line", [(0.004, top + 0.022), (0.004, CROTCH_V - 0.01)], "second" if item["texture"] == "denim"
                  else "outline", 1))
    if item["pocket"]:
        d += [("line", [(s * (ww - 0.035), top + 0.022), (s * (ww - 0.005), top + 0.07)],
               "second" if item["texture"] == "denim" else "outline", 1) for s in (-1, 1)]
    if item["drawstring"]:
        d += [("line", [(s * 0.008, top + 0.02), (s * 0.015, top + 0.08)], "light", 1) for s in (-1, 1)]
    if item["cuffs"] and category == "Joggers":
        for s in (-1, 1):
            cx = _leg_x(pose, item["hem"])
            d.append(("poly", [(s * (cx - 0.033), item["hem"] - 0.03), (s * (cx + 0.033), item["hem"] - 0.03),
                               (s * (cx + 0.033), item["hem"]), (s * (cx - 0.033), item["hem"])], "shade", 0))


def body_shape(pose: Pose) -> tuple[list[list[Point]], list[list[Point]], list[list[Point]]]:
    """Return the mannequin's skin polygons, its hair polygon and its shoes (body units)."""
    skin: list[list[Point]] = []
    for s in (-1, 1):  # legs
        top_o, knee, ankle = pose.hw, _leg_x(pose, KNEE_V), _leg_x(pose, ANKLE_V)
        skin.append([(s * top_o, HIP_V - 0.01), (s * (knee + 0.034), KNEE_V), (s * (ankle + 0.022), ANKLE_V),
                     (s * (ankle - 0.022), ANKLE_V), (s * max(knee - 0.034, 0.004), KNEE_V), (s * 0.004, CROTCH_V)])
    for s in (-1, 1):  # arms and hands
        joint, d, n = _arm(pose, s)
        wrist = joint + d * ARM_LEN
        skin.append([tuple(joint + n * 0.032), tuple(wrist + n * 0.021), tuple(wrist - n * 0.021),
                     tuple(joint - n * 0.03)])
        hand = wrist + d * 0.03
        skin.append([tuple(hand + 0.024 * np.array([math.cos(t), math.sin(t) * 1.3])) for t in np.linspace(0, 6.28, 10)])
    skin.append(_symmetric([(NECK_W, NECK_TOP), (NECK_W, NECK_V), (pose.sw, SH_V + 0.006), (CHEST_W, ARMPIT_V),
                            (WAIST_W, WAIST_V), (pose.hw, HIP_V), (pose.hw * 0.7, CROTCH_V)]))
    head = [(HEAD_C[0] + HEAD_R[0] * math.cos(t), HEAD_C[1] + HEAD_R[1] * math.sin(t))
            for t in np.linspace(0, 2 * math.pi, 20, endpoint=False)]
    skin.append(head)
    hair = [[(HEAD_C[0] + HEAD_R[0] * 1.08 * math.cos(t), HEAD_C[1] - 0.006 + HEAD_R[1] * 1.05 * math.sin(t))
             for t in np.linspace(math.pi * 0.95, math.pi * 2.05, 12)]]
    shoes = []
    for s in (-1, 1):
        ax = _leg_x(pose, ANKLE_V)
        shoes.append([(s * ax + s * 0.012 + 0.036 * math.cos(t), FOOT_V - 0.018 + 0.02 * math.sin(t))
                      for t in np.linspace(0, 2 * math.pi, 12, endpoint=False)])
    return skin, hair, shoes


# ---------------------------------------------------------------------------
# Textures (NumPy, over the garment's box only)
# ---------------------------------------------------------------------------


def _cells(rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray, p: float, k: int) -> tuple:
    """Return per-pixel cell-local offsets (dy, dx) from a jittered cell centre and k random values per pixel."""
    iy, ix = np.floor(yy / p).astype(np.int32), np.floor(xx / p).astype(np.int32)
    table = rng.uniform(size=(int(iy.max()) + 2, int(ix.max()) + 2, k + 2)).astype(np.float32)
    vals = table[iy, ix]
    dy = (yy - iy * p) - p * (0.3 + 0.4 * vals[..., 0])
    dx = (xx - ix * p) - p * (0.3 + 0.4 * vals[..., 1])
    return dy, dx, vals[..., 2:]


def _texture(rng: np.random.Generator, item: dict[str, Any], h: int, w: int, unit: float) -> np.ndarray:
    """Return an (h, w, 3) float32 pattern for the garment's texture at ``unit`` pixels per body height."""
    c1, c2, c3 = (np.array(c, dtype=np.float32) for c in item["colors"])
    kind = item["texture"]
    p = max(2.5, item["period"] * unit)  # pattern period in pixels, tied to the garment's size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    yy = yy[:, :1] if kind in ("hstripe",) else yy
    out = np.empty((h, w, 3), dtype=np.float32)
    out[:] = c1

    def put(mask: np.ndarray, color: np.ndarray, alpha: float = 1.0) -> None:
        mask = np.broadcast_to(mask, (h, w))
        if alpha >= 1:
            out[mask] = color
        else:
            out[mask] = out[mask] * (1 - alpha) + color * alpha

    if kind == "hstripe":
        put((yy / p) % 1.0 < 0.45, c2)
    elif kind == "vstripe":
        put((xx / p) % 1.0 < (0.45 if item["period"] > 0.03 else 0.15), c2)
    elif kind == "dots":
        q = p * 1.6
        row = np.floor(yy / q)
        dx = ((xx + (row % 2) * q / 2) % q) - q / 2
        dy = (yy % q) - q / 2
        put(dx * dx + dy * dy < (q * 0.25) ** 2, c2)
    elif kind == "plaid":
        q = p * 3
        put((yy % q) < q * 0.35, c2, 0.55)
        put((xx % q) < q * 0.35, c2, 0.55)
        put(np.abs((yy % q) - q * 0.68) < max(0.6, q * 0.04), c3, 0.8)
        put(np.abs((xx % q) - q * 0.68) < max(0.6, q * 0.04), c3, 0.8)
    elif kind == "floral":
        q = p * 2.6
        dy, dx, vals = _cells(rng, yy, xx, q, 3)
        r = np.sqrt(dx * dx + dy * dy)
        ang = np.arctan2(dy, dx) + vals[..., 0] * 6.28
        size = q * (0.25 + 0.2 * vals[..., 1])
        petals = (r < size * (0.55 + 0.45 * np.abs(np.cos(2.5 * ang)))) & (vals[..., 2] < 0.85)
        two = vals[..., 2] < 0.4
        put(petals & two, c2)
        put(petals & ~two, c3)
        put((r < size * 0.25) & (vals[..., 2] < 0.85), np.array([235, 200, 60], np.float32))
    elif kind == "colorblock":
        fy, fx = yy / max(h - 1, 1), xx / max(w - 1, 1)
        if item["block"] == 0:
            put(fy > 0.5, c2)
        elif item["block"] == 1:
            put(fy + 0.6 * fx > 0.8, c2)
        else:
            put(np.abs(fx - 0.5) > 0.3, c2)
            put(fy < 0.25, c3)
    elif kind == "chevron":
        zig = np.abs(((xx / p) % 2.0) - 1.0) * p
        band = np.floor((yy + zig) / p).astype(np.int32) % 3
        put(band == 1, c2)
        put(band == 2, c3)
    elif kind == "animal":
        q = p * 2.2
        dy, dx, vals = _cells(rng, yy, xx, q, 2)
        r = np.sqrt(dx * dx + (dy * 1.3) ** 2) * (1 + 0.25 * np.sin(3 * np.arctan2(dy, dx) + 6.28 * vals[..., 0]))
        size = q * (0.2 + 0.12 * vals[..., 1])
        put(r < size * 1.45, c3)
        put(r < size, c2)
    elif kind == "heathered":
        streak = rng.standard_normal((h, 1), dtype=np.float32) * 0.4
        out *= 1 + 0.08 * (rng.standard_normal((h, w, 1), dtype=np.float32) * 0.7 + streak[..., None])
    elif kind == "knit":
        q = max(2.0, p * 0.5)
        out *= (1 + 0.13 * np.cos(2 * np.pi * xx / q))[..., None]
        out *= 1 + 0.04 * rng.standard_normal((h, w, 1), dtype=np.float32)
    elif kind == "denim":
        twill = 0.05 * np.sin(2 * np.pi * (xx + yy) / 3.0)
        cols = rng.standard_normal((1, w), dtype=np.float32) * 0.04
        out *= (1 + twill + cols)[..., None] + 0.07 * rng.standard_normal((h, w, 1), dtype=np.float32)
    elif kind == "leather":
        sx, sy = rng.uniform(0.2, 0.8), rng.uniform(0.1, 0.5)
        spec = np.exp(-(((xx / max(w, 1) - sx) ** 2) / 0.03 + ((yy / max(h, 1) - sy) ** 2) / 0.08))
        out += (spec * 70)[..., None]
    elif kind == "lace":
        q = p * 1.3
        dy, dx, _ = _cells(rng, yy, xx, q, 1)
        r = np.sqrt(dx * dx + dy * dy)
        put((r < q * 0.18) | (np.abs(r - q * 0.32) < max(0.5, q * 0.05)), c2)
    return out


# ---------------------------------------------------------------------------
# Backgrounds (lower contrast and saturation than the garments)
# ---------------------------------------------------------------------------


def _muted(rng: np.random.Generator, s_max: float = 0.28, v: tuple[float, float] = (0.5, 0.95)) -> np.ndarray:
    return np.array(_hsv(rng.uniform(), rng.uniform(0, s_max), rng.uniform(*v)), dtype=np.float32)


def _background(rng: np.random.Generator, full_w: int, full_h: int, flat: bool) -> Image.Image:
    """Return a background image: studio, gradient, room, floor, clutter or blurred noise.

    It is drawn at half resolution and scaled up: softer than the garments, and four times cheaper.
    """
    w, h = (full_w + 1) // 2, (full_h + 1) // 2
    kinds = {"studio": 30, "gradient": 15, "room": 25, "clutter": 20, "noise": 10}
    if flat:
        kinds = {"studio": 35, "gradient": 20, "floor": 30, "clutter": 15}
    kind = _pick(rng, kinds)
    yy = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    xx = np.linspace(0, 1, w, dtype=np.float32)[None, :, None]
    a, b = _muted(rng), _muted(rng)
    if kind == "studio":
        base = np.empty((h, w, 3), np.float32)
        base[:] = a + (b - a) * 0.35 * yy
        r2 = (xx - 0.5) ** 2 + (yy - 0.45) ** 2
        base *= 1 - rng.uniform(0, 0.25) * r2
    elif kind == "gradient":
        t = rng.uniform(0, 2 * np.pi)
        proj = np.cos(t) * xx + np.sin(t) * yy
        proj = (proj - proj.min()) / max(float(np.ptp(proj)), 1e-6)
        base = a + (b - a) * proj
    elif kind == "noise":
        grid = rng.uniform(0, 1, size=(int(rng.integers(3, 8)), int(rng.integers(3, 8)), 3)) * 255
        small = Image.fromarray(grid.astype(np.uint8))
        base = np.asarray(small.resize((w, h), Image.Resampling.BICUBIC), dtype=np.float32)
        gray = base.mean(axis=2, keepdims=True)
        base = gray + (base - gray) * 0.35  # desaturate
        base = base * 0.6 + a * 0.4
    else:
        base = np.empty((h, w, 3), np.float32)
        base[:] = a
        if kind in ("room", "floor"):
            horizon = rng.uniform(0.55, 0.85) if kind == "room" else -1.0
            floor = _muted(rng, 0.4, (0.3, 0.75))
            planks = rng.uniform(0.88, 1.1, size=(h, 1, 1)).astype(np.float32)
            plank_h = max(2, int(rng.integers(3, 10)))
            planks = np.repeat(planks[::plank_h], plank_h, axis=0)[:h]
            below = (yy >= horizon)
            base = np.where(below, floor * planks, base * (1 + 0.04 * np.sin(xx * rng.uniform(20, 80))))
    img = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img, "RGBA")
    n_shapes = {"room": int(rng.integers(1, 5)), "clutter": int(rng.integers(8, 40)), "floor": int(rng.integers(0, 3))}
    for _ in range(n_shapes.get(kind, int(rng.integers(0, 3)))):
        c = tuple(int(x) for x in _muted(rng, 0.35, (0.3, 0.95))) + (int(rng.integers(60, 200)),)
        x0, y0 = rng.uniform(-0.1, 1.0) * w, rng.uniform(-0.1, 1.0) * h
        sw, sh = rng.uniform(0.05, 0.45) * w, rng.uniform(0.05, 0.45) * h
        shape = int(rng.integers(4))
        if shape == 0:
            draw.rectangle([x0, y0, x0 + sw, y0 + sh], fill=c)
        elif shape == 1:
            draw.ellipse([x0, y0, x0 + sw, y0 + sh], fill=c)
        elif shape == 2:
            draw.line([x0, y0, x0 + sw * rng.choice([-1, 1]), y0 + sh], fill=c, width=int(rng.integers(1, 3)))
        else:
            pts = [(x0 + rng.uniform(0, sw), y0 + rng.uniform(0, sh)) for _ in range(3)]
            draw.polygon(pts, fill=c)
    if kind == "room" and rng.uniform() < 0.5:  # a window or picture frame
        x0, y0 = rng.uniform(0, 0.7) * w, rng.uniform(0, 0.3) * h
        fw, fh = rng.uniform(0.15, 0.35) * w, rng.uniform(0.15, 0.3) * h
        frame = tuple(int(x) for x in _muted(rng, 0.2, (0.4, 0.7)))
        draw.rectangle([x0, y0, x0 + fw, y0 + fh], fill=tuple(int(x) for x in _muted(rng, 0.15, (0.8, 1.0))),
                       outline=frame, width=1)
        draw.line([x0 + fw / 2, y0, x0 + fw / 2, y0 + fh], fill=frame, width=1)
    if rng.uniform() < 0.1:  # a hard negative: a saturated, outlined handbag
        bw = rng.uniform(0.08, 0.2) * w
        x0, y0 = rng.uniform(0, 1) * (w - bw), rng.uniform(0.3, 0.95) * (h - bw)
        col = tuple(_hsv(rng.uniform(), rng.uniform(0.5, 0.9), rng.uniform(0.4, 0.8)))
        dark = tuple(int(c * 0.35) for c in col)
        draw.arc([x0 + bw * 0.2, y0 - bw * 0.35, x0 + bw * 0.8, y0 + bw * 0.35], 180, 360, fill=dark, width=1)
        draw.rounded_rectangle([x0, y0, x0 + bw, y0 + bw * 0.75], radius=bw * 0.12, fill=col, outline=dark, width=1)
    out = np.asarray(img, dtype=np.float32)
    mean = out.mean(axis=(0, 1), keepdims=True)
    out = mean + (out - mean) * rng.uniform(0.55, 0.95)  # lower contrast than the garment
    img = Image.fromarray(np.clip(out, 0, 255).astype(np.uint8)).resize((full_w, full_h), Image.Resampling.BILINEAR)
    if rng.uniform() < 0.3:  # out of focus
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 1.5)))
    return img


# ---------------------------------------------------------------------------
# Rendering one image
# ---------------------------------------------------------------------------

SKIN = ((241, 194, 167), (224, 172, 138), (198, 134, 103), (161, 102, 74), (112, 72, 52), (236, 204, 180),
        (214, 214, 210), (190, 188, 184))  # the last two: a grey mannequin
HAIR = ((35, 25, 20), (70, 45, 25), (120, 85, 45), (200, 165, 100), (20, 20, 20))


@dataclass
class RenderedImage:
    """One drawn image with its annotations."""

    image: Image.Image
    mask: np.ndarray  # bool (H, W): visible garment pixels
    bbox: tuple[int, int, int, int]  # x_1, y_1, x_2, y_2 (x_2 exclusive)
    landmarks: list[tuple[int, int, int]]  # (visibility, x, y)
    flat: bool  # laid flat (no mannequin)

    @property
    def size_class(self) -> str:
        """Return the COCO size class of the box."""
        x1, y1, x2, y2 = self.bbox
        return size_class((x2 - x1) * (y2 - y1))


def _image_size(rng: np.random.Generator) -> tuple[int, int]:
    """Return (width, height): long side 300 (a few 301), short side varies, mostly portrait."""
    long = 301 if rng.uniform() < 0.03 else 300
    r = rng.uniform()
    if r < 0.72:
        return int(rng.integers(180, 301)), long
    if r < 0.9:
        return long, int(rng.integers(200, 300))
    return long, long


def _target_area(rng: np.random.Generator, w: int, h: int) -> float:
    """Return a garment box area drawn from the small / medium / large mix."""
    # Each class's range ends where the next begins, so box sides form one continuous distribution
    # (no empty bands at the COCO thresholds of 32 and 96 px).
    r = rng.uniform()
    if r < SIZE_MIX[0]:
        return float(np.exp(rng.uniform(np.log(300), np.log(SMALL_AREA))))
    if r < SIZE_MIX[0] + SIZE_MIX[1]:
        return float(np.exp(rng.uniform(np.log(SMALL_AREA), np.log(MEDIUM_AREA))))
    return max(float(MEDIUM_AREA), rng.uniform(0.18, 0.75) * w * h)


def _erode(mask: np.ndarray, steps: int) -> np.ndarray:
    """Return ``mask`` eroded by ``steps`` pixels (8-neighbourhood); pixels beyond the border count as outside."""
    out = np.pad(mask, steps)
    for _ in range(steps):
        out = (out[1:-1, 1:-1] & out[:-2, 1:-1] & out[2:, 1:-1] & out[1:-1, :-2] & out[1:-1, 2:]
               & out[:-2, :-2] & out[:-2, 2:] & out[2:, :-2] & out[2:, 2:])
        out = np.pad(out, 1)
    return out[steps:-steps, steps:-steps] if steps else out


def render_image(spec: ImageSpec) -> RenderedImage:
    """Return one drawn image, its garment mask, tight box and landmarks (deterministic in (seed, index))."""
    rng = np.random.default_rng([spec.seed, spec.index, 0xFA5])
    item = spec.item
    w, h = _image_size(rng)
    flat = rng.uniform() < 0.25
    pose = Pose(arm=rng.uniform(0.55, 0.9) if flat else rng.uniform(0.08, 0.45),
                spread=rng.uniform(0.02, 0.06) if flat else rng.uniform(0.0, 0.05),
                sw=rng.uniform(0.105, 0.125), hw=rng.uniform(0.088, 0.104), tilt=rng.uniform(-0.08, 0.08))
    shape = garment_shape(spec.category, item, pose)

    # Scale and place: the garment's box gets the target area and lies inside the image (or, rarely, is cut).
    pts = np.concatenate([np.asarray(p, dtype=np.float64) for p in shape.add])
    center = (pts.min(0) + pts.max(0)) / 2
    rot = np.array([[math.cos(pose.tilt), -math.sin(pose.tilt)], [math.sin(pose.tilt), math.cos(pose.tilt)]])
    rp = (pts - center) @ rot.T
    lo, hi = rp.min(0), rp.max(0)
    ext = hi - lo
    margin = 2.0
    scale = math.sqrt(_target_area(rng, w, h) / (ext[0] * ext[1]))
    scale = min(scale, (w - 2 * margin) / ext[0], (h - 2 * margin) / ext[1])
    cut = scale * ext[1] > 0.6 * h and rng.uniform() < 0.06  # let a big garment run off one edge
    box_lo, box_hi = lo * scale, hi * scale
    free_lo = margin - box_lo
    free_hi = np.array([w, h]) - margin - box_hi
    if cut:
        free_hi[1] += 0.15 * scale * ext[1]
    pos = free_lo + rng.uniform(size=2) * np.maximum(free_hi - free_lo, 0)

    def to_px(points: list[Point] | np.ndarray) -> list[tuple[float, float]]:
        arr = (np.asarray(points, dtype=np.float64) - center) @ rot.T * scale + pos
        return [(float(x), float(y)) for x, y in arr]

    canvas = _background(rng, w, h, flat)
    draw = ImageDraw.Draw(canvas)
    if not flat:
        skin_c = SKIN[int(rng.integers(len(SKIN)))]
        edge = tuple(int(c * 0.82) for c in skin_c)
        skin, hair, shoes = body_shape(pose)
        for poly in shoes:
            draw.polygon(to_px(poly), fill=tuple(int(x) for x in _muted(rng, 0.3, (0.1, 0.5))))
        for poly in skin:
            draw.polygon(to_px(poly), fill=skin_c, outline=edge)
        if skin_c not in SKIN[-2:]:
            draw.polygon(to_px(hair[0]), fill=HAIR[int(rng.integers(len(HAIR)))])

    # Garment mask: union of its polygons minus cut-outs.
    mask_img = Image.new("L", (w, h), 0)
    mdraw = ImageDraw.Draw(mask_img)
    for poly in shape.add:
        mdraw.polygon(to_px(poly), fill=255)
    for poly in shape.cut:
        mdraw.polygon(to_px(poly), fill=0)
    mask = np.asarray(mask_img) > 0
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    y1, y2, x1, x2 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1

    # Texture, lighting and details over the box only.
    bh, bw = y2 - y1, x2 - x1
    tex = _texture(rng, item, bh, bw, scale)
    gy = np.linspace(-0.5, 0.5, bh, dtype=np.float32)[:, None]
    gx = np.linspace(-0.5, 0.5, bw, dtype=np.float32)[None, :]
    light = 1 + rng.uniform(-0.18, 0.18) * gx + rng.uniform(-0.12, 0.12) * gy
    if spec.category in ("Dress", "Skirt", "Coat", "Top") and bw > 20:  # soft folds
        light = light + 0.06 * np.sin(gx * rng.uniform(8, 20) + rng.uniform(0, 6.28)) * (gy + 0.5)
    tex *= light[..., None]
    garment = Image.fromarray(np.clip(tex, 0, 255).astype(np.uint8))
    colors = item["colors"]
    main = np.array(colors[0], dtype=np.float32)
    outline = tuple(int(c) for c in main * 0.35)
    palette = {"outline": outline, "shade": tuple(int(c) for c in main * 0.78), "accent": tuple(colors[1]),
               "second": tuple(colors[2]), "light": (238, 236, 230)}
    if scale >= 110:  # details only where they are big enough to see
        gdraw = ImageDraw.Draw(garment)
        offset = np.array([x1, y1], dtype=np.float64)
        for kind, points, key, width in shape.details:
            px = [(x - offset[0], y - offset[1]) for x, y in to_px(points)]
            if kind == "poly":
                gdraw.polygon(px, fill=palette[key])
            elif kind == "line":
                gdraw.line(px, fill=palette[key], width=max(1, int(round(scale * 0.004 * max(width, 1)))))
            else:
                r = width * scale
                (cx, cy), = px
                gdraw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=palette[key])
    # Dark outline along the garment's edge: the mask minus its erosion.
    sub = mask[y1:y2, x1:x2]
    inner = _erode(sub, 1 if scale < 250 else 2)
    gar = np.asarray(garment, dtype=np.uint8).copy()
    gar[sub & ~inner] = outline
    region = np.asarray(canvas, dtype=np.uint8).copy()
    region[y1:y2, x1:x2][sub] = gar[sub]

    # Camera: a little sensor noise and a colour cast over everything.
    out = region.astype(np.float32)
    out *= rng.uniform(0.93, 1.07, size=3).astype(np.float32)
    out += rng.standard_normal((h, w, 1), dtype=np.float32) * rng.uniform(0.5, 4.0)
    image = Image.fromarray(np.clip(out, 0, 255).astype(np.uint8))

    landmarks = []
    for u, v in to_px(shape.landmarks):
        x, y = int(round(u)), int(round(v))
        if not (0 <= x < w and 0 <= y < h):
            landmarks.append((2, 0, 0))  # truncated: outside the image
        else:
            landmarks.append((1 if rng.uniform() < 0.04 else 0, x, y))
    return RenderedImage(image=image, mask=mask, bbox=(x1, y1, x2, y2), landmarks=landmarks, flat=flat)


def _render_to_file(job: tuple[ImageSpec, str]) -> dict[str, Any]:
    """Draw one image, save it as JPEG under the (temporary) root, return its annotations."""
    spec, root = job
    rendered = render_image(spec)
    buf = io.BytesIO()
    rendered.image.save(buf, "JPEG", quality=90)
    path = Path(root) / spec.image_name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue())
    return {"bbox": rendered.bbox, "landmarks": rendered.landmarks, "size": rendered.image.size,
            "flat": rendered.flat}


# ---------------------------------------------------------------------------
# Writing the tree
# ---------------------------------------------------------------------------


def _table(count: int, header: str, rows: list[str]) -> str:
    return f"{count}\n{header}\n" + "".join(r + "\n" for r in rows)


def _annotation_files(specs: list[ImageSpec], results: list[dict[str, Any]]) -> dict[str, str]:
    """Return the text of every annotation file, keyed by path relative to the root."""
    n = len(specs)
    names = [f"{s.image_name:<{NAME_WIDTH}}" for s in specs]
    landmark_header = "image_name  clothes_type  " + "  ".join(
        f"landmark_visibility_{i}  landmark_location_x_{i}  landmark_location_y_{i}" for i in range(1, 9))
    attr_rows = []
    for name, s in zip(names, specs):
        labels = np.full(len(ATTRIBUTES), -1, dtype=np.int8)
        labels[list(s.attributes)] = 1
        attr_rows.append(name + " ".join(f"{v:>2d}" for v in labels))
    return {
        "Anno/list_category_cloth.txt": _table(
            len(CATEGORIES), "category_name  category_type", [f"{c:<{CLOTH_WIDTH}}{t}" for c, t in CATEGORIES]),
        "Anno/list_category_img.txt": _table(
            n, "image_name  category_label", [nm + str(s.category_label) for nm, s in zip(names, specs)]),
        "Anno/list_bbox.txt": _table(
            n, "image_name  x_1  y_1  x_2  y_2",
            [nm + " ".join(f"{c:03d}" for c in r["bbox"]) for nm, r in zip(names, results)]),
        "Anno/list_attr_cloth.txt": _table(
            len(ATTRIBUTES), "attribute_name  attribute_type", [f"{a:<{CLOTH_WIDTH}}{t}" for a, t in ATTRIBUTES]),
        "Anno/list_attr_img.txt": _table(n, "image_name  attribute_labels", attr_rows),
        "Anno/list_landmarks.txt": _table(
            n, landmark_header,
            [f"{nm}{s.clothes_type}  " + " ".join(f"{v} {x:03d} {y:03d}" for v, x, y in r["landmarks"]) + " "
             for nm, s, r in zip(names, specs, results)]),
        "Eval/list_eval_partition.txt": _table(
            n, "image_name  evaluation_status", [nm + s.split for nm, s in zip(names, specs)]),
    }


def _summary(specs: list[ImageSpec], results: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    areas = [(r["bbox"][2] - r["bbox"][0]) * (r["bbox"][3] - r["bbox"][1]) for r in results]
    classes = [size_class(a) for a in areas]
    return {
        "images": len(specs),
        "products": len({s.image_name.split("/")[1] for s in specs}),
        "splits": {k: sum(s.split == k for s in specs) for k in ("train", "val", "test")},
        "types": {k: sum(s.clothes_type == t for s in specs) for t, k in ((1, "upper"), (2, "lower"), (3, "full"))},
        "size_classes": {k: classes.count(k) for k in ("small", "medium", "large")},
        "flat_lay": sum(bool(r["flat"]) for r in results),
        "seconds": round(seconds, 1),
    }


def _default_workers(n_images: int) -> int:
    if n_images < 150:  # starting processes costs more than it saves
        return 1
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 8))


def _start_method() -> str:
    """Return "fork" for a single-threaded caller, else "forkserver" (or "spawn" off POSIX).

    Forking is cheapest and, unlike spawn, does not re-run an unguarded script's top level in the
    workers; with other threads alive (Jupyter, a data loader) forking is unsafe, so a fresh server
    process forks the workers instead.
    """
    methods = mp.get_all_start_methods()
    others = [t for t in threading.enumerate()
              if t is not threading.main_thread() and t.name != "tqdm_monitor"]  # tqdm's sleeps, holds no lock
    if "fork" in methods and not others:
        return "fork"
    return "forkserver" if "forkserver" in methods else "spawn"


def _render_all(specs: list[ImageSpec], root: Path, workers: int, progress: bool) -> Iterator[dict[str, Any]]:
    from tqdm.auto import tqdm

    jobs = [(s, str(root)) for s in specs]
    method = _start_method()
    with tqdm(total=len(jobs), desc="sample images", unit="img", disable=not progress) as bar:
        if workers <= 1:
            for job in jobs:
                yield _render_to_file(job)
                bar.update()
            return
        with mp.get_context(method).Pool(workers) as pool:
            for result in pool.imap(_render_to_file, jobs, chunksize=8):
                yield result
                bar.update()


def read_marker(root: str | Path) -> dict[str, Any] | None:
    """Return the sample's marker (n_images, seed, version, summary), or None when there is none."""
    path = Path(root) / MARKER
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def generate_sample(
    root: str | Path,
    n_images: int = SAMPLE_IMAGES,
    seed: int = SAMPLE_SEED,
    *,
    workers: int | None = None,
    progress: bool = True,
) -> Path:
    """Write a synthetic DeepFashion tree of ``n_images`` images to ``root`` (replacing a previous sample); return root.

    The tree is built in a temporary sibling folder and renamed into place, so
    an interrupted run never leaves a half-written tree.
    """
    root = Path(root).expanduser().resolve()
    if root.exists() and not root.is_dir():
        raise SampleExistsError(f"{root} is a file; choose a folder for the sample")
    if root.is_dir() and any(root.iterdir()) and read_marker(root) is None:
        raise SampleExistsError(
            f"{root} is not empty and holds no generated sample ({MARKER} missing); "
            "refusing to replace it: choose an empty or new folder"
        )
    started = time.perf_counter()
    specs = plan_sample(n_images, seed)
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.tmp-", dir=root.parent))
    try:
        tmp.chmod(0o755)  # mkdtemp makes it private; the sample is ordinary shared data
        n_workers = workers if workers is not None else _default_workers(n_images)
        results = list(_render_all(specs, tmp, n_workers, progress))
        for rel, text in _annotation_files(specs, results).items():
            path = tmp / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8", newline="\n")
        marker = {"generator": "fashionlib.synthetic", "version": GENERATOR_VERSION, "n_images": n_images,
                  "seed": seed, "summary": _summary(specs, results, time.perf_counter() - started)}
        (tmp / MARKER).write_text(json.dumps(marker, indent=1) + "\n", encoding="utf-8")
        _swap_into_place(tmp, root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return root


def _swap_into_place(tmp: Path, root: Path) -> None:
    """Rename the finished tree to ``root``; an old sample there is moved aside first, then deleted."""
    old = None
    if root.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{root.name}.old-", dir=root.parent))
        os.replace(root, old / "tree")
    os.replace(tmp, root)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def _lock(root: Path) -> Iterator[None]:
    """Hold an exclusive lock next to ``root`` so two processes do not build the same sample at once."""
    root.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # Windows: no lock, the atomic rename still protects the tree
        yield
        return
    with open(root.parent / f".{root.name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _is_current(root: Path, n_images: int, seed: int) -> bool:
    marker = read_marker(root)
    return (
        marker is not None
        and marker.get("version") == GENERATOR_VERSION
        and marker.get("n_images") == n_images
        and marker.get("seed") == seed
        and (root / "Anno" / "list_bbox.txt").is_file()
    )


def ensure_sample(root: str | Path, n_images: int = SAMPLE_IMAGES, seed: int = SAMPLE_SEED) -> Path:
    """Return ``root`` after generating the sample there unless its marker already matches (n_images, seed, version)."""
    root = Path(root).expanduser().resolve()
    if _is_current(root, n_images, seed):
        return root
    with _lock(root):
        if not _is_current(root, n_images, seed):  # another process may have built it meanwhile
            generate_sample(root, n_images, seed)
    return root


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------


def _cmd_sample_data(args: Any) -> int:
    root = generate_sample(args.out, args.images, args.seed, workers=args.workers, progress=not args.quiet)
    summary = (read_marker(root) or {}).get("summary", {})
    n = max(summary.get("images", 1), 1)
    sizes = summary.get("size_classes", {})
    print(f"wrote {summary.get('images')} images of {summary.get('products')} products to {root} "
          f"in {summary.get('seconds')} s")
    print("  splits: " + ", ".join(f"{k} {v}" for k, v in summary.get("splits", {}).items()))
    print("  types:  " + ", ".join(f"{k} {v}" for k, v in summary.get("types", {}).items()))
    print("  boxes:  " + ", ".join(f"{k} {100 * v / n:.1f}%" for k, v in sizes.items()))
    return 0


def add_commands(subparsers: Any) -> None:
    """Register the ``sample-data`` sub-command."""
    p = subparsers.add_parser(
        "sample-data", help="write the synthetic DeepFashion-format sample (always regenerates)",
        description="Write a synthetic dataset in the DeepFashion Category and Attribute Prediction format.",
    )
    p.add_argument("out", type=Path, help="output folder, e.g. data/sample/DeepFashion")
    p.add_argument("--images", type=int, default=SAMPLE_IMAGES, help=f"number of images (default {SAMPLE_IMAGES})")
    p.add_argument("--seed", type=int, default=SAMPLE_SEED, help=f"random seed (default {SAMPLE_SEED})")
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: one per CPU core)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_sample_data)
