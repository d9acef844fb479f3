"""Attribute prevalence: each attribute's share of images per garment type or category, with 95% Wilson intervals.

These are **cross-sectional shares, not a forecast**: DeepFashion has no dates, so a share says
what the catalogue is made of, not where it is going.

Why Wilson: the textbook ``p +- 1.96 sqrt(p(1-p)/n)`` interval collapses to zero width at p = 0
and leaves [0, 1] for rare attributes in small categories, exactly the cells a trend reader looks
at. Wilson's score interval stays inside [0, 1] and keeps honest width when counts are small.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from fashionlib.trends import CROSS_SECTIONAL
from fashionlib.trends.catalogue import AttributeTable, TrendsInputError, group_counts

PSEUDO = 0.5  # added to counts in over/under ratios so that a zero count does not give an infinite log ratio


def wilson_interval(successes: Any, n: Any, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Return the (lower, upper) Wilson score interval of successes / n at level 1 - alpha (arrays)."""
    from statsmodels.stats.proportion import proportion_confint

    successes, n = np.asarray(successes, dtype=float), np.asarray(n, dtype=float)
    if (successes < 0).any() or (successes > n).any():
        raise TrendsInputError("successes must lie in 0..n for every cell")
    safe_n = np.where(n > 0, n, 1.0)  # an empty group has no interval: NaN below
    lo, hi = proportion_confint(successes, safe_n, alpha=alpha, method="wilson")
    empty = n == 0
    return np.where(empty, np.nan, lo), np.where(empty, np.nan, hi)


def prevalence(table: AttributeTable, by: str = "type_name", alpha: float = 0.05) -> pd.DataFrame:
    """Return one row per group x attribute: images, positives, share and its Wilson interval (plus 'all')."""
    names, n_images, counts = group_counts(table, by)
    # The whole catalogue as one more group, so every share sits beside its reference.
    names = names.append(pd.Index(["all"], name=by))
    n_images = np.append(n_images, table.shape[0])
    counts = np.vstack([counts, counts.sum(axis=0, keepdims=True)])
    g, k = counts.shape
    n = np.repeat(n_images, k)
    pos = counts.ravel()
    lo, hi = wilson_interval(pos, n, alpha)
    frame = pd.DataFrame({
        by: np.repeat(names.to_numpy(), k),
        "attribute": np.tile(table.attributes["name"].to_numpy(), g),
        "attribute_type": np.tile(table.attributes["type_name"].to_numpy(), g),
        "images": n, "positives": pos,
        "share": np.where(n > 0, pos / np.maximum(n, 1), np.nan), "ci_low": lo, "ci_high": hi,
    })
    frame.attrs["note"] = CROSS_SECTIONAL
    return frame


def top_shares(prev: pd.DataFrame, by: str, group: str, n: int = 10, attribute_type: str | None = None) -> pd.DataFrame:
    """Return the n most common attributes of one group (optionally of one attribute type), with intervals."""
    part = prev[prev[by] == group]
    if part.empty:
        raise TrendsInputError(f"no group {group!r} in column {by!r}; groups: {sorted(prev[by].unique())}")
    if attribute_type is not None:
        part = part[part["attribute_type"] == attribute_type]
    return part.sort_values(["share", "attribute"], ascending=[False, True]).head(n).reset_index(drop=True)


def over_under(prev: pd.DataFrame, by: str, group: str, n: int = 5, min_positives: int = 5) -> pd.DataFrame:
    """Return the n most over- and n most under-represented attributes of a group relative to the whole catalogue.

    The ratio is share in the group / share in the catalogue, both with 0.5 added to the counts
    (so a zero does not give an infinite ratio). Only attributes with at least ``min_positives``
    images in the catalogue take part. ``outside_ci`` says whether the catalogue share lies
    outside the group's 95% Wilson interval: a difference the group's size can vouch for.
    """
    part = prev[prev[by] == group]
    ref = prev[prev[by] == "all"].set_index("attribute")
    if part.empty:
        raise TrendsInputError(f"no group {group!r} in column {by!r}; groups: {sorted(prev[by].unique())}")
    part = part.set_index("attribute").join(ref[["share", "positives", "images"]], rsuffix="_catalogue")
    part = part[part["positives_catalogue"] >= min_positives]
    group_share = (part["positives"] + PSEUDO) / (part["images"] + 2 * PSEUDO)
    cat_share = (part["positives_catalogue"] + PSEUDO) / (part["images_catalogue"] + 2 * PSEUDO)
    part = part.assign(ratio=group_share / cat_share,
                       outside_ci=(part["share_catalogue"] < part["ci_low"]) | (part["share_catalogue"] > part["ci_high"]))
    part["log2_ratio"] = np.log2(part["ratio"])
    over = part.sort_values(["log2_ratio", "positives"], ascending=[False, False]).head(n).assign(direction="over")
    under = part.sort_values(["log2_ratio", "positives_catalogue"], ascending=[True, False]).head(n).assign(direction="under")
    cols = ["direction", "attribute_type", "positives", "share", "ci_low", "ci_high", "share_catalogue", "ratio",
            "outside_ci"]
    out = pd.concat([over, under])[cols].reset_index()
    out.insert(0, by, group)
    return out


def plot_shares(prev: pd.DataFrame, by: str, groups: list[str] | None = None, n: int = 8,
                attribute_type: str | None = None) -> Any:
    """Return a figure: per group, the n most common attributes as bars with 95% Wilson intervals."""
    import matplotlib.pyplot as plt

    groups = groups or [g for g in prev[by].unique() if g != "all"]
    fig, axes = plt.subplots(1, len(groups), figsize=(3.6 * len(groups), 0.32 * n + 1.4), squeeze=False)
    for ax, group in zip(axes[0], groups):
        top = top_shares(prev, by, group, n, attribute_type).iloc[::-1]
        err = np.vstack([top["share"] - top["ci_low"], top["ci_high"] - top["share"]])
        ax.barh(top["attribute"], top["share"], xerr=err, color="#4c72b0", ecolor="0.3", capsize=2)
        ax.set_xlim(0, min(1.0, float(top["ci_high"].max()) * 1.1 + 0.02))
        ax.set_title(f"{group} ({int(top['images'].iloc[0]):,} images)", fontsize=10)
        ax.set_xlabel("share of images")
        ax.tick_params(axis="y", labelsize=8)
    kind = f"{attribute_type} attributes" if attribute_type else "attributes"
    fig.suptitle(f"Most common {kind} per {by.replace('_name', '')}, 95% Wilson intervals ({CROSS_SECTIONAL})",
                 fontsize=10)
    fig.tight_layout()
    return fig
