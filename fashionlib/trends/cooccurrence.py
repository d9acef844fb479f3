"""Which attributes go together: co-occurrence counts, lift and PMI from the sparse attribute matrix.

For attributes a and b over N images with counts n_a, n_b and joint count n_ab:

* lift = P(a, b) / (P(a) P(b)) = N n_ab / (n_a n_b): 1 means independent, 2 means together twice
  as often as chance would put them;
* PMI = log2(lift); normalised PMI = PMI / -log2 P(a, b) lies in [-1, 1] (1: always together).

All joint counts come from one sparse product ``X.T @ X`` (K x K), so the 289k x 1,000 matrix is
never densified; only the K x K result is (1,000 x 1,000 int64 = 8 MB). Rare pairs have noisy
lifts, so pairs below ``min_count`` joint images are left out. These are cross-sectional
associations, not a forecast.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from fashionlib.trends import CROSS_SECTIONAL
from fashionlib.trends.catalogue import AttributeTable, TrendsInputError


def cooccurrence(table: AttributeTable) -> np.ndarray:
    """Return the K x K matrix of joint positive counts (diagonal: each attribute's count), by a sparse product."""
    x = table.X.astype(np.int64)
    return np.asarray((x.T @ x).todense())


def lift_matrix(table: AttributeTable) -> tuple[np.ndarray, np.ndarray]:
    """Return (lift K x K, joint counts K x K); lift is NaN where either attribute never occurs."""
    joint = cooccurrence(table)
    counts = np.diag(joint).astype(float)
    n = table.shape[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        lift = n * joint / np.outer(counts, counts)
    lift[~np.isfinite(lift)] = np.nan
    return lift, joint


def pair_table(table: AttributeTable, min_count: int = 5, types: Sequence[str] | None = None) -> pd.DataFrame:
    """Return every attribute pair (a < b) with at least min_count joint images: counts, lift, PMI, NPMI.

    ``types=("texture", "shape")`` keeps only pairs of a texture with a shape (in that order).
    """
    lift, joint = lift_matrix(table)
    names = table.attributes["name"].to_numpy()
    kinds = table.attributes["type_name"].to_numpy()
    n = table.shape[0]
    if types is not None:
        if len(types) != 2:
            raise TrendsInputError(f"types must name two attribute types, found {list(types)}")
        a_idx, b_idx = np.flatnonzero(kinds == types[0]), np.flatnonzero(kinds == types[1])
        a, b = (g.ravel() for g in np.meshgrid(a_idx, b_idx, indexing="ij"))
        keep = a != b
        if types[0] == types[1]:
            keep &= a < b
        a, b = a[keep], b[keep]
    else:
        a, b = np.triu_indices(len(names), k=1)
    nab = joint[a, b]
    keep = nab >= min_count
    a, b, nab = a[keep], b[keep], nab[keep]
    p_ab = nab / n
    with np.errstate(divide="ignore"):  # only with min_count 0: a pair never seen together has PMI -inf
        pmi = np.log2(lift[a, b])
    frame = pd.DataFrame({
        "a": names[a], "b": names[b], "type_a": kinds[a], "type_b": kinds[b],
        "n_a": joint[a, a], "n_b": joint[b, b], "n_ab": nab, "lift": lift[a, b], "pmi": pmi,
        "npmi": np.where(p_ab < 1, pmi / -np.log2(np.minimum(p_ab, 1 - 1e-12)), 1.0),
    })
    frame = frame.sort_values(["pmi", "n_ab"], ascending=[False, False]).reset_index(drop=True)
    frame.attrs["note"] = CROSS_SECTIONAL
    return frame


def lift_heatmap(table: AttributeTable, row_type: str = "texture", col_type: str = "shape", n_rows: int = 10,
                 n_cols: int = 10, min_count: int = 5, max_abs_log2: float = 3.0) -> Any:
    """Return a heat map of log2 lift between the most common attributes of two types (sparse cells greyed out)."""
    import matplotlib.pyplot as plt

    lift, joint = lift_matrix(table)
    names = table.attributes["name"].to_numpy()
    kinds = table.attributes["type_name"].to_numpy()
    counts = np.diag(joint)

    def most_common(kind: str, n: int) -> np.ndarray:
        idx = np.flatnonzero((kinds == kind) & (counts > 0))
        if not idx.size:
            raise TrendsInputError(f"no attribute of type {kind!r} has a positive image")
        return idx[np.argsort(-counts[idx], kind="stable")][:n]

    rows, cols = most_common(row_type, n_rows), most_common(col_type, n_cols)
    with np.errstate(divide="ignore"):  # lift 0 (never together) -> -inf, clipped below
        sub = np.log2(lift[np.ix_(rows, cols)])
    n_ab = joint[np.ix_(rows, cols)]
    shown = np.where(n_ab >= min_count, np.clip(sub, -max_abs_log2, max_abs_log2), np.nan)
    fig, ax = plt.subplots(figsize=(0.62 * len(cols) + 3.2, 0.42 * len(rows) + 2.2))
    cmap = plt.get_cmap("RdBu_r").copy()
    cmap.set_bad("0.88")
    im = ax.imshow(np.ma.masked_invalid(shown), cmap=cmap, vmin=-max_abs_log2, vmax=max_abs_log2, aspect="auto")
    for i in range(len(rows)):
        for j in range(len(cols)):
            if np.isfinite(shown[i, j]):
                # The pair count under the colour: a strong colour on 6 images is weaker evidence than on 600.
                ax.text(j, i, f"{int(n_ab[i, j])}", ha="center", va="center", fontsize=7,
                        color="white" if abs(shown[i, j]) > 0.6 * max_abs_log2 else "black")
    ax.set_xticks(range(len(cols)), names[cols], rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)), [f"{names[r]} ({counts[r]})" for r in rows], fontsize=8)
    ax.set_xlabel(f"{col_type} (most common {len(cols)})")
    ax.set_ylabel(f"{row_type} (images)")
    fig.colorbar(im, ax=ax, label="log2 lift (0 = independent)", shrink=0.85)
    ax.set_title(f"Which {row_type}s go with which {col_type}s: log2 lift, numbers = images with both;\n"
                 f"grey = fewer than {min_count} images ({CROSS_SECTIONAL})", fontsize=9)
    fig.tight_layout()
    return fig
