"""Look at the benchmark: category and attribute tables, box statistics, image grids, a browser."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from fashionlib.deepfashion import ATTRIBUTE_TYPE_NAMES, TYPE_NAMES, DeepFashion
from fashionlib.viz import TYPE_COLORS, draw_boxes

# COCO's size buckets, by box area in pixels.
COCO_SMALL = 32**2
COCO_MEDIUM = 96**2


def category_table(ds: DeepFashion) -> pd.DataFrame:
    """Return images per category and split, with the category's type; merged categories show 0."""
    counts = pd.crosstab(ds.images["category_label"], ds.images["split"]).reindex(ds.categories.index, fill_value=0)
    table = ds.categories[["name", "type_name"]].join(counts)
    table["images"] = counts.sum(axis=1)
    return table


def type_table(ds: DeepFashion) -> pd.DataFrame:
    """Return images per garment type (upper / lower / full) and split."""
    table = pd.crosstab(ds.images["type_name"], ds.images["split"]).reindex(list(TYPE_NAMES.values()), fill_value=0)
    table["images"] = table.sum(axis=1)
    return table


def plot_category_counts(ds: DeepFashion) -> Any:
    """Return a bar chart of images per category, coloured by garment type."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    table = category_table(ds).sort_values(["type_name", "images"], ascending=[True, False])
    fig, ax = plt.subplots(figsize=(12, 3.6))
    ax.bar(table["name"], table["images"], color=[TYPE_COLORS[t] for t in table["type_name"]])
    ax.set_ylabel("images")
    ax.set_title(f"{len(ds):,} images in {int((table['images'] > 0).sum())} of {len(table)} categories")
    ax.tick_params(axis="x", rotation=90, labelsize=7)
    ax.legend(handles=[Patch(color=TYPE_COLORS[t], label=t) for t in TYPE_NAMES.values()])
    fig.tight_layout()
    return fig


def top_attributes(ds: DeepFashion, n: int = 5) -> pd.DataFrame:
    """Return the ``n`` most frequent attributes of each attribute type with their share of images."""
    if ds.attribute_labels is None or ds.attributes is None:
        raise ValueError("load the dataset with attributes=True to count attributes")
    positives = (ds.attribute_labels == 1).sum(axis=0)
    frame = ds.attributes.assign(images=positives, share=positives / max(len(ds), 1))
    rows = []
    for type_name in ATTRIBUTE_TYPE_NAMES.values():
        part = frame[frame["type_name"] == type_name].sort_values(["images", "name"], ascending=[False, True]).head(n)
        rows.append(part.assign(rank=range(1, len(part) + 1)))
    out = pd.concat(rows)[["type_name", "rank", "name", "images", "share"]]
    out["share"] = out["share"].round(3)
    return out.reset_index(drop=True)


def box_table(ds: DeepFashion) -> pd.DataFrame:
    """Return per-image box width, height, area, aspect (h / w) and COCO size bucket."""
    im = ds.images
    w = (im["x_2"] - im["x_1"]).to_numpy()
    h = (im["y_2"] - im["y_1"]).to_numpy()
    area = w * h
    bucket = np.where(area < COCO_SMALL, "small", np.where(area < COCO_MEDIUM, "medium", "large"))
    return pd.DataFrame(
        {"type_name": im["type_name"], "width": w, "height": h, "area": area,
         "aspect": np.round(h / np.maximum(w, 1), 3), "bucket": bucket}
    )


def size_buckets(ds: DeepFashion) -> pd.DataFrame:
    """Return the share of boxes in COCO's small / medium / large buckets, per garment type and overall."""
    boxes = box_table(ds)
    table = pd.crosstab(boxes["type_name"], boxes["bucket"], normalize="index")
    table.loc["all"] = boxes["bucket"].value_counts(normalize=True)
    return table.reindex(columns=["small", "medium", "large"], fill_value=0.0).round(3)


def plot_box_stats(ds: DeepFashion) -> Any:
    """Return histograms of box size (sqrt of area, with COCO's 32 / 96 thresholds) and aspect ratio per type."""
    import matplotlib.pyplot as plt

    boxes = box_table(ds)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.4))
    side = np.sqrt(boxes["area"])
    bins = np.linspace(0, max(side.max(), 100), 40)
    for t in TYPE_NAMES.values():
        sel = boxes["type_name"] == t
        ax1.hist(side[sel], bins=bins, alpha=0.6, color=TYPE_COLORS[t], label=t)
        ax2.hist(np.log2(boxes.loc[sel, "aspect"].clip(1 / 8, 8)), bins=40, alpha=0.6, color=TYPE_COLORS[t], label=t)
    for x, name in ((32, "small | medium"), (96, "medium | large")):
        ax1.axvline(x, color="k", linestyle="--", linewidth=1)
        ax1.text(x, ax1.get_ylim()[1] * 0.95, f" {name}", fontsize=7, va="top")
    ax1.set_xlabel("box size: sqrt(area) in pixels")
    ax1.set_ylabel("images")
    ax1.legend()
    ax2.set_xlabel("aspect: log2(height / width)")
    ax2.legend()
    fig.tight_layout()
    return fig


def _pick(ds: DeepFashion, n: int, seed: int, category: str | None = None, attribute: str | None = None) -> np.ndarray:
    mask = np.ones(len(ds), dtype=bool)
    if category:
        mask &= (ds.images["category_name"] == category).to_numpy()
    if attribute and ds.attribute_labels is not None and ds.attributes is not None:
        column = int(np.flatnonzero(ds.attributes["name"].to_numpy() == attribute)[0])
        mask &= ds.attribute_labels[:, column] == 1
    rows = np.flatnonzero(mask)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(rows, size=min(n, len(rows)), replace=False)) if len(rows) else rows


def show_examples(
    ds: DeepFashion, n: int = 12, *, seed: int = 0, category: str | None = None,
    attribute: str | None = None, ncols: int = 6,
) -> Any:
    """Return a grid of images with their box, category and type (optionally filtered)."""
    import matplotlib.pyplot as plt

    rows = _pick(ds, n, seed, category, attribute)
    nrows = max(1, (len(rows) + ncols - 1) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.0 * ncols, 2.5 * nrows))
    axes = np.atleast_1d(axes).ravel()
    for ax in axes:
        ax.axis("off")
    for ax, i in zip(axes, rows):
        r = ds.images.iloc[i]
        with Image.open(ds.image_path(i)) as img:
            ax.imshow(img.convert("RGB"))
        draw_boxes(ax, [[r["x_1"], r["y_1"], r["x_2"] - r["x_1"], r["y_2"] - r["y_1"]]],
                   colors=TYPE_COLORS[r["type_name"]])
        ax.set_title(f"{r['category_name']} ({r['type_name']})", fontsize=8)
    if not len(rows):
        axes[0].text(0.5, 0.5, "no images match", ha="center", va="center")
    fig.tight_layout()
    return fig


def browser(ds: DeepFashion, n: int = 6) -> Any:
    """Return an ipywidgets browser: pick a category and an attribute, see matching images with boxes."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    present = category_table(ds).query("images > 0")["name"].tolist()
    attrs = ["(any)"] + (sorted(ds.attributes["name"]) if ds.attributes is not None else [])
    category = widgets.Dropdown(options=["(any)"] + present, description="category")
    attribute = widgets.Dropdown(options=attrs, description="attribute")
    seed = widgets.IntSlider(value=0, min=0, max=50, description="shuffle")
    out = widgets.Output()

    def redraw(*_: Any) -> None:
        with out:
            out.clear_output(wait=True)
            fig = show_examples(
                ds, n, seed=seed.value, ncols=n,
                category=None if category.value == "(any)" else category.value,
                attribute=None if attribute.value == "(any)" else attribute.value,
            )
            plt.show()
            plt.close(fig)

    for w in (category, attribute, seed):
        w.observe(redraw, names="value")
    redraw()
    return widgets.VBox([widgets.HBox([category, attribute, seed]), out])
