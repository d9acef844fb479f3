"""The sample's vocabulary (categories drawn, attributes, landmarks, size classes) and its plan.

``plan_sample`` decides every image before anything is drawn (product folder, category, look,
attributes, split, target size); each image draws from its own generator seeded by ``(seed, index)``.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass
from typing import Any

import numpy as np

from fashionlib.config import SAMPLE_IMAGES, SAMPLE_SEED
from fashionlib.deepfashion import CATEGORIES, MERGED_CATEGORIES

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
