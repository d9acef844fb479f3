"""An attribute predictor on garment crops, evaluated the DeepFashion way, and applied to designs.

The predictor is a small CNN with one logit per attribute, trained with multi-label binary
cross-entropy on the *train* crops of a crop folder (each crop takes the attribute labels of
the photo it was cut from). It is evaluated as the benchmark's evaluation code does
(Liu et al., CVPR 2016; mmfashion's ``AttrCalculator``): rank all attributes for each held-out
crop; an attribute's **top-k recall** is the share of the crops that carry it where it is among
the k highest-ranked; a type's recall (texture, fabric, shape, part, style) is the mean over
its attributes. Beside it: a **frequency baseline** that ranks attributes by how common they
are in the training crops, the same for every crop (and the stronger per-garment-type
version, which ranks by frequency within the crop's garment type).

Images everywhere in this module: **uint8 arrays (N, H, W, 3)** as stored by
:func:`fashionlib.crops.load_crops`, or **float tensors (N, 3, H, W) in [-1, 1]** as returned by
:func:`fashionlib.gan.generate`. Sizes other than 64 x 64 are area-resampled to 64.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from fashionlib.cropnet import crop_cnn_body
from fashionlib.crops import CLASS_NAMES, load_crops
from fashionlib.runio import atomic_torch_save
from fashionlib.trends.catalogue import AttributeTable, TrendsInputError
from fashionlib.trends.prevalence import wilson_interval

INPUT_SIZE = 64
TOP_KS = (3, 5)
MODEL_FILE = "attribute_net.pt"
TYPE_ORDER = ("texture", "fabric", "shape", "part", "style")


# ---------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------


def as_model_input(images: Any) -> torch.Tensor:
    """Return float (N, 3, 64, 64) in [-1, 1] from uint8 NHWC arrays/tensors or float NCHW tensors in [-1, 1]."""
    if isinstance(images, torch.Tensor) and images.is_floating_point():
        x = images.detach().float().cpu()
        if x.ndim != 4 or x.shape[1] != 3:
            raise TrendsInputError(f"float images must be (N, 3, H, W) in [-1, 1], found shape {tuple(x.shape)}")
    else:
        arr = images if isinstance(images, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(images))
        if arr.dtype != torch.uint8 or arr.ndim != 4 or arr.shape[-1] != 3:
            raise TrendsInputError(f"images must be uint8 (N, H, W, 3) or float (N, 3, H, W) in [-1, 1], "
                                   f"found {arr.dtype} with shape {tuple(arr.shape)}")
        x = arr.permute(0, 3, 1, 2).float().div(127.5).sub(1.0)
    if x.shape[-1] != INPUT_SIZE or x.shape[-2] != INPUT_SIZE:
        x = nn.functional.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="area")
    return x


def crop_targets(manifest: pd.DataFrame, table: AttributeTable, columns: np.ndarray) -> np.ndarray:
    """Return the (crops, attributes) 0/1 float32 targets of crops: the labels of the photo each was cut from."""
    row_of = pd.Series(np.arange(table.shape[0]), index=table.images["image_name"].to_numpy())
    missing = ~manifest["source_image"].isin(row_of.index)
    if missing.any():
        name = manifest["source_image"][missing].iloc[0]
        raise TrendsInputError(f"crop source image {name} is not in the attribute table "
                               f"({int(missing.sum())} crops unmatched): crops and dataset differ")
    rows = row_of.loc[manifest["source_image"]].to_numpy()
    return np.asarray(table.X[rows][:, columns].todense(), dtype=np.float32)


@dataclass
class CropAttributes:
    """Crops of one or more splits with their attribute targets (only crops whose class is the photo's garment type)."""

    images: np.ndarray  # uint8 (N, 64, 64, 3)
    targets: np.ndarray  # float32 (N, K)
    classes: np.ndarray  # class names per crop (upper / lower / full)


def load_crop_attributes(crops_dir: str | Path, table: AttributeTable, columns: np.ndarray,
                         splits: Sequence[str]) -> CropAttributes:
    """Return crops of the splits with targets; a detector crop of another garment than the labelled one is dropped."""
    parts = []
    type_of = pd.Series(table.images["type_name"].to_numpy(), index=table.images["image_name"].to_numpy())
    for split in splits:
        cs = load_crops(crops_dir, split, INPUT_SIZE)
        classes = np.array([CLASS_NAMES[int(c)] for c in cs.labels])
        # The attribute labels describe the photo's annotated garment only.
        keep = type_of.reindex(cs.manifest["source_image"]).to_numpy() == classes
        idx = np.flatnonzero(keep)
        parts.append(CropAttributes(np.asarray(cs.images[idx]), crop_targets(cs.manifest.iloc[idx], table, columns),
                                    classes[idx]))
    return CropAttributes(np.concatenate([p.images for p in parts]), np.concatenate([p.targets for p in parts]),
                          np.concatenate([p.classes for p in parts]))


# ---------------------------------------------------------------------------
# The model and its training step
# ---------------------------------------------------------------------------


class AttributeNet(nn.Module):
    """Small CNN on 64x64 crops: four stride-2 stages, global average pooling, one logit per attribute."""

    def __init__(self, num_attributes: int, width: int = 24, feature_dim: int = 192) -> None:
        super().__init__()
        self.body = crop_cnn_body(width, feature_dim)
        self.head = nn.Linear(feature_dim, num_attributes)
        self.width, self.feature_dim = width, feature_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return (B, K) attribute logits of images in [-1, 1]."""
        return self.head(self.body(x))


def train_step(model: AttributeNet, opt: torch.optim.Optimizer, images: torch.Tensor, targets: torch.Tensor,
               flip: torch.Tensor) -> float:
    """One multi-label step: random horizontal flip, BCE over all attributes, update; return the loss."""
    x = as_model_input(images)
    x = torch.where(flip[:, None, None, None], x.flip(3), x)  # a mirrored garment has the same attributes
    loss = nn.functional.binary_cross_entropy_with_logits(model(x), targets)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.item()


@torch.no_grad()
def predict_proba(predictor: AttributePredictor | AttributeNet, images: Any, batch_size: int = 256) -> np.ndarray:
    """Return (N, K) attribute probabilities of images (uint8 NHWC or float NCHW in [-1, 1], 64 x 64)."""
    model = predictor.model if isinstance(predictor, AttributePredictor) else predictor
    model.eval()
    out = [torch.sigmoid(model(as_model_input(images[s : s + batch_size]))).numpy()
           for s in range(0, len(images), batch_size)]
    return np.concatenate(out) if out else np.zeros((0, model.head.out_features), dtype=np.float32)


# ---------------------------------------------------------------------------
# Top-k recall, the benchmark's way
# ---------------------------------------------------------------------------


def topk_recall(scores: np.ndarray, targets: np.ndarray, attribute_types: Sequence[str],
                ks: Sequence[int] = TOP_KS) -> pd.DataFrame:
    """Return top-k recall (%) per attribute type and 'all': mean over attributes of their per-attribute recall."""
    scores, targets = np.asarray(scores, dtype=float), np.asarray(targets) > 0
    if scores.shape != targets.shape:
        raise TrendsInputError(f"scores {scores.shape} and targets {targets.shape} must have the same shape")
    types = np.asarray(attribute_types)
    present = targets.sum(axis=0) > 0  # attributes without a held-out positive have no recall
    # Rank with a stable sort on -score: ties (e.g. the baseline's equal rows) break by column order.
    order = np.argsort(-scores, axis=1, kind="stable")
    rows = {}
    for k in ks:
        in_top = np.zeros_like(targets)
        np.put_along_axis(in_top, order[:, :k], True, axis=1)
        recall = (in_top & targets).sum(axis=0) / np.maximum(targets.sum(axis=0), 1)
        col = {}
        for t in [*[t for t in TYPE_ORDER if t in set(types)], "all"]:
            sel = present & ((types == t) if t != "all" else True)
            col[t] = 100 * float(recall[sel].mean()) if sel.any() else np.nan
        rows[f"top-{k} recall %"] = col
    return pd.DataFrame(rows)


def frequency_scores(train_targets: np.ndarray, n: int, classes: np.ndarray | None = None,
                     train_classes: np.ndarray | None = None) -> np.ndarray:
    """Return baseline scores: each attribute's training frequency, overall or within the crop's garment type."""
    overall = train_targets.mean(axis=0)
    if classes is None:
        return np.tile(overall, (n, 1))
    out = np.empty((n, train_targets.shape[1]))
    for c in np.unique(classes):
        within = train_targets[train_classes == c]
        out[classes == c] = within.mean(axis=0) if len(within) else overall
    return out


# ---------------------------------------------------------------------------
# Training, evaluation, caching
# ---------------------------------------------------------------------------


@dataclass
class AttributePredictor:
    """A trained attribute CNN, its vocabulary, training label rates and held-out evaluation."""

    model: AttributeNet
    attributes: pd.DataFrame  # name, type_name (column order of the logits)
    label_rates: pd.DataFrame  # share of training crops carrying each attribute: columns all, upper, lower, full
    recall: pd.DataFrame = field(default_factory=pd.DataFrame)  # predictor and baselines, per type
    held_out_rates: pd.DataFrame = field(default_factory=pd.DataFrame)  # share recognised (p >= 0.5) on real held-out crops
    history: list[float] = field(default_factory=list)
    path: Path | None = None

    @property
    def names(self) -> list[str]:
        """Return the attribute names in logit order."""
        return self.attributes["name"].tolist()

    def column(self, attribute: str) -> int:
        """Return the logit index of an attribute (one-line error naming the vocabulary when unknown)."""
        hits = np.flatnonzero(self.attributes["name"].to_numpy() == attribute)
        if not hits.size:
            close = [n for n in self.names if attribute.lower() in n.lower()][:5]
            raise TrendsInputError(f"the predictor does not know attribute {attribute!r} (too rare in the training "
                                   f"crops or misspelt); similar: {close or 'none'}")
        return int(hits[0])


def _class_rates(targets: np.ndarray, classes: np.ndarray, index: pd.Index) -> pd.DataFrame:
    cols = {"all": targets.mean(axis=0)}
    for c in ("upper", "lower", "full"):
        sel = classes == c
        cols[c] = targets[sel].mean(axis=0) if sel.any() else np.full(targets.shape[1], np.nan)
    return pd.DataFrame(cols, index=index)


def evaluate(predictor: AttributePredictor, held: CropAttributes, train: CropAttributes) -> pd.DataFrame:
    """Return top-3/top-5 recall (%) per attribute type of the predictor and both frequency baselines, side by side."""
    types = predictor.attributes["type_name"].to_numpy()
    probs = predict_proba(predictor, held.images)
    tables = {
        "CNN": topk_recall(probs, held.targets, types),
        "frequency": topk_recall(frequency_scores(train.targets, len(held.targets)), held.targets, types),
        "frequency per garment type": topk_recall(
            frequency_scores(train.targets, len(held.targets), held.classes, train.classes), held.targets, types),
    }
    out = pd.concat(tables, axis=1)
    out.columns = out.columns.swaplevel(0, 1)
    return out.sort_index(axis=1, level=0, sort_remaining=False)


def train_attribute_predictor(
    crops_dir: str | Path, table: AttributeTable, *, epochs: int = 12, batch_size: int = 64, lr: float = 3e-3,
    min_positives: int = 3, seed: int = 0, progress: bool = True,
) -> AttributePredictor:
    """Train on the train crops, evaluate on val + test crops; return the predictor with its recall table."""
    from tqdm.auto import tqdm

    crops_dir = Path(crops_dir)
    counts = np.asarray(table.X[np.flatnonzero(table.images["split"].to_numpy() == "train")].sum(axis=0)).ravel()
    # An attribute with almost no training positive cannot be learnt; it stays out of the vocabulary.
    columns = np.flatnonzero(counts >= min_positives)
    if columns.size < 5:
        raise TrendsInputError(f"only {columns.size} attributes have >= {min_positives} training positives")
    attributes = table.attributes.iloc[columns].reset_index(drop=True)
    train = load_crop_attributes(crops_dir, table, columns, ["train"])
    held_splits = [s for s in ("val", "test") if (crops_dir / "cache" / f"{s}_{INPUT_SIZE}.npy").is_file()]
    if not held_splits:
        raise TrendsInputError(f"{crops_dir} has no val or test crops to evaluate on")
    held = load_crop_attributes(crops_dir, table, columns, held_splits)

    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = AttributeNet(len(columns))
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    images, targets = torch.from_numpy(train.images), torch.from_numpy(train.targets)
    batch_size = min(batch_size, max(8, len(images) // 4))
    steps_per_epoch = len(images) // batch_size
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(epochs * steps_per_epoch, 1))
    history = []
    bar = tqdm(total=epochs * steps_per_epoch, desc="attribute CNN", disable=not progress, leave=False)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(images), generator=g)
        losses = []
        for s in range(0, steps_per_epoch * batch_size, batch_size):
            idx = perm[s : s + batch_size]
            losses.append(train_step(model, opt, images[idx], targets[idx], torch.rand(len(idx), generator=g) < 0.5))
            sched.step()
            bar.update(1)
        history.append(float(np.mean(losses)))
        bar.set_postfix(loss=f"{history[-1]:.3f}")
    bar.close()
    model.eval()
    index = pd.Index(attributes["name"], name="attribute")
    predictor = AttributePredictor(model, attributes, _class_rates(train.targets, train.classes, index),
                                   history=history)
    predictor.recall = evaluate(predictor, held, train)
    recognised = (predict_proba(predictor, held.images) >= 0.5).astype(float)
    predictor.held_out_rates = _class_rates(recognised, held.classes, index)
    return predictor


def _key(crops_dir: Path, table: AttributeTable, epochs: int, seed: int, min_positives: int) -> dict[str, Any]:
    # crops.json is rewritten whenever the crop folder is rebuilt: its hash names the crops trained on.
    crops = hashlib.sha1((crops_dir / "crops.json").read_bytes()).hexdigest()[:12]
    names = hashlib.sha1("\n".join(table.names).encode()).hexdigest()[:12]
    probe = AttributeNet(1)
    return {"crops": crops, "attributes": names, "epochs": epochs, "seed": seed,
            "min_positives": min_positives, "arch": [probe.width, probe.feature_dim]}


def ensure_attribute_predictor(
    crops_dir: str | Path, table: AttributeTable, out_dir: str | Path, *, epochs: int = 12, batch_size: int = 64,
    seed: int = 0, min_positives: int = 3, progress: bool = True,
) -> AttributePredictor:
    """Return the predictor saved in out_dir/attribute_net.pt when made the same way, else train and save it."""
    crops_dir, path = Path(crops_dir), Path(out_dir) / MODEL_FILE
    key = {**_key(crops_dir, table, epochs, seed, min_positives), "batch_size": batch_size}
    if path.is_file():
        saved = torch.load(path, map_location="cpu", weights_only=False)
        if saved.get("key") == key:
            model = AttributeNet(len(saved["attributes"]))
            model.load_state_dict(saved["state_dict"])
            return AttributePredictor(model.eval(), saved["attributes"], saved["label_rates"], saved["recall"],
                                      saved["held_out_rates"], saved["history"], path)
    predictor = train_attribute_predictor(crops_dir, table, epochs=epochs, batch_size=batch_size, seed=seed,
                                          min_positives=min_positives, progress=progress)
    atomic_torch_save(path, {"key": key, "state_dict": predictor.model.state_dict(),
                             "attributes": predictor.attributes, "label_rates": predictor.label_rates,
                             "recall": predictor.recall, "held_out_rates": predictor.held_out_rates,
                             "history": predictor.history})
    predictor.path = path
    return predictor


# ---------------------------------------------------------------------------
# Designs: attribute profiles and asked attributes
# ---------------------------------------------------------------------------


def attribute_profile(predictor: AttributePredictor, images: Any) -> pd.DataFrame:
    """Return per attribute: mean predicted probability (expected share) and share recognised (p >= 0.5) of images.

    ``images``: uint8 (N, 64, 64, 3) arrays or float (N, 3, 64, 64) tensors in [-1, 1].
    """
    probs = predict_proba(predictor, images)
    return pd.DataFrame({"attribute_type": predictor.attributes["type_name"].to_numpy(),
                         "mean_probability": probs.mean(axis=0), "share_recognised": (probs >= 0.5).mean(axis=0)},
                        index=pd.Index(predictor.names, name="attribute"))


def compare_profiles(predictor: AttributePredictor, designs: Any, design_classes: Sequence[str],
                     reference: Any, reference_classes: Sequence[str]) -> pd.DataFrame:
    """Return per garment type x attribute: designs' vs reference crops' mean probability and the gap.

    Both sides go through the same predictor, so its own biases cancel: a positive ``gap``
    means the generator over-produces the attribute relative to the real crops (typically the
    training crops). ``label_share`` is the ground-truth share in the training crops.
    """
    design_classes, reference_classes = np.asarray(design_classes), np.asarray(reference_classes)
    if len(design_classes) != len(designs) or len(reference_classes) != len(reference):
        raise TrendsInputError(f"one class per image is needed: {len(designs)} designs with {len(design_classes)} "
                               f"classes, {len(reference)} reference crops with {len(reference_classes)} classes")
    p_design, p_ref = predict_proba(predictor, designs), predict_proba(predictor, reference)
    rows = []
    # "all": an unconditional generator's designs have no garment type; they are compared with every crop.
    for c in [c for c in ("upper", "lower", "full", "all") if (design_classes == c).any()]:
        ref = reference_classes == c
        if not ref.any():
            raise TrendsInputError(f"no reference crop of garment type {c!r} to compare the designs with")
        d = p_design[design_classes == c].mean(axis=0)
        r = p_ref[ref].mean(axis=0)
        rows.append(pd.DataFrame({
            "garment": c, "attribute": predictor.names, "attribute_type": predictor.attributes["type_name"].to_numpy(),
            "designs": d, "reference": r, "gap": d - r, "label_share": predictor.label_rates[c].to_numpy(),
            "n_designs": int((design_classes == c).sum()), "n_reference": int(ref.sum()),
        }))
    return pd.concat(rows, ignore_index=True)


def find_designs(profile: Any, n: int, reference_classes: Sequence[str], *, size: int = 64,
                 seed: int = 0) -> tuple[torch.Tensor, list[str]] | None:
    """Return (n designs in [-1, 1] NCHW, their garment types) from notebook 06's generator, or None when there is none.

    Classes follow the frequencies of ``reference_classes``; an unconditional generator's designs
    are labelled "all". Nothing is trained here: without a finished run the section is skipped.
    """
    from fashionlib.gan import GanError, generate
    from fashionlib.inspiration import find_run

    try:
        run = find_run(profile, size, train_if_missing=False)
    except GanError as exc:
        print(f"no generator to measure ({exc}); the design comparison is skipped")
        return None
    netG = run.generator()
    if not getattr(netG, "num_classes", 0):
        return generate(netG, n, seed=seed), ["all"] * n
    rng = np.random.default_rng(seed)
    names = [str(c) for c in rng.choice(np.asarray(reference_classes), size=n, replace=True)]
    return generate(netG, n, classes=names, seed=seed), names


def top_gaps(profile: pd.DataFrame, n: int = 5) -> pd.DataFrame:
    """Return per garment type the n most over- and n most under-produced attributes (by gap)."""
    out = []
    for _, part in profile.groupby("garment", sort=False):
        part = part.sort_values("gap")
        out += [part.tail(n).iloc[::-1].assign(direction="over"), part.head(n).assign(direction="under")]
    cols = ["garment", "direction", "attribute", "attribute_type", "designs", "reference", "gap", "label_share"]
    return pd.concat(out, ignore_index=True)[cols]


def plot_profile_gaps(profile: pd.DataFrame, n: int = 6) -> Any:
    """Return a figure: per garment type, the attributes designs over- and under-produce vs real crops."""
    import matplotlib.pyplot as plt

    gaps = top_gaps(profile, n)
    garments = list(dict.fromkeys(gaps["garment"]))
    fig, axes = plt.subplots(1, len(garments), figsize=(3.8 * len(garments), 0.3 * 2 * n + 1.5), squeeze=False)
    for ax, c in zip(axes[0], garments):
        part = gaps[gaps["garment"] == c].sort_values("gap")
        ax.barh(part["attribute"], part["gap"], color=np.where(part["gap"] > 0, "#c44e52", "#4c72b0"))
        ax.axvline(0, color="0.3", lw=0.8)
        ax.set_title(f"{c}: {int(profile.loc[profile['garment'] == c, 'n_designs'].iloc[0])} designs", fontsize=10)
        ax.set_xlabel("designs - real crops\n(mean predicted probability)")
        ax.tick_params(axis="y", labelsize=8)
    fig.suptitle("Attributes the generator over-produces (red) and under-produces (blue)", fontsize=10)
    fig.tight_layout()
    return fig


def asked_attribute_share(predictor: AttributePredictor, images: Any, attribute: str, *, garment: str | None = None,
                          threshold: float = 0.5) -> pd.DataFrame:
    """Return a one-row table: share of images recognised as carrying ``attribute`` (p >= threshold), with its
    95% Wilson interval, beside the attribute's base rate in the training labels and the share the predictor
    recognises on real held-out crops (the fair reference: same predictor, same threshold).

    ``images``: uint8 (N, 64, 64, 3) arrays or float (N, 3, 64, 64) tensors in [-1, 1]; ``garment``
    (upper / lower / full) selects the base rates of that garment type.
    """
    j = predictor.column(attribute)
    rate_col = garment or "all"
    if rate_col not in predictor.label_rates.columns:
        raise TrendsInputError(f"garment must be one of upper, lower, full or None, found {garment!r}")
    probs = predict_proba(predictor, images)[:, j]
    hits = int((probs >= threshold).sum())
    lo, hi = wilson_interval(hits, len(probs))
    held = predictor.held_out_rates[rate_col].iloc[j] if threshold == 0.5 and not predictor.held_out_rates.empty else np.nan
    return pd.DataFrame([{
        "attribute": attribute, "garment": garment or "all", "images": len(probs),
        "share recognised": hits / max(len(probs), 1), "ci_low": float(lo), "ci_high": float(hi),
        "base rate (training labels)": float(predictor.label_rates[rate_col].iloc[j]),
        "recognised on real held-out crops": float(held),
    }])
