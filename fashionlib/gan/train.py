"""Training orchestration around :func:`fashionlib.gan.step.gan_step`: data, run folder, resume, budget.

A run folder holds ``config.yaml`` (the config and the crops' fingerprint),
``metrics.jsonl`` (one row per iteration), ``grids/iter_XXXXXX.png`` (fixed-noise
samples through training), ``checkpoints/last.pt`` + ``status.json`` (the shared
:class:`fashionlib.runio.Checkpointer`), ``generator.pt`` (the weights to sample
from, written at the end) and ``summary.json`` (why it stopped, speed, epochs).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import json
import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from fashionlib import distributed
from fashionlib.crops import CLASS_IDS, load_crops, read_marker
from fashionlib.gan.augment import diff_augment, parse_policy
from fashionlib.gan.config import RESUMABLE_CHANGES, GanConfig, default_config, run_dir_for
from fashionlib.gan.models import (
    Discriminator,
    GanError,
    Generator,
    ResizeGenerator,
    SNDiscriminator,
    condition_vectors,
    weights_init,
)
from fashionlib.gan.step import ema_update, gan_step
from fashionlib.runio import (
    Checkpointer,
    MetricsLog,
    atomic_torch_save,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    read_run_status,
    rng_state,
    set_rng_state,
)


class TrainingFailureWarning(UserWarning):
    """Training shows a usual GAN failure (discriminator wins outright, or samples collapse)."""


class FailureMonitor:
    """Watches training for the usual DCGAN failures and says what to do (each warning once per run)."""

    def __init__(self, patience: int, warned: Sequence[str] = (), collapse_ratio: float = 0.15) -> None:
        self.patience, self.collapse_ratio = patience, collapse_ratio
        self.warned = list(warned)
        self.streak = 0

    def step(self, it: int, d_x: float, d_g_z: float) -> str | None:
        """Record one iteration's D(x) and D(G(z)); return (and warn) a message when D has won for too long."""
        self.streak = self.streak + 1 if (d_x > 0.99 and d_g_z < 0.01) else 0
        if self.streak < self.patience or "d_wins" in self.warned:
            return None
        self.warned.append("d_wins")
        msg = (f"iteration {it}: D(x) > 0.99 and D(G(z)) < 0.01 for {self.streak} iterations: the discriminator "
               "wins outright and the generator gets almost no gradient. Try a lower discriminator learning "
               "rate, DiffAugment, or restart from an earlier checkpoint.")
        warnings.warn(msg, TrainingFailureWarning, stacklevel=3)
        return msg

    def samples(self, it: int, sample_diversity: float, real_diversity: float) -> str | None:
        """Record the fixed-noise samples' diversity; return (and warn) a message when they have collapsed."""
        if sample_diversity >= self.collapse_ratio * real_diversity or "collapse" in self.warned:
            return None
        self.warned.append("collapse")
        msg = (f"iteration {it}: the fixed-noise samples are nearly identical (pixel diversity "
               f"{sample_diversity:.3f} vs {real_diversity:.3f} for real crops): mode collapse. Restart from an "
               "earlier checkpoint or with another seed.")
        warnings.warn(msg, TrainingFailureWarning, stacklevel=3)
        return msg


# ---------------------------------------------------------------------------
# Models and data
# ---------------------------------------------------------------------------


def build_models(config: GanConfig) -> tuple[nn.Module, nn.Module]:
    """Return (G, D) for a config, initialised from its seed (so a run and its untrained baseline agree)."""
    torch.manual_seed(config.seed)
    k = config.num_classes
    if config.generator == "dcgan":
        netG: nn.Module = Generator(config.size, config.nz, config.ngf, k)
    else:
        netG = ResizeGenerator(config.size, config.nz, config.ngf, k, upsample="resize", cond=config.g_cond)
    if config.discriminator == "dcgan":
        netD: nn.Module = Discriminator(config.size, config.ndf, k)
    else:
        netD = SNDiscriminator(config.size, config.ndf, k, spectral_norm=True, cond=config.d_cond)
    if config.generator == "dcgan":
        netG.apply(weights_init)
    if config.discriminator == "dcgan":
        netD.apply(weights_init)
    return netG, netD


class CropBatches:
    """Deterministic mini-batches from a uint8 crop cache: batch ``it`` depends only on (seed, it)."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, batch_size: int, seed: int, device: torch.device) -> None:
        if len(images) < batch_size:
            raise GanError(f"only {len(images)} training crops for a batch of {batch_size}: lower --batch-size")
        self.n, self.batch_size, self.seed = len(images), batch_size, seed
        self.per_epoch = self.n // batch_size  # the last incomplete batch of an epoch is dropped
        # On CUDA the whole cache goes to the GPU once when it fits comfortably; on CPU it stays as is.
        on_device = device.type == "cuda" and images.nbytes < 2 * 1024**3
        self.images = torch.from_numpy(np.ascontiguousarray(images)).to(device if on_device else "cpu")
        # Class indices (N,), or condition vectors (N, K) when attributes are conditioned on too; a writable copy.
        dtype = np.float32 if np.ndim(labels) == 2 else np.int64
        self.labels = torch.from_numpy(np.array(labels, dtype=dtype)).to(self.images.device)
        self._epoch, self._perm = -1, None

    def epoch_of(self, it: int) -> int:
        """Return the epoch that iteration ``it`` belongs to."""
        return it // self.per_epoch

    def batch(self, it: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (uint8 NHWC images, class indices) of iteration ``it``."""
        epoch, pos = divmod(it, self.per_epoch)
        if epoch != self._epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._perm, self._epoch = torch.randperm(self.n, generator=g).to(self.images.device), epoch
        idx = self._perm[pos * self.batch_size : (pos + 1) * self.batch_size]
        return self.images[idx], self.labels[idx]


def uint8_to_input(batch: torch.Tensor, device: torch.device, channels_last: bool = True) -> torch.Tensor:
    """Return float images in [-1, 1], (B, 3, S, S), from a uint8 NHWC batch (channels_last: no copy of the layout)."""
    x = batch.to(device, non_blocking=True).permute(0, 3, 1, 2)  # NHWC memory == NCHW channels_last
    if not channels_last:
        x = x.contiguous()
    return x.float().mul_(2.0 / 255.0).sub_(1.0)


def autocast_for(device: torch.device, enabled: bool) -> Any:
    """Return a context factory: bfloat16 autocast on CUDA GPUs that support it, else nothing (fp32)."""
    if device.type == "cuda" and enabled and torch.cuda.is_bf16_supported():
        return partial(torch.autocast, "cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext


# ---------------------------------------------------------------------------
# Run folder
# ---------------------------------------------------------------------------


@dataclass
class GanRun:
    """A run folder and what it holds."""

    run_dir: Path
    config: GanConfig
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def metrics(self) -> pd.DataFrame:
        """Return the per-iteration metrics (iter, epoch, Loss_D, Loss_G, D_x, D_G_z1, D_G_z2, seconds)."""
        return MetricsLog(self.run_dir / "metrics.jsonl").frame()

    @property
    def finished(self) -> bool:
        """Return True when training ended normally (iteration or time budget reached)."""
        return self.state.get("status") == "finished"

    def generator(self, device: str = "cpu") -> nn.Module:
        """Return the trained generator (eval mode)."""
        from fashionlib.gan.sample import load_generator

        return load_generator(self.run_dir, device=device)

    def grids(self) -> list[Path]:
        """Return the progress-grid PNGs in iteration order."""
        return sorted((self.run_dir / "grids").glob("iter_*.png"))


def crops_id(crops_dir: str | Path) -> str:
    """Return a short fingerprint of a crop folder's content (config, source kind, manifest), free of paths and times."""
    meta = read_marker(crops_dir)
    h = hashlib.sha256(json.dumps({"config": meta["config"], "source": meta["source"]}, sort_keys=True).encode())
    h.update((Path(crops_dir) / "manifest.csv").read_bytes())
    return h.hexdigest()[:16]


def _write_config(run_dir: Path, config: GanConfig, crops_dir: Path) -> None:
    import yaml

    doc = {"gan": config.to_dict(), "data": {"crops_dir": crops_dir.name, "crops_id": crops_id(crops_dir)}}
    atomic_write_text(run_dir / "config.yaml", yaml.safe_dump(doc, sort_keys=False))


def read_config(run_dir: str | Path) -> tuple[GanConfig, dict[str, Any]]:
    """Return (GAN config, data section) of a run folder."""
    import yaml

    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise GanError(f"{run_dir} is not a GAN run folder (no config.yaml)")
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    return GanConfig.from_dict(doc["gan"], source=str(path)), doc.get("data", {})


def read_state(run_dir: str | Path) -> dict[str, Any]:
    """Return what a run folder says about itself: status.json merged with summary.json ({} when neither exists)."""
    run_dir = Path(run_dir)
    state = dict(read_run_status(run_dir) or {})
    summary = run_dir / "summary.json"
    if summary.is_file():
        state.update(json.loads(summary.read_text(encoding="utf-8")))
    return state


def load_run(run_dir: str | Path) -> GanRun:
    """Return an existing run folder as a :class:`GanRun`."""
    config, _ = read_config(run_dir)
    return GanRun(Path(run_dir), config, read_state(run_dir))


def grid_png(images: torch.Tensor, ncols: int) -> bytes:
    """Return PNG bytes of a grid of images in [-1, 1] (2-pixel white gutters)."""
    from PIL import Image

    arr = ((images.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    arr = arr.permute(0, 2, 3, 1).numpy()
    n, s = len(arr), arr.shape[1]
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    canvas = np.full((nrows * (s + 2) + 2, ncols * (s + 2) + 2, 3), 255, np.uint8)
    for i, img in enumerate(arr):
        r, c = divmod(i, ncols)
        canvas[2 + r * (s + 2) : 2 + r * (s + 2) + s, 2 + c * (s + 2) : 2 + c * (s + 2) + s] = img
    buf = io.BytesIO()
    Image.fromarray(canvas).save(buf, format="PNG")
    return buf.getvalue()


def pixel_diversity(images: torch.Tensor) -> float:
    """Return the mean pairwise RMS pixel distance between images in [-1, 1] (0 = all identical)."""
    flat = images.detach().float().reshape(len(images), -1)
    d = torch.cdist(flat, flat) / math.sqrt(flat.shape[1])
    n = len(flat)
    return float(d.sum() / max(n * (n - 1), 1))


def _fixed_inputs(config: GanConfig) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(config.seed + 1)
    z = torch.randn(config.n_fixed, config.nz, generator=gen)
    if config.attributes:  # one grid row of 8 per attribute slot, classes cycling along the row
        i = torch.arange(config.n_fixed)
        return z, condition_vectors(i % len(config.classes), (i // 8) % config.attribute_slots, len(config.classes),
                                    config.attribute_slots)
    k = max(config.num_classes, 1)
    labels = torch.arange(config.n_fixed) * k // config.n_fixed  # equal share per class, one class per block
    return z, labels


# ---------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------


def _check_resume(out_dir: Path, config: GanConfig, crops_dir: Path, ckpt: Checkpointer, resume: bool) -> None:
    if resume:
        if not ckpt.has_checkpoint():
            raise GanError(f"nothing to resume in {out_dir} (no checkpoint): drop --resume to start a new run")
        old, data = read_config(out_dir)
        changed = {k for k, v in old.to_dict().items() if config.to_dict()[k] != v}
        if changed - RESUMABLE_CHANGES:
            raise GanError(f"cannot resume {out_dir} with different {sorted(changed - RESUMABLE_CHANGES)}: "
                           "only the training length and logging may change; use a new --out")
        if data.get("crops_id") != crops_id(crops_dir):
            raise GanError(f"{out_dir} was trained on other crops ({data.get('crops_dir')}): use a new --out")
    elif ckpt.has_checkpoint():
        raise GanError(f"{out_dir} already holds a run: pass --resume to continue it, or choose another --out")


def train_gan(
    crops_dir: str | Path, out_dir: str | Path, config: GanConfig | None = None, *, resume: bool = False,
    device: str | None = None, progress: bool = True, verbose: bool = True,
    attribute_labels: np.ndarray | None = None,
) -> GanRun:
    """Train (or resume) a GAN on the train-split crops; return the run (weights, metrics, grids in ``out_dir``).

    ``attribute_labels``: with ``config.attributes``, one slot per train crop (in ``load_crops`` order, the
    config's classes only): 0..A-1 = that value, A = none of them, -1 = unknown (the crop is left out).
    """
    from tqdm.auto import tqdm

    from fashionlib.gan.sample import recalibrate_bn

    config = config or GanConfig()
    config.check()
    crops_dir, out_dir = Path(crops_dir), Path(out_dir)
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))

    ctx = distributed.context()  # one process unless started by torchrun; then rank 0 alone writes
    per_rank, _ = distributed.split_batch(config.batch_size, what="GAN batch_size")
    crops = load_crops(crops_dir, "train", config.size, classes=config.classes)
    class_index = {CLASS_IDS[c]: i for i, c in enumerate(config.classes)}
    labels = np.array([class_index[c] for c in crops.labels], dtype=np.int64)
    images = crops.images
    if config.attributes:
        if attribute_labels is None or len(attribute_labels) != len(labels):
            raise GanError(f"config.attributes needs attribute_labels, one per train crop ({len(labels)}): see "
                           "fashionlib.trends.attributes.ensure_attribute_gan")
        keep = np.flatnonzero(np.asarray(attribute_labels) >= 0)
        images = np.asarray(crops.images)[keep]
        labels = condition_vectors(torch.from_numpy(labels[keep]), torch.from_numpy(np.asarray(attribute_labels)[keep]),
                                   len(config.classes), config.attribute_slots).numpy()
    batches = CropBatches(images, labels, config.batch_size, config.seed, dev)

    netG, netD = build_models(config)
    memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
    netG.to(dev, memory_format=memory_format)
    netD.to(dev, memory_format=memory_format)
    netG_ema = copy.deepcopy(netG).requires_grad_(False) if config.ema_decay > 0 else None
    optD = torch.optim.Adam(netD.parameters(), lr=config.lr, betas=(config.beta1, config.beta2))
    optG = torch.optim.Adam(netG.parameters(), lr=config.lr, betas=(config.beta1, config.beta2))
    parts = {"G": netG, "D": netD, "optG": optG, "optD": optD, **({"G_ema": netG_ema} if netG_ema else {})}
    ckpt = Checkpointer(out_dir, guard=("G", "D"), **parts)
    _check_resume(out_dir, config, crops_dir, ckpt, resume)

    metrics = MetricsLog(out_dir / "metrics.jsonl")
    fixed_z, fixed_labels = _fixed_inputs(config)
    start, elapsed_before, warned = 0, 0.0, []
    if resume:
        saved = ckpt.load()
        start, elapsed_before, warned = int(saved["iteration"]), float(saved["elapsed_s"]), list(saved["warned"])
        set_rng_state(saved["rng"])
        if ctx.is_main:
            metrics.truncate_after("iter", start - 1)  # rows after the checkpoint are replayed
            for stale in (out_dir / "grids").glob("iter_*"):
                if int(stale.stem.split("_")[1]) > start:
                    stale.unlink()
    else:
        if ctx.is_main:
            out_dir.mkdir(parents=True, exist_ok=True)
            metrics.path.unlink(missing_ok=True)  # a run that died before its first checkpoint left nothing to keep
        torch.manual_seed(config.seed + 2)  # the training stream of noise, flips and augmentations
    if ctx.is_main:
        _write_config(out_dir, config, crops_dir)
    # Several processes: each trains on its slice of every batch; DDP averages G's and D's gradients.
    trainG, trainD = distributed.wrap(netG, str(dev)), distributed.wrap(netD, str(dev))

    autocast = autocast_for(dev, config.amp)
    policy = parse_policy(config.diffaugment)
    augment = partial(diff_augment, policy=policy) if policy else (lambda x: x)
    sampler = netG_ema if netG_ema is not None else netG
    yc = (lambda y: y) if config.num_classes else (lambda y: None)
    monitor = FailureMonitor(patience=max(20, config.max_iters // 10), warned=warned)
    real_div = pixel_diversity(uint8_to_input(batches.batch(0)[0][: config.n_fixed], dev))

    def save_grid(it: int) -> None:
        if not ctx.is_main:
            return
        # Batch statistics of the fixed batch (as the tutorial does), on a copy: the training state is untouched.
        shadow = copy.deepcopy(sampler).train()
        with torch.no_grad(), autocast():
            fake = shadow(fixed_z.to(dev), yc(fixed_labels.to(dev))).float()
        atomic_write_bytes(out_dir / "grids" / f"iter_{it:06d}.png", grid_png(fake, 8))
        div = pixel_diversity(fake)
        atomic_write_json(out_dir / "grids" / f"iter_{it:06d}.json",
                          {"iter": it, "grid_diversity": round(div, 5), "real_diversity": round(real_div, 5)})
        if it >= 2 * config.grid_every:  # the first grids of any run look alike
            monitor.samples(it, div, real_div)

    pending: list[tuple[int, dict[str, torch.Tensor], float]] = []  # stats stay on device until a flush

    def flush() -> None:
        if not pending:
            return
        names = list(pending[0][1])
        # One sync per flush: every process calls this at the same iterations (losses of the global batch).
        values = distributed.mean_across(torch.stack([torch.stack([st[n].float() for n in names])
                                                      for _, st, _ in pending])).tolist()
        for (i, _, secs), vals in zip(pending, values):
            row = {k: round(float(v), 5) for k, v in zip(names, vals)}
            if not (math.isfinite(row["Loss_D"]) and math.isfinite(row["Loss_G"])):
                raise GanError(f"training diverged at iteration {i} (Loss_D {row['Loss_D']}, Loss_G "
                               f"{row['Loss_G']}): the last good checkpoint is kept; resume with a lower lr")
            if ctx.is_main:
                metrics.append(iter=i, epoch=batches.epoch_of(i), **row, seconds=round(secs, 4))
            monitor.step(i, row["D_x"], row["D_G_z1"])
        pending.clear()

    if start == 0:
        save_grid(0)
    t0 = time.perf_counter()
    it, stop_reason = start, "max_iters"
    bar = tqdm(total=config.max_iters, initial=start, desc=f"GAN {config.recipe} {config.size}px",
               disable=not progress, leave=False)
    try:
        while it < config.max_iters:
            # One budget rule for both trainers: minutes count across resumes.
            if config.max_minutes is not None and distributed.rank0_decides(
                    elapsed_before + time.perf_counter() - t0 >= config.max_minutes * 60, dev):
                stop_reason = "max_minutes"
                break
            step_start = time.perf_counter()
            real_u8, y = batches.batch(it)
            if ctx.active:  # this process's slice; its own random stream, a pure function of (seed, it, rank)
                real_u8, y = real_u8[ctx.rank * per_rank : (ctx.rank + 1) * per_rank], y[ctx.rank * per_rank :
                                                                                          (ctx.rank + 1) * per_rank]
                torch.manual_seed(distributed.part_seed(config.seed, it, ctx.rank))
            real = uint8_to_input(real_u8, dev, config.channels_last)
            if config.hflip:
                flip = torch.rand(real.shape[0]) < 0.5
                real = torch.where(flip.to(dev)[:, None, None, None], real.flip(3), real)
            stats = gan_step(trainG, trainD, optG, optD, real, yc(y.to(dev)), nz=config.nz, loss=config.loss,
                             augment=augment, autocast=autocast)
            if netG_ema is not None:
                # Short runs: the average starts short and lengthens to ema_decay, so early weights fade out.
                ema_update(netG_ema, netG, min(config.ema_decay, (1 + it) / (10 + it)))
            pending.append((it, stats, time.perf_counter() - step_start))
            it += 1
            bar.update(1)
            last = it == config.max_iters
            if it % config.log_every == 0 or it % config.ckpt_every == 0 or it % config.grid_every == 0 or last:
                flush()
            if verbose and ctx.is_main and (it % config.log_every == 0 or last):
                r = metrics.rows()[-1]
                line = (f"[{r['epoch']}][{it}/{config.max_iters}]\tLoss_D: {r['Loss_D']:.4f}\tLoss_G: "
                        f"{r['Loss_G']:.4f}\tD(x): {r['D_x']:.4f}\tD(G(z)): {r['D_G_z1']:.4f} / {r['D_G_z2']:.4f}")
                tqdm.write(line) if progress else print(line)
            if it % config.grid_every == 0 or last:
                save_grid(it)
            if it % config.ckpt_every == 0 and not last:
                if ctx.is_main:
                    ckpt.save(it, status="running", elapsed_s=elapsed_before + time.perf_counter() - t0,
                              rng=rng_state(), warned=monitor.warned)
                distributed.barrier()
    finally:
        bar.close()
    flush()
    elapsed = elapsed_before + time.perf_counter() - t0
    if stop_reason == "max_minutes" and it % config.grid_every:
        save_grid(it)
    if not ctx.is_main:
        distributed.barrier()  # rank 0 writes the checkpoint, generator and summary
        return load_run(out_dir)
    ckpt.save(it, status="finished", elapsed_s=elapsed, rng=rng_state(), warned=monitor.warned)
    final = recalibrate_bn(copy.deepcopy(sampler), seed=config.seed + 3,
                           num_classes=len(config.classes) if config.conditional else 0,
                           attribute_slots=config.attribute_slots)
    atomic_torch_save(out_dir / "generator.pt", {
        "config": config.to_dict(), "iteration": it, "ema": netG_ema is not None, "bn_recalibrated": True,
        "state_dict": {k: v.detach().cpu().contiguous() for k, v in final.state_dict().items()}})
    rows = metrics.frame()
    session = rows[rows["iter"] >= start] if len(rows) else rows
    summary = {
        "stop_reason": stop_reason, "train_crops": batches.n, "epochs": round(it / batches.per_epoch, 2),
        "images_per_s": round(float(len(session) * config.batch_size / max(session["seconds"].sum(), 1e-9)), 2)
        if len(session) else None,
        "images_seen": it * config.batch_size, "device": str(dev), "warnings": monitor.warned,
    }
    atomic_write_json(out_dir / "summary.json", summary, indent=1)
    if verbose:
        print(f"stopped at iteration {it} ({stop_reason}) after {elapsed / 60:.1f} min, "
              f"{summary['epochs']} epochs of {batches.n} crops; run folder {out_dir.name}")
    distributed.barrier()
    return load_run(out_dir)


def settings_key(config: GanConfig, crops_dir: str | Path) -> str:
    """Return a short hash of what a run's result depends on (config without its length/logging, and the crops)."""
    d = {k: v for k, v in config.to_dict().items() if k not in RESUMABLE_CHANGES}
    if not d["attributes"]:
        del d["attributes"]  # added later: runs without attributes keep the folder names they were trained under
    return hashlib.sha256(json.dumps([d, crops_id(crops_dir)], sort_keys=True).encode()).hexdigest()[:8]


def ensure_gan(
    profile: Any, size: int = 64, *, recipe: str = "study", config: GanConfig | None = None,
    crops_dir: str | Path | None = None, progress: bool = True, attribute_labels: np.ndarray | None = None,
) -> GanRun:
    """Return a finished run of this config on these crops: load it, resume it, or train it.

    Each set of settings has its own run folder (``gan64_small-data_<hash>``), so changing a setting trains a
    new run next to the old ones and never deletes anything a user trained.
    """
    from fashionlib.crops import ensure_crops

    config = config or default_config(profile, size, recipe)
    crops_dir = Path(crops_dir) if crops_dir is not None else ensure_crops(profile)
    base = run_dir_for(profile, config)
    run_dir = base.with_name(f"{base.name}_{settings_key(config, crops_dir)}")
    if (run_dir / "checkpoints" / "last.pt").is_file():
        state = read_state(run_dir)
        old, _ = read_config(run_dir)
        more_time = (state.get("stop_reason") == "max_minutes"
                     and (config.max_minutes is None or config.max_minutes > (old.max_minutes or 0)))
        if state.get("status") == "finished" and old.max_iters >= config.max_iters and not more_time:
            run = load_run(run_dir)
            print(f"found a finished run with these settings in {run_dir.name} ({state['iteration']} iterations, "
                  f"{state['elapsed_s'] / 60:.1f} min, stopped by {state.get('stop_reason')}): loading it. "
                  "The end of its training log (all of it: gan.log_lines(run)):")
            from fashionlib.gan.figures import log_lines

            print("\n".join(log_lines(run)[-3:]))
            return run
        print(f"resuming the run in {run_dir.name} from iteration {state.get('iteration', 0)}")
        return train_gan(crops_dir, run_dir, config, resume=True, device=profile.device, progress=progress,
                         attribute_labels=attribute_labels)
    return train_gan(crops_dir, run_dir, config, device=profile.device, progress=progress,
                     attribute_labels=attribute_labels)
