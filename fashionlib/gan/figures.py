"""Tables and figures of GAN runs: the study's log lines, curves, progress grids, real vs generated."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from torch import nn

from fashionlib.crops import CLASS_NAMES, load_crops
from fashionlib.gan.models import SIZES, Discriminator, GanError, Generator, parameter_count
from fashionlib.gan.sample import generate
from fashionlib.gan.train import GanRun

# Final log lines of the study, for comparison.
STUDY_FINAL = pd.DataFrame(
    [
        ("study 64x64", 0.1564, 3.7075, 0.9183, 0.0621, 0.0456),
        ("study 64x64 (another run, slides)", 0.3935, 3.2441, 0.8563, 0.1848, 0.0587),
        ("study 128x128", 0.1592, 4.3941, 0.9530, 0.0909, 0.0285),
    ],
    columns=["run", "Loss_D", "Loss_G", "D(x)", "D(G(z)) before", "D(G(z)) after"],
).set_index("run")



def model_summary(num_classes: int = 0, nz: int = 100, ngf: int = 64, ndf: int = 64) -> pd.DataFrame:
    """Return layers and parameter counts of the generator and discriminator at 64 and 128 px."""
    rows = []
    for size in SIZES:
        for name, model in (("generator", Generator(size, nz, ngf, num_classes)),
                            ("discriminator", Discriminator(size, ndf, num_classes))):
            convs = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
            rows.append({"size": f"{size}x{size}", "model": name, "conv layers": len(convs),
                         "batch-norm layers": sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()),
                         "parameters": parameter_count(model)})
    return pd.DataFrame(rows).set_index(["size", "model"])


def run_summary(run: GanRun) -> str:
    """Return one line on how a run trained: iterations, minutes, why it stopped, crops seen and epochs."""
    s = run.state
    return (f"{run.config.recipe}: {s['iteration']} iterations in {s['elapsed_s'] / 60:.1f} min "
            f"({s.get('stop_reason')}), {s.get('images_seen', 0):,} crops seen = {s.get('epochs')} epochs of "
            f"{s.get('train_crops')} crops")


def log_lines(run: GanRun, every: int | None = None) -> list[str]:
    """Return the study-format log lines of a run (every ``every`` iterations, default the run's log_every)."""
    every = every or run.config.log_every
    m = run.metrics
    if m.empty:
        return []
    total = run.config.max_iters
    last = int(m["iter"].max())
    out = []
    for r in m.itertuples(index=False):
        if (r.iter + 1) % every and r.iter != last:
            continue
        out.append(f"[{r.epoch}][{r.iter + 1}/{total}]\tLoss_D: {r.Loss_D:.4f}\tLoss_G: {r.Loss_G:.4f}\t"
                   f"D(x): {r.D_x:.4f}\tD(G(z)): {r.D_G_z1:.4f} / {r.D_G_z2:.4f}")
    return out


def last_line(run: GanRun, window: int = 1) -> pd.Series:
    """Return the study's five numbers for a run: the last iteration (window=1) or the mean of the last ``window``."""
    m = run.metrics.tail(window)
    return pd.Series({"Loss_D": m["Loss_D"].mean(), "Loss_G": m["Loss_G"].mean(), "D(x)": m["D_x"].mean(),
                      "D(G(z)) before": m["D_G_z1"].mean(), "D(G(z)) after": m["D_G_z2"].mean()})


def study_comparison(runs: dict[str, GanRun], window: int = 20) -> pd.DataFrame:
    """Return the study's final log numbers next to each run's (mean of its last ``window`` iterations)."""
    ours = pd.DataFrame({f"{name} (ours, last {window} it.)": last_line(r, window) for name, r in runs.items()}).T
    iters = {f"{name} (ours, last {window} it.)": r.state.get("iteration") for name, r in runs.items()}
    table = pd.concat([STUDY_FINAL, ours])
    table["iterations"] = [None] * len(STUDY_FINAL) + list(iters.values())
    return table.round(4)


def plot_curves(run: GanRun, *, smooth: int = 10, study: str | None = None) -> Any:
    """Return a figure: losses (left) and D(x), D(G(z)) before/after the D update (right), with a running mean."""
    import matplotlib.pyplot as plt

    m = run.metrics
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.4))
    for ax, cols in ((ax1, [("Loss_D", "Loss_D"), ("Loss_G", "Loss_G")]),
                     (ax2, [("D_x", "D(x)"), ("D_G_z1", "D(G(z)) before D update"), ("D_G_z2", "D(G(z)) after D update")])):
        for col, label in cols:
            line, = ax.plot(m["iter"], m[col], alpha=0.25, linewidth=0.8)
            ax.plot(m["iter"], m[col].rolling(smooth, min_periods=1).mean(), color=line.get_color(), label=label)
        ax.set_xlabel("iteration")
        ax.legend(fontsize=7)
    ax1.set_title("losses")
    ax2.set_title("discriminator outputs")
    ax2.set_ylim(0, 1)
    if study is not None and study in STUDY_FINAL.index:
        s = STUDY_FINAL.loc[study]
        # The study's final numbers are a reference level, not a point of our run: drawn as dotted lines.
        for ax, keys in ((ax1, ("Loss_D", "Loss_G")), (ax2, ("D(x)", "D(G(z)) before", "D(G(z)) after"))):
            for key in keys:
                ax.axhline(s[key], color="black", linestyle=":", linewidth=0.8)
        ax1.text(0.99, 0.98, f"dotted: {study} (final)", transform=ax1.transAxes, ha="right", va="top", fontsize=7)
    fig.tight_layout()
    return fig


def progress_figure(run: GanRun, n: int = 3) -> Any:
    """Return a figure with n fixed-noise grids spread over training (first, ..., last), one above the other.

    Each grid is drawn at its native resolution (one screen pixel per image pixel at 80 dpi), so 64-px
    designs stay readable.
    """
    import matplotlib.pyplot as plt
    from PIL import Image

    grids = run.grids()
    if not grids:
        raise GanError(f"{run.run_dir} has no progress grids yet")
    if n == 1:
        pick = grids[-1:]  # one grid: the last one
    else:
        pick = [grids[i] for i in sorted({round(i * (len(grids) - 1) / max(n - 1, 1)) for i in range(n)})]
    images = []
    for path in pick:
        with Image.open(path) as im:
            images.append(np.asarray(im.convert("RGB")))
    h, w = images[0].shape[:2]
    dpi = 80
    fig, axes = plt.subplots(len(images), 1, figsize=(w / dpi, len(images) * (h + 18) / dpi), dpi=dpi)
    for ax, path, img in zip(np.atleast_1d(axes), pick, images):
        ax.imshow(img, interpolation="nearest")
        ax.set_title(f"iteration {int(path.stem.split('_')[1])}", fontsize=9)
        ax.axis("off")
    fig.subplots_adjust(left=0, right=1, bottom=0, top=1 - 18 / (len(images) * (h + 18)), hspace=18 / h)
    return fig


def real_vs_fake(run: GanRun, crops_dir: str | Path, *, n: int = 16, seed: int = 0) -> Any:
    """Return a figure: n real training crops (left) beside n generated designs of the same classes (right)."""
    import matplotlib.pyplot as plt

    from fashionlib.viz import to_display

    config = run.config
    crops = load_crops(crops_dir, "train", config.size, classes=config.classes)
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(crops), size=min(n, len(crops)), replace=False))
    names = [CLASS_NAMES[int(c)] for c in crops.labels[idx]]
    netG = run.generator()
    fake = generate(netG, len(idx), classes=names if netG.num_classes else None, seed=seed)
    cols = 4
    rows = math.ceil(len(idx) / cols)
    fig, axes = plt.subplots(rows, 2 * cols + 1, figsize=(1.3 * (2 * cols + 1), 1.4 * rows),
                             gridspec_kw={"width_ratios": [1] * cols + [0.15] + [1] * cols})
    axes = np.atleast_2d(axes)
    for ax in axes.ravel():
        ax.axis("off")
    for i in range(len(idx)):
        r, c = divmod(i, cols)
        axes[r, c].imshow(crops.images[idx[i]])
        axes[r, cols + 1 + c].imshow(to_display(fake[i]))
        axes[r, c].set_title(names[i], fontsize=7)
        axes[r, cols + 1 + c].set_title(names[i] if netG.num_classes else "", fontsize=7)
    fig.suptitle("real crops (left)  |  generated (right)", fontsize=10)
    fig.tight_layout()
    return fig


