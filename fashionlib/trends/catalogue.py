"""The image x attribute matrix as a sparse table of positives, with the images' garment type and category.

DeepFashion stores 1 / -1 / 0 labels as an int8 array (289,222 x 1,000 = 289 MB). Only the
positives matter for shares, co-occurrence and styles, and they are rare (a few per image), so
the table keeps them as a ``scipy.sparse`` CSR matrix built chunk by chunk: no float or int64
copy of the full array is ever made.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from fashionlib.deepfashion import ATTRIBUTE_TYPE_NAMES

CHUNK_ROWS = 20_000  # rows of the int8 array turned into CSR at a time (20k x 1,000 bools = 20 MB)


class TrendsInputError(ValueError):
    """An input to the trend tools is not usable (the message names what and where)."""


@dataclass
class AttributeTable:
    """Positives of every attribute per image: ``X`` (N x K CSR, 1 = positive), ``images`` and ``attributes``."""

    X: sparse.csr_matrix  # uint8 0/1, images x attributes
    images: pd.DataFrame  # image_name, category_name, type_name, split (row i = row i of X)
    attributes: pd.DataFrame  # name, type_name (row j = column j of X)

    @property
    def shape(self) -> tuple[int, int]:
        """Return (images, attributes)."""
        return self.X.shape

    @property
    def names(self) -> list[str]:
        """Return the attribute names in column order."""
        return self.attributes["name"].tolist()

    def column(self, name: str) -> int:
        """Return the column of an attribute by name (raises a one-line error listing close names)."""
        hits = np.flatnonzero(self.attributes["name"].to_numpy() == name)
        if not hits.size:
            close = [n for n in self.names if name.lower() in n.lower()][:5]
            raise TrendsInputError(f"unknown attribute {name!r}; similar names: {close or 'none'}")
        return int(hits[0])

    def subset(self, rows: Any) -> AttributeTable:
        """Return the table restricted to some images (boolean mask or indices)."""
        idx = np.flatnonzero(rows) if np.asarray(rows).dtype == bool else np.asarray(rows)
        return AttributeTable(self.X[idx], self.images.iloc[idx].reset_index(drop=True), self.attributes)

    def summary(self) -> pd.DataFrame:
        """Return a one-row table: images, attributes, positives, positives per image, density."""
        n, k = self.shape
        return pd.DataFrame([{
            "images": n, "attributes": k, "positive labels": int(self.X.nnz),
            "positives per image": round(self.X.nnz / max(n, 1), 2),
            "density": round(self.X.nnz / max(n * k, 1), 4),
            "sparse MB": round((self.X.data.nbytes + self.X.indices.nbytes + self.X.indptr.nbytes) / 2**20, 1),
        }], index=["attribute matrix"])


def positives_csr(labels: np.ndarray, chunk_rows: int = CHUNK_ROWS) -> sparse.csr_matrix:
    """Return the positives (label == 1) of an int8 label array as a uint8 CSR matrix, built in row chunks."""
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise TrendsInputError(f"attribute labels must be a 2-D (images, attributes) array, found shape {labels.shape}")
    parts = [sparse.csr_matrix(labels[s : s + chunk_rows] == 1, dtype=np.uint8)
             for s in range(0, len(labels), chunk_rows)]
    if not parts:
        return sparse.csr_matrix((0, labels.shape[1]), dtype=np.uint8)
    return sparse.vstack(parts, format="csr")


def from_deepfashion(ds: Any) -> AttributeTable:
    """Return the attribute table of a loaded :class:`fashionlib.deepfashion.DeepFashion` (``attributes=True``)."""
    if ds.attribute_labels is None or ds.attributes is None:
        raise TrendsInputError("the dataset was loaded without attributes: use deepfashion.load(root, attributes=True)")
    images = ds.images[["image_name", "category_name", "type_name", "split"]].copy()
    images["split"] = images["split"].astype(str)
    attributes = ds.attributes[["name", "type_name"]].reset_index(drop=True)
    return AttributeTable(positives_csr(ds.attribute_labels), images.reset_index(drop=True), attributes)


def from_arrays(labels: np.ndarray, attribute_names: list[str], attribute_types: list[str] | None = None,
                groups: dict[str, Any] | None = None) -> AttributeTable:
    """Return a table from a (N, K) 0/1 or 1/-1 array (for tests and hand-made examples)."""
    labels = np.asarray(labels)
    if labels.ndim != 2 or labels.shape[1] != len(attribute_names):
        raise TrendsInputError(f"labels have shape {labels.shape} but {len(attribute_names)} attribute names were given")
    types = attribute_types or ["texture"] * len(attribute_names)
    unknown = set(types) - set(ATTRIBUTE_TYPE_NAMES.values())
    if unknown:
        raise TrendsInputError(f"attribute types must be among {list(ATTRIBUTE_TYPE_NAMES.values())}, found {sorted(unknown)}")
    images = pd.DataFrame({"image_name": [f"img_{i:06d}" for i in range(len(labels))],
                           "category_name": "all", "type_name": "all", "split": "train"})
    for col, values in (groups or {}).items():
        images[col] = list(values)
    return AttributeTable(positives_csr(labels), images, pd.DataFrame({"name": attribute_names, "type_name": types}))


def group_counts(table: AttributeTable, by: str) -> tuple[pd.Index, np.ndarray, np.ndarray]:
    """Return (group names, images per group, positives per group x attribute) by one sparse product."""
    if by not in table.images.columns:
        raise TrendsInputError(f"cannot group by {by!r}: image columns are {list(table.images.columns)}")
    codes, names = pd.factorize(table.images[by], sort=True)
    n = len(codes)
    # Indicator (groups x images) times positives (images x attributes): counts without densifying X.
    member = sparse.csr_matrix((np.ones(n, dtype=np.int64), (codes, np.arange(n))), shape=(len(names), n))
    counts = np.asarray((member @ table.X.astype(np.int64)).todense())
    return pd.Index(names, name=by), np.bincount(codes, minlength=len(names)), counts
