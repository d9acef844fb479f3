"""Style inspiration: new designs per class, latent walks, and how good and how new they are.

Measuring designs offline. The usual FID needs Inception-v3 weights (about
100 MB, downloaded from the internet). The course's default instead is a
**Frechet distance in the feature space of a small classifier trained on the
crops themselves** (``crop_frechet_distance``): the same formula as FID, a
feature space that knows garments, nothing to download, seconds on a CPU. Its
numbers are not comparable with published FIDs; they are comparable with each
other (same classifier, same held-out crops). The standard Inception FID is
computed by :func:`inception_frechet_distance` when the weights are on disk.

Novelty: for every generated design, its nearest training crops in the same
feature space. Designs much closer to a training crop than held-out real crops
ever are would be copies, not designs.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from fashionlib.cropnet import crop_cnn_body
from fashionlib.crops import CLASS_IDS, CLASS_NAMES, load_crops
from fashionlib.gan import GanError, GanRun, Generator, build_generator, generate, to_uint8
from fashionlib.runio import atomic_torch_save

FEATURE_SIZE = 64  # the classifier sees 64x64 crops (128x128 images are area-downsampled)
FEATURE_NET = "feature_net.pt"
INCEPTION_ENV = "FASHIONLIB_INCEPTION_WEIGHTS"
FD_NAME = "Frechet distance (crop-classifier features)"
CELL = 1.1  # inches per design: about 60 px per 64 px design at the notebooks' 80 dpi (titles take the rest)


class InceptionWeightsMissing(FileNotFoundError):
    """Inception-v3 weights are not on disk (the message says how to get them)."""


# ---------------------------------------------------------------------------
# The crop classifier (feature space)
# ---------------------------------------------------------------------------


class CropClassifier(nn.Module):
    """Small CNN on 64x64 crops: garment type (3 classes) and, when known, the DeepFashion category."""

    def __init__(self, num_types: int = 3, num_categories: int = 0, width: int = 32, feature_dim: int = 128) -> None:
        super().__init__()
        self.body = crop_cnn_body(width, feature_dim)
        self.type_head = nn.Linear(feature_dim, num_types)
        self.category_head = nn.Linear(feature_dim, num_categories) if num_categories else None
        self.width, self.feature_dim = width, feature_dim

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Return (B, feature_dim) features of images in [-1, 1]."""
        if x.shape[-1] != FEATURE_SIZE:
            x = nn.functional.interpolate(x, size=(FEATURE_SIZE, FEATURE_SIZE), mode="area")
        return self.body(x)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Return (type logits, category logits or None)."""
        f = self.features(x)
        return self.type_head(f), (self.category_head(f) if self.category_head is not None else None)


def _as_input(images: Any) -> torch.Tensor:
    """Return float (B, 3, H, W) in [-1, 1] from uint8 NHWC arrays or float tensors already in [-1, 1]."""
    if isinstance(images, torch.Tensor) and images.is_floating_point():
        return images.float()
    arr = torch.from_numpy(np.ascontiguousarray(images)) if not isinstance(images, torch.Tensor) else images
    return arr.permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


@dataclass
class FeatureNet:
    """A trained crop classifier and how well it classifies held-out crops."""

    model: CropClassifier
    val_accuracy: float  # on held-out crops whose label the photo's annotation confirms
    val_category_accuracy: float | None
    epochs: int
    path: Path | None = None
    val_accuracy_all_labels: float | None = None  # against every held-out label, detector guesses included

    def summary(self) -> pd.DataFrame:
        """Return a one-row table: held-out accuracy on garment type (and category)."""
        row = {"feature dim": self.model.feature_dim, "epochs": self.epochs,
               "held-out type accuracy": round(self.val_accuracy, 3)}
        if self.val_accuracy_all_labels is not None:
            row["held-out type accuracy vs detector labels"] = round(self.val_accuracy_all_labels, 3)
        if self.val_category_accuracy is not None:
            row["held-out category accuracy"] = round(self.val_category_accuracy, 3)
        return pd.DataFrame([row], index=["crop classifier"])


def _category_index(crops_dir: Path) -> dict[int, int]:
    m = pd.read_csv(crops_dir / "manifest.csv")
    cats = sorted(int(c) for c in m["deepfashion_category"].unique() if c > 0)
    return {c: i for i, c in enumerate(cats)}


@torch.no_grad()
def _accuracy(model: CropClassifier, images: np.ndarray, types: np.ndarray, cats: np.ndarray) -> tuple[float, float | None]:
    model.eval()
    tp, cp = [], []
    for s in range(0, len(images), 256):
        t, c = model(_as_input(images[s : s + 256]))
        tp.append(t.argmax(1))
        if c is not None:
            cp.append(c.argmax(1))
    type_acc = float((torch.cat(tp).numpy() == types).mean())
    if not cp:
        return type_acc, None
    known = cats >= 0
    cat_acc = float((torch.cat(cp).numpy()[known] == cats[known]).mean()) if known.any() else None
    return type_acc, cat_acc


def train_feature_net(
    crops_dir: str | Path, *, epochs: int = 15, batch_size: int = 64, lr: float = 2e-3, seed: int = 0,
    progress: bool = True,
) -> FeatureNet:
    """Train the crop classifier on train-split crops (64 px); return it with its accuracy on val+test crops."""
    from tqdm.auto import tqdm

    crops_dir = Path(crops_dir)
    train = load_crops(crops_dir, "train", FEATURE_SIZE)
    held = [load_crops(crops_dir, s, FEATURE_SIZE) for s in ("val", "test") if _has_split(crops_dir, s)]
    cat_index = _category_index(crops_dir)
    use_cats = len(cat_index) > 1 and (train.manifest["deepfashion_category"] > 0).mean() > 0.5

    # A detector crop's class is the detector's guess; the photo's annotation confirms it when the crop carries the
    # photo's DeepFashion category (set only where detected and annotated garment types agree). The classifier is a
    # measuring instrument, so it learns from, and is scored on, confirmed labels only (all labels when no crop set
    # carries categories).
    confirm = (train.manifest["deepfashion_category"] > 0).mean() > 0.5

    def confirmed(cs: Any) -> np.ndarray:
        return (cs.manifest["deepfashion_category"].to_numpy() > 0) if confirm else np.ones(len(cs), bool)

    def targets(cs: Any) -> tuple[np.ndarray, np.ndarray]:
        types = np.where(confirmed(cs), cs.labels - 1, -1).astype(np.int64)
        cats = np.array([cat_index.get(int(c), -1) for c in cs.manifest["deepfashion_category"]], dtype=np.int64)
        return types, cats

    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = CropClassifier(num_types=len(CLASS_NAMES), num_categories=len(cat_index) if use_cats else 0)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    images = torch.from_numpy(np.ascontiguousarray(train.images))
    types, cats = (torch.from_numpy(a) for a in targets(train))
    batch_size = min(batch_size, max(8, len(images) // 4))  # small crop sets still get several steps per epoch
    steps = epochs * (len(images) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(steps, 1))
    ce = nn.CrossEntropyLoss(ignore_index=-1)
    bar = tqdm(total=steps, desc="crop classifier", disable=not progress, leave=False)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(images), generator=g)
        for s in range(0, len(perm) - batch_size + 1, batch_size):
            idx = perm[s : s + batch_size]
            x = _as_input(images[idx])
            flip = torch.rand(len(idx), generator=g) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(3), x)
            # Random shifts of up to 4 px: crops from a detector are not centred to the pixel either.
            dy, dx = (int(v) for v in torch.randint(-4, 5, (2,), generator=g))
            x = torch.roll(x, shifts=(dy, dx), dims=(2, 3))
            t_logits, c_logits = model(x)
            loss = ce(t_logits, types[idx])
            if c_logits is not None:
                loss = loss + ce(c_logits, cats[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            bar.update(1)
    bar.close()
    model.eval()
    noisy = None
    if held:
        h_images = np.concatenate([np.asarray(h.images) for h in held])
        h_t, h_c = (np.concatenate(a) for a in zip(*(targets(h) for h in held)))
        ok = h_t >= 0
        acc, cat_acc = _accuracy(model, h_images[ok], h_t[ok], h_c[ok])
        if not ok.all():  # also against every label as the crop set has it (detector guesses included)
            noisy = _accuracy(model, h_images, np.concatenate([h.labels - 1 for h in held]), h_c)[0]
    else:
        acc, cat_acc = float("nan"), None
    return FeatureNet(model, acc, cat_acc if use_cats else None, epochs, val_accuracy_all_labels=noisy)


def _has_split(crops_dir: Path, split: str) -> bool:
    return (crops_dir / "cache" / f"{split}_{FEATURE_SIZE}.npy").is_file()


def ensure_feature_net(crops_dir: str | Path, *, epochs: int = 15, seed: int = 0, progress: bool = True) -> FeatureNet:
    """Return the crop classifier of a crop folder: loaded from feature_net.pt when it matches, else trained and saved."""
    from fashionlib.gan import crops_id, parameter_count

    crops_dir = Path(crops_dir)
    path = crops_dir / FEATURE_NET
    probe = CropClassifier()
    key = {"crops_id": crops_id(crops_dir), "epochs": epochs, "seed": seed, "labels": "confirmed",
           "arch": [probe.width, probe.feature_dim, parameter_count(probe)]}
    if path.is_file():
        saved = torch.load(path, map_location="cpu", weights_only=False)
        if saved.get("key") == key:
            model = CropClassifier(**saved["arch"])
            model.load_state_dict(saved["state_dict"])
            return FeatureNet(model.eval(), saved["val_accuracy"], saved["val_category_accuracy"], epochs, path,
                              saved.get("val_accuracy_all_labels"))
    net = train_feature_net(crops_dir, epochs=epochs, seed=seed, progress=progress)
    arch = {"num_types": net.model.type_head.out_features,
            "num_categories": net.model.category_head.out_features if net.model.category_head is not None else 0,
            "width": net.model.width, "feature_dim": net.model.feature_dim}
    atomic_torch_save(path, {"key": key, "arch": arch, "state_dict": net.model.state_dict(),
                             "val_accuracy": net.val_accuracy, "val_category_accuracy": net.val_category_accuracy,
                             "val_accuracy_all_labels": net.val_accuracy_all_labels})
    net.path = path
    return net


@torch.no_grad()
def embed(net: FeatureNet | CropClassifier, images: Any, batch_size: int = 256) -> np.ndarray:
    """Return (N, D) float64 features of images (uint8 NHWC arrays, or float NCHW tensors in [-1, 1])."""
    model = net.model if isinstance(net, FeatureNet) else net
    model.eval()
    out = [model.features(_as_input(images[s : s + batch_size])).double().numpy()
           for s in range(0, len(images), batch_size)]
    return np.concatenate(out) if out else np.zeros((0, model.feature_dim))


# ---------------------------------------------------------------------------
# Frechet distance, diversity, novelty
# ---------------------------------------------------------------------------


def _sqrtm_psd(mat: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((mat + mat.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(feats_a: np.ndarray, feats_b: np.ndarray) -> float:
    """Return the Frechet distance between Gaussians fitted to two feature sets (rows = samples).

    ``|mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2))``; the trace of the square
    root is computed from the eigenvalues of ``S_a^(1/2) S_b S_a^(1/2)`` (symmetric,
    so no complex round-off, no SciPy needed).
    """
    a, b = np.asarray(feats_a, np.float64), np.asarray(feats_b, np.float64)
    if len(a) < 2 or len(b) < 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"need >= 2 samples of equal dimension on each side, got {a.shape} and {b.shape}")
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    root_a = _sqrtm_psd(s_a)
    eig = np.linalg.eigvalsh(root_a @ s_b @ root_a)
    tr_sqrt = float(np.sqrt(np.clip(eig, 0, None)).sum())
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a) + np.trace(s_b) - 2 * tr_sqrt)


def crop_frechet_distance(net: FeatureNet, images_a: Any, images_b: Any) -> float:
    """Return the Frechet distance of two image sets in the crop classifier's feature space."""
    return frechet_distance(embed(net, images_a), embed(net, images_b))


def diversity(feats: np.ndarray, max_n: int = 1000, seed: int = 0) -> float:
    """Return the mean pairwise Euclidean distance between samples (on at most max_n of them)."""
    feats = np.asarray(feats, np.float64)
    if len(feats) > max_n:
        feats = feats[np.random.default_rng(seed).choice(len(feats), max_n, replace=False)]
    d = np.sqrt(np.clip(_sq_dists(feats, feats), 0, None))
    n = len(feats)
    return float(d.sum() / max(n * (n - 1), 1))


def _sq_dists(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T


def nearest_neighbours(queries: np.ndarray, references: np.ndarray, k: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Return (distances, indices), each (N, k): the k nearest references of every query (Euclidean)."""
    d = np.sqrt(np.clip(_sq_dists(np.asarray(queries, np.float64), np.asarray(references, np.float64)), 0, None))
    idx = np.argsort(d, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(d, idx, axis=1), idx


def pixel_gaussian(train_images: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Return n uint8 images drawn from independent per-pixel Gaussians fitted to the training crops."""
    x = np.asarray(train_images, np.float64)
    mean, std = x.mean(0), x.std(0)
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(mean, std, size=(n, *mean.shape)).round(), 0, 255).astype(np.uint8)


def knn_radii(feats: np.ndarray, k: int = 3) -> np.ndarray:
    """Return each sample's distance to its k-th nearest *other* sample (the radius of its ball)."""
    d = np.sqrt(np.clip(_sq_dists(feats, feats), 0, None))
    np.fill_diagonal(d, np.inf)
    return np.partition(d, k - 1, axis=1)[:, k - 1]


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> tuple[float, float]:
    """Return improved precision and recall (Kynkaanniemi et al., NeurIPS 2019) of fake vs real features.

    Each sample gets a ball reaching its k-th nearest neighbour in its own set; the union of
    the real balls estimates the real manifold. Precision: the share of fakes inside it
    (designs that look like real crops). Recall: the share of reals inside the fakes'
    manifold (how much of the real variety the designs cover).
    """
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    d = np.sqrt(np.clip(_sq_dists(fake, real), 0, None))  # (n_fake, n_real)
    precision = float((d <= knn_radii(real, k)[None, :]).any(axis=1).mean())
    recall = float((d.T <= knn_radii(fake, k)[None, :]).any(axis=1).mean())
    return precision, recall


@torch.no_grad()
def predict_types(net: FeatureNet, images: Any) -> np.ndarray:
    """Return the classifier's garment type ids (1..3) for images."""
    net.model.eval()
    return np.concatenate([net.model(_as_input(images[s : s + 256]))[0].argmax(1).numpy() + 1
                           for s in range(0, len(images), 256)])


def score_images(images: Any, asked: Sequence[str] | None, net: FeatureNet, f_real: np.ndarray,
                 f_train: np.ndarray, real_nn: float, k: int = 3) -> dict[str, float | None]:
    """Return the design scores of an image set against held-out real features (see :func:`score_generator`)."""
    f = embed(net, images)
    precision, recall = precision_recall(f_real, f, k)
    inside = (np.sqrt(np.clip(_sq_dists(f, f_real), 0, None)) <= knn_radii(f_real, k)[None, :]).any(axis=1)
    nn_train = nearest_neighbours(f, f_train, 1)[0][:, 0]
    agree = None
    if asked is not None:
        agree = float((predict_types(net, images) == np.array([CLASS_IDS[c] for c in asked])).mean())
    return {FD_NAME: round(frechet_distance(f, f_real), 3), "precision": round(precision, 3),
            "recall": round(recall, 3), "class agreement": None if agree is None else round(agree, 3),
            # Novelty among the designs that pass the precision test only: a blob far from everything is not new.
            "precise designs closer to a train crop than held-out crops are (copies?)":
                round(float((nn_train[inside] < 0.5 * real_nn).mean()), 3) if inside.any() else None,
            "samples": len(f)}


def score_generator(netG: Any, crops_dir: str | Path, net: FeatureNet, *, n: int | None = None, seed: int = 0,
                    k: int = 3) -> dict[str, float | None]:
    """Return a generator's scores against the held-out real crops, in the crop classifier's features.

    Frechet distance (lower is better), improved precision and recall with k = 3 (higher is
    better), class agreement (the share of designs the classifier assigns to the asked
    class), and, among designs inside the real manifold, the share much closer (< half the
    held-out crops' median distance) to a training crop than held-out crops are: likely copies.
    ``n`` designs (default: as many as held-out crops) with classes in the training crops' shares.
    """
    size = netG.size
    classes = list(netG.class_names) if netG.num_classes else None
    train = load_crops(crops_dir, "train", size, classes=classes)
    real, _ = held_out(crops_dir, size, classes)
    f_real, f_train = embed(net, real), embed(net, train.images)
    real_nn = float(np.median(nearest_neighbours(f_real, f_train, 1)[0]))
    fake, names = sample_like(netG, train.labels, n or len(real), seed)
    return score_images(fake, names, net, f_real, f_train, real_nn, k)


def compare_designs(gens: dict[str, Any], crops_dir: str | Path, net: FeatureNet, *, seed: int = 0,
                    size: int = 64) -> pd.DataFrame:
    """Return one row of scores per generator, plus references: an untrained generator and real train crops.

    The real-crops row scores a sample of *training* crops exactly like designs (their class is their
    label), so it is the floor a perfect generator of the training crops would reach.
    """
    rows = {name: score_generator(g, crops_dir, net, seed=seed) for name, g in gens.items()}
    first = next(iter(gens.values()))
    rows["untrained generator (same init)"] = score_generator(build_generator(first.config), crops_dir, net, seed=seed)
    classes = list(first.class_names) if first.num_classes else None
    train = load_crops(crops_dir, "train", size, classes=classes)
    real, _ = held_out(crops_dir, size, classes)
    f_real, f_train = embed(net, real), embed(net, train.images)
    real_nn = float(np.median(nearest_neighbours(f_real, f_train, 1)[0]))
    pick = np.sort(np.random.default_rng(seed).choice(len(train), size=min(len(real), len(train)), replace=False))
    scores = score_images(np.asarray(train.images)[pick], [CLASS_NAMES[int(c)] for c in train.labels[pick]], net,
                          f_real, f_train, real_nn)
    scores["precise designs closer to a train crop than held-out crops are (copies?)"] = None  # they are train crops
    rows["real train crops (reference)"] = scores
    table = pd.DataFrame(rows).T
    table.index.name = "samples from"
    return table


# ---------------------------------------------------------------------------
# Design metrics (the bar)
# ---------------------------------------------------------------------------


def held_out(crops_dir: str | Path, size: int, classes: Sequence[str] | None = None) -> Any:
    """Return the held-out real crops (val + test) at a size, as a uint8 array and class ids."""
    crops_dir = Path(crops_dir)
    parts = [load_crops(crops_dir, s, size, classes) for s in ("val", "test")
             if (crops_dir / "cache" / f"{s}_{size}.npy").is_file()]
    if not parts:
        raise GanError(f"{crops_dir} has no val or test crops to compare with")
    return np.concatenate([np.asarray(p.images) for p in parts]), np.concatenate([p.labels for p in parts])


def sample_like(netG: Generator, labels: np.ndarray, n: int, seed: int = 0) -> tuple[torch.Tensor, list[str] | None]:
    """Return n designs whose classes follow the class frequencies of ``labels`` (ids 1..3), and their class names."""
    names = None
    if netG.num_classes:
        rng = np.random.default_rng(seed)
        known = [CLASS_IDS[c] for c in netG.class_names]
        pool = labels[np.isin(labels, known)]
        names = [CLASS_NAMES[int(c)] for c in rng.choice(pool, size=n, replace=True)]
    return generate(netG, n, classes=names, seed=seed), names


def recipe_bars(table: pd.DataFrame, study: str, recipe: str) -> pd.DataFrame:
    """Return the course's bars for the small-data recipe against the study's DCGAN (rows of a compare_designs table).

    The recipe's Frechet distance at most half the study's; its class agreement at least 0.70;
    its precision and its recall both above the study's.
    """
    s, r = table.loc[study], table.loc[recipe]
    rows = [
        ("Frechet distance <= half the study's", r[FD_NAME], s[FD_NAME] / 2, r[FD_NAME] <= s[FD_NAME] / 2),
        ("class agreement >= 0.70", r["class agreement"], 0.70, r["class agreement"] >= 0.70),
        ("precision above the study's", r["precision"], s["precision"], r["precision"] > s["precision"]),
        ("recall above the study's", r["recall"], s["recall"], r["recall"] > s["recall"]),
    ]
    out = pd.DataFrame(rows, columns=["bar", "small-data recipe", "threshold", "passed"]).set_index("bar")
    out[["small-data recipe", "threshold"]] = out[["small-data recipe", "threshold"]].astype(float).round(3)
    return out


# ---------------------------------------------------------------------------
# Novelty: nearest training crops
# ---------------------------------------------------------------------------


def novelty_figure(
    run: GanRun, crops_dir: str | Path, net: FeatureNet, *, n: int = 6, k: int = 3, seed: int = 1,
) -> Any:
    """Return a figure: n new designs, each beside its k nearest training crops (feature distance in titles)."""
    import matplotlib.pyplot as plt

    config = run.config
    train = load_crops(crops_dir, "train", config.size, classes=config.classes)
    netG = run.generator()
    # Only designs inside the real crops' manifold (the precision test) are judged: a blob far from every
    # training crop is not a new garment, just a failure.
    real, _ = held_out(crops_dir, config.size, config.classes)
    f_real, f_train = embed(net, real), embed(net, train.images)
    cand, cand_names = sample_like(netG, train.labels, 8 * n, seed)
    f_cand = embed(net, cand)
    inside = (np.sqrt(np.clip(_sq_dists(f_cand, f_real), 0, None)) <= knn_radii(f_real, 3)[None, :]).any(axis=1)
    keep = np.flatnonzero(inside)[:n]
    if len(keep) == 0:
        raise GanError(f"none of {len(cand)} designs passes the precision test: nothing to judge for novelty")
    n = len(keep)
    fake = cand[keep]
    names = [cand_names[i] for i in keep] if cand_names else None
    dist, idx = nearest_neighbours(f_cand[keep], f_train, k)
    # Reference: how far held-out real crops are from their nearest training crop.
    ref = float(np.median(nearest_neighbours(f_real, f_train, 1)[0]))
    fig, axes = plt.subplots(n, k + 1, figsize=(1.1 * (k + 1), 1.2 * n))
    axes = np.atleast_2d(axes)
    for r in range(n):
        axes[r, 0].imshow(to_uint8(fake[r : r + 1])[0])
        axes[r, 0].set_title(f"new {names[r] if names else ''}".strip(), fontsize=7, color="#e4572e")
        for j in range(k):
            axes[r, j + 1].imshow(train.images[idx[r, j]])
            axes[r, j + 1].set_title(f"#{j + 1}: d={dist[r, j]:.2f}", fontsize=7)
        for ax in axes[r]:
            ax.axis("off")
    fig.suptitle(f"nearest train crops (held-out real: median d={ref:.2f})", fontsize=8)
    fig.tight_layout()
    return fig


def sweep_change(netG: Generator, *, seed: int = 0, pairs: int = 64, steps: int = 8, k: int = 4,
                 values: Sequence[float] = (-3, -1.5, 0, 1.5, 3)) -> pd.DataFrame:
    """Return how much each way of moving through the generator changes the design (mean |pixel change| in [0, 2]).

    For a latent walk (slerp between two noises, same class), a class morph (same noise, class
    vector from one type to the next) and each slider sweep (-3 .. +3 along one direction), the
    mean absolute pixel difference between the first and the last picture, averaged over
    ``pairs`` starting points; beside it the same measure between two random designs of random
    classes: the "as different as two unrelated designs" reference.
    """
    gen = torch.Generator().manual_seed(seed)
    z0, z1 = torch.randn(pairs, netG.nz, generator=gen), torch.randn(pairs, netG.nz, generator=gen)
    kk = max(netG.num_classes, 1)
    ya = torch.randint(kk, (pairs,), generator=gen)
    yb = torch.randint(kk, (pairs,), generator=gen)
    names = list(getattr(netG, "class_names", ()))

    def draw(z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        return generate(netG, z=z, labels=y if netG.num_classes else None)

    def change(a: torch.Tensor, b: torch.Tensor) -> float:
        return float((a - b).abs().mean())

    rows = {"two random designs (reference)": change(draw(z0, ya), draw(z1, yb))}
    rows["latent walk, end to end (same class)"] = change(draw(z0, ya), draw(z1, ya))
    if netG.num_classes > 1:
        yb_other = (ya + 1) % netG.num_classes
        rows[f"class morph ({' -> '.join(names[:2]) if names else 'next class'} ...), same noise"] = change(
            draw(z0, ya), draw(z0, yb_other))
    dirs = latent_directions(netG.nz, k, seed)
    for i, d in enumerate(dirs):
        rows[f"slider {i + 1}: {values[0]:+g} -> {values[-1]:+g}"] = change(draw(z0 + values[0] * d, ya),
                                                                       draw(z0 + values[-1] * d, ya))
    table = pd.DataFrame({"mean |pixel change|": rows})
    table["vs two random designs"] = table["mean |pixel change|"] / rows["two random designs (reference)"]
    return table.round({"mean |pixel change|": 3, "vs two random designs": 2})


# ---------------------------------------------------------------------------
# Designs, interpolation, latent explorer
# ---------------------------------------------------------------------------


def designs_by_class(netG: Generator, per_class: int = 8, seed: int = 0) -> Any:
    """Return a figure with one row of new designs per class (or one unconditional grid)."""
    from fashionlib.viz import image_grid

    if netG.num_classes:
        names = [c for c in netG.class_names for _ in range(per_class)]
        z = torch.randn(per_class, netG.nz, generator=torch.Generator().manual_seed(seed)).repeat(netG.num_classes, 1)
        images = generate(netG, len(names), classes=names, z=z)
        titles = [n if i % per_class == 0 else "" for i, n in enumerate(names)]
        return image_grid(list(images), ncols=per_class, titles=titles, cell=CELL)
    images = generate(netG, 3 * per_class, seed=seed)
    return image_grid(list(images), ncols=per_class, cell=CELL)


def slerp(z0: torch.Tensor, z1: torch.Tensor, t: float) -> torch.Tensor:
    """Return the spherical interpolation between two noise vectors at t in [0, 1] (stays at typical norm)."""
    a, b = z0.flatten().double(), z1.flatten().double()
    omega = torch.arccos(torch.clamp(torch.dot(a / a.norm(), b / b.norm()), -1.0, 1.0))
    if float(omega) < 1e-6:
        return ((1 - t) * z0 + t * z1).to(z0.dtype)
    so = torch.sin(omega)
    out = (torch.sin((1 - t) * omega) / so) * a + (torch.sin(t * omega) / so) * b
    return out.reshape(z0.shape).to(z0.dtype)


def interpolate(z0: torch.Tensor, z1: torch.Tensor, steps: int = 8, method: str = "slerp") -> torch.Tensor:
    """Return (steps, nz) noise vectors from z0 to z1 (both included), linear or spherical."""
    if method not in ("slerp", "linear"):
        raise ValueError(f"method must be 'slerp' or 'linear', got {method!r}")
    ts = torch.linspace(0, 1, steps).tolist()
    if method == "linear":
        return torch.stack([(1 - t) * z0 + t * z1 for t in ts])
    return torch.stack([slerp(z0, z1, t) for t in ts])


def interpolation_figure(
    netG: Generator, *, rows: int = 3, steps: int = 8, seed: int = 0, classes: Sequence[str] | None = None,
) -> Any:
    """Return a figure: each row walks (slerp) from one random design to another of the same class."""
    from fashionlib.viz import image_grid

    gen = torch.Generator().manual_seed(seed)
    images, titles = [], []
    pool = list(classes or (netG.class_names if netG.num_classes else [None]))
    for r in range(rows):
        z0, z1 = torch.randn(2, netG.nz, generator=gen)
        cls = pool[r % len(pool)]
        zs = interpolate(z0, z1, steps)
        images += list(generate(netG, steps, z=zs, classes=cls if cls else None))
        titles += [(f"{cls} " if cls and i == 0 else "") + f"t={t:.2f}"
                   for i, t in enumerate(torch.linspace(0, 1, steps).tolist())]
    return image_grid(images, ncols=steps, titles=titles, cell=CELL)


def class_morph_figure(netG: Generator, *, steps: int = 8, seed: int = 0) -> Any:
    """Return a figure: the same noise, the class vector moving upper -> lower -> full (conditional generators)."""
    from fashionlib.viz import image_grid

    if not netG.num_classes:
        raise GanError("class morphing needs a conditional generator (train with conditional=True)")
    gen = torch.Generator().manual_seed(seed)
    k = netG.num_classes
    pairs = [(i, (i + 1) % k) for i in range(min(k, 3))] if k > 1 else []
    z = torch.randn(len(pairs), netG.nz, generator=gen)
    ts = torch.linspace(0, 1, steps)
    device = next(netG.parameters()).device
    images, titles = [], []
    for r, (a, b) in enumerate(pairs):
        soft = torch.zeros(steps, k)
        soft[:, a], soft[:, b] = 1 - ts, ts
        with torch.no_grad():
            images += list(netG(z[r].repeat(steps, 1).to(device), soft.to(device)).float().cpu())
        titles += [netG.class_names[a]] + [f"{t:.2f}" for t in ts.tolist()[1:-1]] + [netG.class_names[b]]
    return image_grid(images, ncols=steps, titles=titles, cell=CELL)


def latent_directions(nz: int, k: int = 6, seed: int = 0) -> torch.Tensor:
    """Return k orthonormal directions in noise space (seeded), the explorer's slider axes."""
    q, _ = torch.linalg.qr(torch.randn(nz, k, generator=torch.Generator().manual_seed(seed)))
    return q.T.contiguous()


def explorer_sweep(
    netG: Generator, *, cls: str | None = None, seed: int = 0, k: int = 6, values: Sequence[float] = (-3, -1.5, 0, 1.5, 3),
) -> Any:
    """Return the static picture of the latent explorer: one row per slider, the design at each slider value."""
    from fashionlib.viz import image_grid

    z0 = torch.randn(1, netG.nz, generator=torch.Generator().manual_seed(seed))[0]
    dirs = latent_directions(netG.nz, k, seed)
    zs = torch.stack([z0 + v * d for d in dirs for v in values])
    cls = cls if cls is not None or not netG.num_classes else netG.class_names[0]
    images = generate(netG, len(zs), z=zs, classes=cls)
    titles = [f"s{i + 1}={v:+g}" for i in range(k) for v in values]
    return image_grid(list(images), ncols=len(values), titles=titles, cell=CELL)


def _png(image: torch.Tensor, scale: int = 3) -> bytes:
    import io

    from PIL import Image

    arr = to_uint8(image[None])[0]
    img = Image.fromarray(arr).resize((arr.shape[1] * scale, arr.shape[0] * scale), Image.Resampling.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def latent_explorer(
    netG: Generator, *, seed: int = 0, k: int = 6, show_static: bool = True, cls: str | None = None,
) -> Any:
    """Return an ipywidgets explorer (class, seed, k direction sliders -> live design); shows its static sweep first."""
    import ipywidgets as widgets

    if show_static:
        import matplotlib.pyplot as plt

        explorer_sweep(netG, cls=cls, seed=seed, k=k)
        plt.show()
    dirs = latent_directions(netG.nz, k, seed)
    seed_box = widgets.IntSlider(value=seed, min=0, max=999, description="seed")
    sliders = [widgets.FloatSlider(value=0.0, min=-3.0, max=3.0, step=0.25, description=f"slider {i + 1}",
                                   continuous_update=False) for i in range(k)]
    choices = list(netG.class_names) if netG.num_classes else []
    cls_box = widgets.Dropdown(options=choices, value=cls or (choices[0] if choices else None),
                               description="class") if choices else None
    image = widgets.Image(format="png", width=192, height=192)

    def redraw(_change: Any = None) -> None:
        z0 = torch.randn(1, netG.nz, generator=torch.Generator().manual_seed(int(seed_box.value)))[0]
        z = z0 + sum(s.value * d for s, d in zip(sliders, dirs))
        image.value = _png(generate(netG, 1, z=z[None], classes=cls_box.value if cls_box else None)[0])

    for w in [seed_box, *sliders] + ([cls_box] if cls_box else []):
        w.observe(redraw, names="value")
    redraw()
    controls = widgets.VBox(([cls_box] if cls_box else []) + [seed_box, *sliders])
    return widgets.HBox([controls, image])


# ---------------------------------------------------------------------------
# Finding a generator (notebook 07)
# ---------------------------------------------------------------------------


def find_run(profile: Any, size: int = 64, recipe: str = "small-data", *, train_if_missing: bool = True) -> GanRun:
    """Return the finished run of notebook 06 for a recipe (same settings, same crops), or train it when missing."""
    from fashionlib.crops import ensure_crops
    from fashionlib.gan import default_config, ensure_gan, read_state, run_dir_for, settings_key

    config = default_config(profile, size, recipe)
    crops_dir = ensure_crops(profile)
    base = run_dir_for(profile, config)
    run_dir = base.with_name(f"{base.name}_{settings_key(config, crops_dir)}")
    if not train_if_missing and read_state(run_dir).get("status") != "finished":
        raise GanError(f"no trained {size}x{size} {recipe} generator in {profile.run_dir}: run notebook 06 first")
    return ensure_gan(profile, size, config=config, crops_dir=crops_dir)


# ---------------------------------------------------------------------------
# Standard Inception FID (only with local weights)
# ---------------------------------------------------------------------------

INCEPTION_HELP = (
    "Inception-v3 weights are not on this machine, so the standard FID is skipped (the crop-classifier "
    "Frechet distance above needs no download). To get them, with internet (e.g. on Colab), run once:\n"
    "    import torchvision; torchvision.models.inception_v3(weights='DEFAULT')\n"
    "which saves ~100 MB to ~/.cache/torch/hub/checkpoints/, or point FASHIONLIB_INCEPTION_WEIGHTS at a "
    "torchvision inception_v3 state-dict file."
)


def find_inception_weights() -> Path | None:
    """Return a local torchvision Inception-v3 weights file ($FASHIONLIB_INCEPTION_WEIGHTS or the torch hub cache)."""
    env = os.environ.get(INCEPTION_ENV)
    if env:
        return Path(env) if Path(env).is_file() else None
    hub = Path(torch.hub.get_dir()) / "checkpoints"
    found = sorted(hub.glob("inception_v3_google-*.pth")) if hub.is_dir() else []
    return found[0] if found else None


def inception_model(weights: str | Path | None = None) -> nn.Module:
    """Return torchvision's Inception-v3 with local weights, up to its 2048-d pooled features (never downloads)."""
    import torchvision

    path = Path(weights) if weights is not None else find_inception_weights()
    if path is None or not path.is_file():
        raise InceptionWeightsMissing(INCEPTION_HELP)
    model = torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=False, transform_input=False)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    model.fc = nn.Identity()
    return model.eval()


@torch.no_grad()
def inception_features(model: nn.Module, images: Any, batch_size: int = 32) -> np.ndarray:
    """Return (N, 2048) pooled Inception features of images resized to 299x299."""
    out = []
    for s in range(0, len(images), batch_size):
        x = _as_input(images[s : s + batch_size])
        # torchvision's weights expect ImageNet normalisation; transform_input=False + [-1, 1] inputs is the
        # same mapping the pretrained model applies internally (x - 0.5) / 0.5 per channel.
        x = nn.functional.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        out.append(model(x).double().numpy())
    return np.concatenate(out)


def inception_frechet_distance(images_a: Any, images_b: Any, *, weights: str | Path | None = None) -> float:
    """Return the FID (torchvision Inception-v3 features) between two image sets; needs local weights."""
    model = inception_model(weights)
    return frechet_distance(inception_features(model, images_a), inception_features(model, images_b))


def inception_report(run: GanRun, crops_dir: str | Path, *, n: int = 500, seed: int = 0) -> pd.DataFrame | None:
    """Return the standard FID of the trained generator (and of the train crops) to held-out crops, or print how to get the weights."""
    if find_inception_weights() is None:
        print(INCEPTION_HELP)
        return None
    model = inception_model()
    config = run.config
    real, _ = held_out(crops_dir, config.size, config.classes)
    train = load_crops(crops_dir, "train", config.size, classes=config.classes)
    fake, _ = sample_like(run.generator(), train.labels, n, seed)
    f_real = inception_features(model, real)
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(train), size=min(n, len(train)), replace=False))
    rows = {"trained generator": frechet_distance(inception_features(model, fake), f_real),
            "real train crops (floor)": frechet_distance(inception_features(model, np.asarray(train.images)[pick]), f_real)}
    return pd.DataFrame({"FID (Inception-v3, torchvision weights)": rows}).round(2)
