"""The three garment types: the one table every stage uses (DeepFashion's ``category_type`` 1, 2, 3).

The study's detector and the crops and GANs after it work with these three
classes; COCO files, crop folders and models store them by id (1 upper, 2 lower,
3 full, 0 is the detector's background), so ids and names come from here only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

GARMENT_TYPES = ("upper", "lower", "full")  # in id order: upper-body, lower-body, full-body clothes
TYPE_IDS = {name: i for i, name in enumerate(GARMENT_TYPES, start=1)}  # "upper" -> 1
TYPE_NAMES = {i: name for name, i in TYPE_IDS.items()}  # 1 -> "upper"


def category_type(category: Mapping[str, Any]) -> int | None:
    """Return the garment type id of a COCO category, or None when it names none.

    A ``--classes types`` file names the type itself (``{"id": 1, "name": "upper"}``); a
    ``--classes categories`` file puts it in ``supercategory`` (``{"id": 2, "name": "Tee",
    "supercategory": "upper"}``).
    """
    for key in ("name", "supercategory"):
        value = category.get(key)
        if isinstance(value, str) and value.lower() in TYPE_IDS:
            return TYPE_IDS[value.lower()]
    return None
