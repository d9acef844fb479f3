"""Sampling from a trained generator: load it, ask for classes, write designs others can judge."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from fashionlib.crops import CLASS_NAMES
from fashionlib.gan.config import GanConfig
from fashionlib.gan.models import GanError, condition_vectors
from fashionlib.runio import atomic_torch_save, atomic_write_bytes, atomic_write_text  # noqa: F401


@torch.no_grad()
def recalibrate_bn(netG: nn.Module, *, batches: int = 4, batch_size: int = 64, seed: int = 0,
                   num_classes: int | None = None, attribute_slots: int = 0) -> nn.Module:
    """Return ``netG`` in eval mode with batch-norm statistics re-estimated on fresh noise (classes balanced).

    During training the running statistics trail the moving generator (and an averaged
    generator never had its own); re-estimating them once at the end makes single-image
    generation (eval mode) match what the generator draws with batch statistics.
    """
    gen = torch.Generator().manual_seed(seed)
    device = next(netG.parameters()).device
    k = netG.num_classes if num_classes is None else num_classes  # garment classes (without attribute slots)
    bns = [m for m in netG.modules() if isinstance(m, nn.BatchNorm2d)]
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over all calibration batches
    netG.train()
    for _ in range(batches):
        z = torch.randn(batch_size, netG.nz, generator=gen).to(device)
        labels = torch.randint(k, (batch_size,), generator=gen) if k else None
        if attribute_slots:
            labels = condition_vectors(labels, torch.randint(attribute_slots, (batch_size,), generator=gen), k,
                                       attribute_slots)
        netG(z, labels.to(device) if labels is not None else None)
    for m, mom in zip(bns, saved):
        m.momentum = mom
    return netG.eval()


def _named(netG: nn.Module, config: GanConfig, iteration: int) -> nn.Module:
    netG.class_names = tuple(config.classes) if config.conditional else ()
    netG.config = config
    netG.iteration = iteration
    return netG


def build_generator(config: GanConfig, *, calibrate: bool = True) -> nn.Module:
    """Return a freshly initialised generator for a config (same seed as the run: its 'untrained' baseline)."""
    from fashionlib.gan.train import build_models

    netG, _ = build_models(config)
    netG = _named(netG, config, 0)
    return recalibrate_bn(netG, seed=config.seed + 3, num_classes=len(config.classes) if config.conditional else 0,
                          attribute_slots=config.attribute_slots) if calibrate else netG.eval()


def load_generator(run_dir: str | Path, device: str = "cpu", *, averaged: bool = True) -> nn.Module:
    """Return the trained generator of a run folder (eval mode): generator.pt, else the last checkpoint's G.

    ``averaged=False``: the trained G of the last checkpoint even when the run kept an average of its
    weights (``ema_decay``), its batch norm recalibrated as generator.pt's is, so the two compare fairly.
    """
    from fashionlib.gan.train import build_models, read_config

    run_dir = Path(run_dir)
    path, last = run_dir / "generator.pt", run_dir / "checkpoints" / "last.pt"
    if path.is_file() and averaged:
        saved = torch.load(path, map_location="cpu", weights_only=False)
        config, state, iteration = GanConfig.from_dict(saved["config"]), saved["state_dict"], saved["iteration"]
    elif last.is_file():
        config, _ = read_config(run_dir)
        saved = torch.load(last, map_location="cpu", weights_only=False)
        state, iteration = saved.get("G_ema", saved["G"]) if averaged else saved["G"], saved["iteration"]
    else:
        raise GanError(f"no trained generator in {run_dir}: run `fashionlib train-gan` or notebook 06 first")
    netG, _ = build_models(config)
    netG.load_state_dict(state)
    netG = _named(netG, config, int(iteration))
    if not averaged:
        netG = recalibrate_bn(netG, seed=config.seed + 3, num_classes=len(config.classes) if config.conditional else 0,
                              attribute_slots=config.attribute_slots)
    return netG.to(device).eval()


def class_indices(netG: nn.Module, classes: Sequence[str] | str | None, n: int,
                  attribute: str | None = None) -> torch.Tensor | None:
    """Return class indices for n samples: one class, a list (one per sample) or None (cycle through all).

    A generator conditioned on attributes too gets condition vectors (n, K) instead: the class, and
    ``attribute`` (one of its ``config.attributes``, or "none"), or any attribute when it is None.
    """
    if not netG.num_classes:
        if classes is not None or attribute is not None:
            raise GanError("this generator is unconditional: it cannot be asked for a class")
        return None
    config = getattr(netG, "config", None)
    values = list(config.attributes) if config is not None else []
    k = netG.num_classes - (len(values) + 1 if values else 0)  # garment classes
    names = list(getattr(netG, "class_names", ())) or [CLASS_NAMES[i + 1] for i in range(k)]
    if classes is None:
        idx = torch.arange(n) % k
    else:
        if isinstance(classes, str):
            classes = [classes] * n
        if len(classes) != n:
            raise GanError(f"got {len(classes)} class names for {n} samples")
        unknown = set(classes) - set(names)
        if unknown:
            raise GanError(f"this generator knows classes {names}, not {sorted(unknown)}")
        idx = torch.tensor([names.index(c) for c in classes])
    if not values:
        if attribute is not None:
            raise GanError("this generator is not conditioned on attributes")
        return idx
    slots = [*values, "none"]
    if attribute is not None and attribute not in slots:
        raise GanError(f"this generator knows attributes {slots}, not {attribute!r}")
    attrs = None if attribute is None else torch.full((n,), slots.index(attribute))
    return condition_vectors(idx, attrs, k, len(slots))


@torch.no_grad()
def generate(
    netG: nn.Module, n: int = 64, *, classes: Sequence[str] | str | None = None, seed: int = 0,
    z: torch.Tensor | None = None, labels: torch.Tensor | None = None, batch_size: int = 256,
    attribute: str | None = None,
) -> torch.Tensor:
    """Return n generated images (n, 3, S, S) in [-1, 1] on the CPU, from seeded noise or the given z.

    ``labels`` may give class vectors (n, K) directly (soft mixes, for class morphs); ``attribute`` asks a
    generator conditioned on attributes for one of its values.
    """
    device = next(netG.parameters()).device
    if z is None:
        z = torch.randn(n, netG.nz, generator=torch.Generator().manual_seed(seed))
    n = len(z)
    if labels is None:
        labels = class_indices(netG, classes, n, attribute)
    was_training = netG.training
    netG.eval()
    out = []
    for start in range(0, n, batch_size):
        zb = z[start : start + batch_size].to(device)
        lb = labels[start : start + batch_size].to(device) if labels is not None else None
        out.append(netG(zb, lb).float().cpu())
    netG.train(was_training)
    return torch.cat(out) if out else torch.empty(0, 3, netG.size, netG.size)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """Return (N, S, S, 3) uint8 arrays from (N, 3, S, S) images in [-1, 1]."""
    return ((images.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def write_designs(netG: nn.Module, out_dir: str | Path, n: int, *, classes: Sequence[str] | None = None,
                  seed: int = 0) -> pd.DataFrame:
    """Write n designs as ``OUT/<class>/NNNN.png`` plus ``designs.csv`` (file, class, seed); return the table.

    Design i is drawn from ``torch.randn(nz)`` seeded with ``seed + i``, so any single design can be
    regenerated from its row. Classes cycle through ``classes`` (default: every class the generator knows).
    """
    from PIL import Image

    out_dir = Path(out_dir)
    if out_dir.is_file():
        raise GanError(f"{out_dir} is a file: --out must be a folder")
    pool = list(classes or getattr(netG, "class_names", ()) or ["any"])
    rows = []
    for i in range(n):
        name = pool[i % len(pool)]
        z = torch.randn(1, netG.nz, generator=torch.Generator().manual_seed(seed + i))
        image = generate(netG, classes=name if netG.num_classes else None, z=z)
        buf = io.BytesIO()
        Image.fromarray(to_uint8(image)[0]).save(buf, format="PNG")
        rel = f"{name}/{i:04d}.png"
        atomic_write_bytes(out_dir / rel, buf.getvalue())
        rows.append({"file": rel, "class": name, "seed": seed + i})
    table = pd.DataFrame(rows)
    atomic_write_text(out_dir / "designs.csv", table.to_csv(index=False))
    return table
