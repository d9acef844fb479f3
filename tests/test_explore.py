"""The exploration tables and figures on a hand-written tree."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from fashionlib import deepfashion, explore  # noqa: E402


def test_tables(tiny_root: Path) -> None:
    ds = deepfashion.load(tiny_root)
    cats = explore.category_table(ds)
    assert cats.loc[6, "images"] == 0 and cats.loc[6, "name"] == "Cape"  # merged category: kept, no images
    assert cats["images"].sum() == len(ds)
    types = explore.type_table(ds)
    assert types.loc["upper", "images"] == 3 and types.loc["full", "val"] == 1
    buckets = explore.size_buckets(ds)
    # Skirt box 20x24 = 480 px^2 is COCO-small; everything else is large.
    assert buckets.loc["lower", "small"] == 0.5 and buckets.loc["all", "large"] == round(5 / 6, 3)
    top = explore.top_attributes(ds, 1)
    assert list(top["type_name"]) == ["texture", "fabric", "shape", "part", "style"]
    positives = (ds.attribute_labels == 1).sum(axis=0)
    assert top.loc[0, "images"] == max(positives[0], positives[1])


def test_figures_and_browser(tiny_root: Path) -> None:
    ds = deepfashion.load(tiny_root)
    for fig in (explore.plot_category_counts(ds), explore.plot_box_stats(ds), explore.show_examples(ds, 4)):
        assert fig.axes
    filtered = explore.show_examples(ds, 4, category="Blouse")
    titles = [ax.get_title() for ax in filtered.axes if ax.get_title()]
    assert titles == ["Blouse (upper)", "Blouse (upper)"]
    widget = explore.browser(ds)
    assert len(widget.children) == 2
