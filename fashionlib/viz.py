"""Plot helpers shared by the notebooks: boxes on images, image grids, curves."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fashionlib.garments import GARMENT_TYPES, TYPE_IDS

# One colour per garment type, used everywhere, looked up by type id or name (upper, lower, full).
_PALETTE = ("#e4572e", "#17bebb", "#ffc914")
TYPE_COLORS: dict[int | str, str] = {
    **{TYPE_IDS[t]: c for t, c in zip(GARMENT_TYPES, _PALETTE)}, **dict(zip(GARMENT_TYPES, _PALETTE))}


def _plt() -> Any:
    import matplotlib.pyplot as plt

    return plt


def draw_boxes(
    ax: Any,
    boxes_xywh: Sequence[Sequence[float]],
    labels: Sequence[str] | None = None,
    colors: Sequence[str] | str = "#e4572e",
    *,
    linestyle: str = "-",
    linewidth: float = 2.0,
) -> None:
    """Draw COCO-style ``[x, y, w, h]`` boxes (with optional labels) on a matplotlib axis."""
    from matplotlib.patches import Rectangle

    if isinstance(colors, str):
        colors = [colors] * len(boxes_xywh)
    for i, (x, y, w, h) in enumerate(boxes_xywh):
        ax.add_patch(
            Rectangle((x, y), w, h, fill=False, edgecolor=colors[i], linewidth=linewidth, linestyle=linestyle)
        )
        if labels is not None and labels[i]:
            ax.text(
                x, y, labels[i], fontsize=7, color="black", va="bottom",
                bbox={"facecolor": colors[i], "alpha": 0.8, "pad": 1, "linewidth": 0},
            )


def image_grid(
    images: Sequence[Any],
    *,
    ncols: int = 8,
    titles: Sequence[str] | None = None,
    cell: float = 1.6,
    suptitle: str | None = None,
) -> Any:
    """Return a matplotlib figure showing images (PIL, HxWxC uint8, or CxHxW floats in [-1, 1]) in a grid."""
    plt = _plt()
    n = max(len(images), 1)
    ncols = min(ncols, n)
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(cell * ncols, cell * nrows + (0.4 if suptitle else 0)))
    axes = np.atleast_1d(axes).ravel()
    for ax in axes:
        ax.axis("off")
    for i, img in enumerate(images):
        axes[i].imshow(to_display(img))
        if titles is not None:
            axes[i].set_title(titles[i], fontsize=7)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def to_display(img: Any) -> np.ndarray:
    """Return an HxWxC uint8 array for a PIL image, uint8 array, or a CxHxW tensor/array in [-1, 1]."""
    if hasattr(img, "convert"):  # PIL
        return np.asarray(img.convert("RGB"))
    if hasattr(img, "detach"):  # torch tensor
        img = img.detach().cpu().float().numpy()
    arr = np.asarray(img)
    if arr.dtype != np.uint8:
        if arr.ndim == 3 and arr.shape[0] in (1, 3):
            arr = arr.transpose(1, 2, 0)
        arr = ((np.clip(arr, -1, 1) + 1) * 127.5).round().astype(np.uint8)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    return arr


def save_figure(fig: Any, path: str | Path) -> Path:
    """Save a figure atomically as PNG next to the run's other artifacts; return the path."""
    from fashionlib.runio import atomic_savefig

    return atomic_savefig(fig, path)
