"""Styles: non-negative matrix factorisation of the image x attribute matrix (as in Al-Halah et al., ICCV 2017).

NMF writes the 0/1 matrix X (images x attributes) as W H with W, H >= 0: each of the k rows of H
is a *style*, a weighted bundle of attributes that occur together; each row of W says how much of
each style an image shows. Non-negativity makes styles additive parts ("floral + chiffon +
summer"), which is why Fashion Forward used it. scikit-learn's ``NMF`` does the fitting.

Choosing k, the stated criterion (:func:`choose_k`): fit k = 2, 3, ... on all images and on
bootstrap resamples of them; a k's **stability** is the mean cosine similarity between the
styles of the resampled fits and those of the full fit, after pairing them optimally. The
chosen k is the **most stable k; among the ks within 0.005 of the best stability, the largest**.
More styles always explain more of the matrix (the relative reconstruction error
``||X - WH||_F / ||X||_F`` falls with k), but styles that change when the images are resampled
describe noise, not the catalogue; too few styles are unstable too, since which real styles
get merged is then arbitrary. ``rule="elbow"`` instead takes the smallest k after which one
more style lowers the relative error by less than ``min_gain``.

Styles are cross-sectional (what goes together in the catalogue), not a forecast.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from fashionlib.trends import CROSS_SECTIONAL
from fashionlib.trends.catalogue import AttributeTable, TrendsInputError

MIN_GAIN = 0.02  # elbow rule: one more style must cut the relative error by at least 2 points
STABILITY_TOLERANCE = 0.005  # stability rule: ks this close to the most stable one count as equally stable


@dataclass
class Styles:
    """A fitted factorisation: W (images x k), H (k x attributes), the attribute names and the error."""

    W: np.ndarray
    H: np.ndarray
    attributes: pd.DataFrame  # name, type_name
    relative_error: float

    @property
    def k(self) -> int:
        """Return the number of styles."""
        return self.H.shape[0]

    def dominant(self) -> np.ndarray:
        """Return each image's dominant style (-1 for images with no positive attribute)."""
        out = self.W.argmax(axis=1)
        return np.where(self.W.sum(axis=1) > 0, out, -1)


def _nmf(X: Any, k: int, seed: int, max_iter: int) -> tuple[np.ndarray, np.ndarray]:
    import warnings

    from sklearn.decomposition import NMF
    from sklearn.exceptions import ConvergenceWarning

    model = NMF(n_components=k, init="nndsvda", random_state=seed, max_iter=max_iter, tol=1e-4)
    with warnings.catch_warnings():
        # A few hundred iterations are enough to rank k; a not-quite-converged fit is not an error here.
        warnings.simplefilter("ignore", ConvergenceWarning)
        W = model.fit_transform(X)
    return W, model.components_


def _relative_error(X: Any, W: np.ndarray, H: np.ndarray) -> float:
    """Return ||X - WH||_F / ||X||_F without forming WH densely for all rows at once."""
    x2 = float(X.multiply(X).sum())
    # ||X - WH||^2 = ||X||^2 - 2 <X, WH> + ||WH||^2, each term from small products.
    cross = float((X @ H.T).ravel() @ W.ravel())
    wh2 = float(np.sum((W.T @ W) * (H @ H.T)))
    return float(np.sqrt(max(x2 - 2 * cross + wh2, 0.0) / max(x2, 1e-12)))


def fit_styles(table: AttributeTable, k: int, seed: int = 0, max_iter: int = 400) -> Styles:
    """Return k NMF styles of the attribute table (images without any positive simply get W = 0)."""
    if not 1 <= k <= min(table.shape):
        raise TrendsInputError(f"k must be between 1 and {min(table.shape)}, found {k}")
    X = table.X.astype(np.float64)
    W, H = _nmf(X, k, seed, max_iter)
    # Scale each style to unit maximum weight so H reads as "how strongly", W carries the magnitude.
    scale = np.maximum(H.max(axis=1), 1e-12)
    W, H = W * scale, H / scale[:, None]
    order = np.argsort(-W.sum(axis=0), kind="stable")  # style 0 = the most widespread
    return Styles(W[:, order], H[order], table.attributes.reset_index(drop=True), _relative_error(X, W, H))


def match_styles(H_a: np.ndarray, H_b: np.ndarray) -> float:
    """Return the mean cosine similarity of two style sets after optimally pairing them (1 = identical)."""
    from scipy.optimize import linear_sum_assignment

    a = H_a / np.maximum(np.linalg.norm(H_a, axis=1, keepdims=True), 1e-12)
    b = H_b / np.maximum(np.linalg.norm(H_b, axis=1, keepdims=True), 1e-12)
    sim = a @ b.T
    rows, cols = linear_sum_assignment(-sim)
    return float(sim[rows, cols].mean())


def choose_k(table: AttributeTable, ks: Sequence[int] = range(2, 13), *, rule: str = "stability",
             tolerance: float = STABILITY_TOLERANCE, min_gain: float = MIN_GAIN, n_boot: int = 3, seed: int = 0,
             max_iter: int = 300, max_images: int | None = 20_000, progress: bool = False) -> tuple[int, pd.DataFrame]:
    """Return (chosen k, table of k / relative error / gain of the next k / stability) by the stated rule.

    ``max_images`` caps the images used (a seeded random subset): at full scale 289k rows x
    (1 + n_boot) fits per k would take long, and 20,000 images already pin the styles down.
    """
    from tqdm.auto import tqdm

    ks = sorted(set(int(k) for k in ks))
    if len(ks) < 2:
        raise TrendsInputError(f"choose_k needs at least two values of k, found {ks}")
    if rule not in ("stability", "elbow"):
        raise TrendsInputError(f"rule must be 'stability' or 'elbow', found {rule!r}")
    X = table.X.astype(np.float64).tocsr()
    rng = np.random.default_rng(seed)
    if max_images is not None and X.shape[0] > max_images:
        X = X[np.sort(rng.choice(X.shape[0], max_images, replace=False))]
    boots = [rng.integers(0, X.shape[0], X.shape[0]) for _ in range(n_boot)]
    rows = []
    for k in tqdm(ks, desc="NMF k", disable=not progress, leave=False):
        W, H = _nmf(X, k, seed, max_iter)
        stab = [match_styles(H, _nmf(X[b], k, seed, max_iter)[1]) for b in boots]
        rows.append({"k": k, "relative_error": _relative_error(X, W, H),
                     "stability": float(np.mean(stab)) if stab else np.nan})
    frame = pd.DataFrame(rows)
    frame["gain_of_next_k"] = frame["relative_error"].diff(-1)  # e(k) - e(k+1)
    if rule == "stability":
        stab = frame["stability"].to_numpy()
        chosen = int(frame["k"][stab >= np.nanmax(stab) - tolerance].max())
        criterion = f"most stable k under bootstrap (largest k within {tolerance} of the best)"
    else:
        below = np.flatnonzero(frame["gain_of_next_k"].to_numpy() < min_gain)
        chosen = int(frame["k"].iloc[below[0]]) if below.size else int(frame["k"].iloc[-1])
        criterion = f"smallest k after which one more style lowers the relative error by less than {min_gain:.2f}"
    frame["chosen"] = frame["k"] == chosen
    frame.attrs["criterion"] = criterion
    return chosen, frame


def plot_choose_k(frame: pd.DataFrame) -> Any:
    """Return a figure: relative reconstruction error and stability against k, the chosen k marked."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    ax.plot(frame["k"], frame["relative_error"], "o-", color="#4c72b0", label="relative error")
    ax.set_xlabel("k (styles)")
    ax.set_ylabel("||X - WH|| / ||X||", color="#4c72b0")
    k = int(frame.loc[frame["chosen"], "k"].iloc[0])
    ax.axvline(k, color="0.5", ls="--")
    ax.text(k, ax.get_ylim()[1], f" chosen k = {k}", va="top", fontsize=9)
    ax2 = ax.twinx()
    ax2.plot(frame["k"], frame["stability"], "s:", color="#dd8452", label="stability")
    ax2.set_ylabel("stability (bootstrap cosine)", color="#dd8452")
    ax2.set_ylim(min(0.8, float(frame["stability"].min()) - 0.02), 1.005)
    ax.set_title(frame.attrs.get("criterion", "elbow of the reconstruction error"), fontsize=9)
    fig.tight_layout()
    return fig


def style_table(styles: Styles, top: int = 6) -> pd.DataFrame:
    """Return one row per style: share of images it dominates and its top attributes with weights."""
    dom = styles.dominant()
    rows = []
    names = styles.attributes["name"].to_numpy()
    for s in range(styles.k):
        order = np.argsort(-styles.H[s], kind="stable")[:top]
        rows.append({"style": s, "images dominated": int((dom == s).sum()),
                     "share": round(float((dom == s).mean()), 3),
                     "top attributes (weight)": ", ".join(f"{names[j]} ({styles.H[s, j]:.2f})"
                                                          for j in order if styles.H[s, j] > 0.05)})
    out = pd.DataFrame(rows).set_index("style")
    out.attrs["note"] = CROSS_SECTIONAL
    return out


def typical_images(styles: Styles, n: int = 6, groups: Sequence[Any] | None = None) -> dict[int, np.ndarray]:
    """Return, per style, the n images it dominates most strongly (highest W among images where it is dominant).

    ``groups`` (e.g. the product folder of each image) keeps at most one image per group, so the
    row shows n different products rather than n photos of the same one.
    """
    dom = styles.dominant()
    out = {}
    for s in range(styles.k):
        idx = np.flatnonzero(dom == s)
        idx = idx[np.argsort(-styles.W[idx, s], kind="stable")]
        if groups is not None:
            _, first = np.unique(np.asarray(groups)[idx], return_index=True)
            idx = idx[np.sort(first)]
        out[s] = idx[:n]
    return out


def style_gallery(styles: Styles, ds: Any, n: int = 6, top: int = 4, size: int = 72) -> Any:
    """Return a figure: one row per style, its top attributes as the label and its most typical garments (box crops)."""
    import matplotlib.pyplot as plt
    from PIL import Image

    from fashionlib.crops import crop_garment

    folders = ds.images["image_name"].str.rsplit("/", n=1).str[0].to_numpy()  # img/<product>/img_k.jpg
    typical = typical_images(styles, n, groups=folders)
    names = styles.attributes["name"].to_numpy()
    fig, axes = plt.subplots(styles.k, n, figsize=(1.0 * n + 2.6, 1.05 * styles.k + 0.5), squeeze=False)
    for s in range(styles.k):
        label = "\n".join(names[j] for j in np.argsort(-styles.H[s], kind="stable")[:top])
        for j, ax in enumerate(axes[s]):
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if j < len(typical[s]):
                i = int(typical[s][j])
                row = ds.images.iloc[i]
                box = (row["x_1"], row["y_1"], row["x_2"] - row["x_1"], row["y_2"] - row["y_1"])
                with Image.open(ds.image_path(i)) as im:
                    ax.imshow(crop_garment(im, box, size=size))
            if j == 0:
                ax.set_ylabel(f"style {s}\n{label}", rotation=0, ha="right", va="center", fontsize=7.5)
    fig.suptitle(f"{styles.k} NMF styles: top attributes and most typical garments ({CROSS_SECTIONAL})", fontsize=10)
    fig.tight_layout()
    return fig
