"""GAN training speed: fashionlib's trainer vs the common tutorial pipeline, for both recipes, in the same run.

Baseline ("tutorial"): the PyTorch DCGAN tutorial's pipeline on the same crops:
``ImageFolder`` of JPEG crops, per-item decode + Resize + CenterCrop + ToTensor +
Normalize, ``DataLoader(shuffle=True, num_workers=2)``, default memory format,
Sigmoid + BCELoss, and the tutorial's loop (D's weight gradients computed in
the G step too). Same architecture (fashionlib.gan's unconditional Generator /
Discriminator) and batch size.

Ours: ``fashionlib.gan.train_gan`` (unconditional, same size and batch size):
packed uint8 cache, channels_last, D frozen in the G step, mixed precision on
CUDA.

The two pipelines alternate in rounds so that background load on a shared
machine hits both alike; each round times a few iterations after a warm-up.
Times are wall-clock per iteration (data wait included); images/s = batch /
median seconds per iteration.

The small-data recipe is timed the same way: the tutorial-style data pipeline
feeding the recipe's models and step (``fashionlib.gan.gan_step`` with the
loss, augmentation and EMA its config sets) against ``train_gan`` with the
recipe's config.
``--breakdown`` profiles one step per recipe (torch.profiler) and groups its CPU
time by kind of work: where a step's time goes.

    python benchmarks/gan_speed.py                     # CPU, 64x64, batch 64 (~3 min on 2 cores)
    python benchmarks/gan_speed.py --recipes study small-data --breakdown
    python benchmarks/gan_speed.py --device cuda --sizes 64 128 --amp both
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn


def tutorial_loader(crops_dir: Path, size: int, batch_size: int, workers: int) -> torch.utils.data.DataLoader:
    """Return the tutorial's DataLoader over the JPEG crop tree (train split)."""
    import torchvision.datasets as dset
    import torchvision.transforms as T

    dataset = dset.ImageFolder(
        root=str(crops_dir / "train"),
        transform=T.Compose([T.Resize(size), T.CenterCrop(size), T.ToTensor(), T.Normalize((0.5,) * 3, (0.5,) * 3)]),
    )
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=workers,
                                       drop_last=True, persistent_workers=workers > 0)


def endless(loader: torch.utils.data.DataLoader):  # noqa: ANN201 - a generator of batches
    """Yield the loader's batches forever, starting a new epoch (and its worker start-up) when one ends."""
    while True:
        yield from loader


def recipe_parts(cfg, device: torch.device):  # noqa: ANN001, ANN201
    """Return (G, D, EMA copy of G or None, optG, optD, augment) of a GAN config, as the trainer builds them."""
    import copy
    from functools import partial

    from fashionlib.gan import build_models, diff_augment

    netG, netD = (m.to(device) for m in build_models(cfg))
    ema = copy.deepcopy(netG).requires_grad_(False) if cfg.ema_decay else None
    optD = torch.optim.Adam(netD.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
    optG = torch.optim.Adam(netG.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
    augment = partial(diff_augment, policy=cfg.diffaugment) if cfg.diffaugment else (lambda x: x)
    return netG, netD, ema, optG, optD, augment


def tutorial_times(loader: torch.utils.data.DataLoader, size: int, iters: int, warmup: int, device: str,
                   seed: int = 0) -> list[float]:
    """Return seconds per iteration of the tutorial's training loop (after ``warmup`` iterations)."""
    from fashionlib.gan import Discriminator, Generator, weights_init

    torch.manual_seed(seed)
    dev = torch.device(device)
    netG = Generator(size).to(dev)
    netD = nn.Sequential(Discriminator(size), nn.Sigmoid()).to(dev)  # the tutorial's D ends in a Sigmoid
    netG.apply(weights_init)
    netD.apply(weights_init)
    criterion = nn.BCELoss()
    optD = torch.optim.Adam(netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optG = torch.optim.Adam(netG.parameters(), lr=2e-4, betas=(0.5, 0.999))
    times: list[float] = []
    batches = endless(loader)
    for i in range(warmup + iters):
        t0 = time.perf_counter()
        data = next(batches)
        netD.zero_grad()
        real = data[0].to(dev)
        b = real.size(0)
        label = torch.full((b,), 1.0, device=dev)
        output = netD(real).view(-1)
        errD_real = criterion(output, label)
        errD_real.backward()
        D_x = output.mean().item()
        noise = torch.randn(b, 100, 1, 1, device=dev)
        fake = netG(noise)
        label.fill_(0.0)
        output = netD(fake.detach()).view(-1)
        errD_fake = criterion(output, label)
        errD_fake.backward()
        optD.step()
        netG.zero_grad()
        label.fill_(1.0)
        output = netD(fake).view(-1)
        errG = criterion(output, label)
        errG.backward()
        optG.step()
        _ = (D_x, errG.item(), (errD_real + errD_fake).item())
        if dev.type == "cuda":
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return times


def tutorial_recipe_times(loader: torch.utils.data.DataLoader, size: int, iters: int, warmup: int, device: str,
                          seed: int = 0) -> list[float]:
    """Return seconds per iteration of the small-data recipe's step fed by the tutorial's data pipeline (NCHW)."""
    from fashionlib.gan import ema_update, gan_step, recipe_config

    cfg = recipe_config("small-data", size=size, conditional=False, seed=seed)
    dev = torch.device(device)
    netG, netD, ema, optG, optD, augment = recipe_parts(cfg, dev)
    times: list[float] = []
    batches = endless(loader)
    for i in range(warmup + iters):
        t0 = time.perf_counter()
        data = next(batches)
        stats = gan_step(netG, netD, optG, optD, data[0].to(dev), None, nz=cfg.nz, loss=cfg.loss, augment=augment)
        ema_update(ema, netG, cfg.ema_decay)
        _ = {k: float(v) for k, v in stats.items()}  # the tutorial reads its numbers every step
        if dev.type == "cuda":
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return times


def ours_times(crops_dir: Path, size: int, batch_size: int, iters: int, warmup: int, device: str,
               amp: bool = True, channels_last: bool = True, seed: int = 0, recipe: str = "study") -> list[float]:
    """Return seconds per iteration of fashionlib's trainer (after ``warmup`` iterations)."""
    from fashionlib.gan import recipe_config, train_gan

    n = warmup + iters
    cfg = recipe_config(recipe, size=size, conditional=False, batch_size=batch_size, max_iters=n, log_every=n,
                        grid_every=n, ckpt_every=n, amp=amp, channels_last=channels_last, seed=seed)
    with tempfile.TemporaryDirectory() as tmp:
        if device == "cuda":
            # Per-step times are measured without a per-step sync; time the whole loop instead.
            t0 = time.perf_counter()
            train_gan(crops_dir, Path(tmp) / "run", replace(cfg, max_iters=warmup), device=device,
                            progress=False, verbose=False)
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            train_gan(crops_dir, Path(tmp) / "run", cfg, resume=True, device=device, progress=False,
                            verbose=False)
            torch.cuda.synchronize()
            total = time.perf_counter() - t0
            return [total / iters] * iters
        run = train_gan(crops_dir, Path(tmp) / "run", cfg, device=device, progress=False, verbose=False)
        return run.metrics["seconds"].tolist()[warmup:]


CATEGORIES = (  # (label, substrings of aten op names), first match wins
    ("convolutions (forward + backward)", ("convolution", "conv2d", "conv_transpose", "mkldnn_conv")),
    ("batch norm", ("batch_norm",)),
    ("optimizer (Adam) and EMA", ("_foreach", "adam", "lerp")),
    ("augmentation and data indexing", ("index", "gather", "pad", "roll", "where", "randint", "rand", "flip")),
    ("linear layers and spectral norm", ("addmm", "mm", "mv", "linalg", "norm", "embedding")),
)


def step_breakdown(crops_dir: Path, size: int, recipe: str, batch_size: int, steps: int = 3) -> dict[str, float]:
    """Return the share of one training step's CPU time per kind of work, for a recipe (torch.profiler)."""
    from torch.profiler import ProfilerActivity, profile

    from fashionlib.crops import load_crops
    from fashionlib.gan import CropBatches, ema_update, gan_step, recipe_config, uint8_to_input

    cfg = recipe_config(recipe, size=size, batch_size=batch_size)
    netG, netD, ema, optG, optD, augment = recipe_parts(cfg, torch.device("cpu"))
    netG.to(memory_format=torch.channels_last)
    netD.to(memory_format=torch.channels_last)
    crops = load_crops(crops_dir, "train", size)
    batches = CropBatches(crops.images, crops.labels - 1, batch_size, 0, torch.device("cpu"))

    def one(i: int) -> None:
        u8, y = batches.batch(i)
        gan_step(netG, netD, optG, optD, uint8_to_input(u8, torch.device("cpu")), y, nz=cfg.nz, loss=cfg.loss,
                 augment=augment)
        if ema is not None:
            ema_update(ema, netG, cfg.ema_decay)

    one(0)  # warm-up
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for i in range(1, steps + 1):
            one(i)
    totals: dict[str, float] = {label: 0.0 for label, _ in CATEGORIES}
    totals["everything else (elementwise, activations, losses)"] = 0.0
    for ev in prof.key_averages():
        name = ev.key.lower()
        label = next((lab for lab, keys in CATEGORIES if any(k in name for k in keys)),
                     "everything else (elementwise, activations, losses)")
        totals[label] += ev.self_cpu_time_total
    whole = sum(totals.values()) or 1.0
    return {k: round(100 * v / whole, 1) for k, v in totals.items()}


def data_rates(crops_dir: Path, size: int, batch_size: int, workers: int, batches: int) -> dict[str, float]:
    """Return images/s of the two data paths alone (no training): JPEG DataLoader vs uint8 cache."""
    from fashionlib.crops import load_crops
    from fashionlib.gan import CropBatches, uint8_to_input

    loader = tutorial_loader(crops_dir, size, batch_size, workers)
    it = iter(loader)
    next(it)  # worker start-up is not the steady state
    t0 = time.perf_counter()
    for _ in range(batches):
        try:
            next(it)
        except StopIteration:
            it = iter(loader)
            next(it)
    tut = batches * batch_size / (time.perf_counter() - t0)
    del it, loader
    crops = load_crops(crops_dir, "train", size)
    cb = CropBatches(crops.images, crops.labels, batch_size, 0, torch.device("cpu"))
    t0 = time.perf_counter()
    for i in range(batches):
        uint8_to_input(cb.batch(i)[0], torch.device("cpu"))
    ours = batches * batch_size / (time.perf_counter() - t0)
    return {"tutorial": tut, "ours": ours}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--crops", default=None, help="crop folder (default: the profile's, built if missing)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[64], choices=[64, 128])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--iters", type=int, default=3, help="timed iterations per pipeline per round")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds (tutorial, ours, tutorial, ...)")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers of the tutorial pipeline")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--amp", default="on", choices=["on", "off", "both"], help="mixed precision (CUDA only)")
    parser.add_argument("--ablation", action="store_true", help="also time ours without channels_last")
    parser.add_argument("--recipes", nargs="+", default=["study"], choices=["study", "small-data"])
    parser.add_argument("--breakdown", action="store_true", help="profile one step per recipe: where the time goes")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("no CUDA device here: run with --device cpu", file=sys.stderr)
        return 2
    if args.crops:
        crops_dir = Path(args.crops)
    else:
        from fashionlib.config import get_profile
        from fashionlib.crops import ensure_crops

        crops_dir = ensure_crops(get_profile())
    device_name = torch.cuda.get_device_name() if args.device == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    amps = {"on": [True], "off": [False], "both": [False, True]}[args.amp] if args.device == "cuda" else [False]
    print(f"device: {device_name}; torch {torch.__version__}; OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}; "
          f"crops: {crops_dir}; batch {args.batch_size}; {args.rounds} rounds x {args.iters} timed iterations per pipeline")

    rows = []
    for size in args.sizes:
        loader = tutorial_loader(crops_dir, size, args.batch_size, args.workers)
        samples: dict[str, list[float]] = {}
        for r in range(args.rounds):
            for recipe in args.recipes:
                tag = "" if recipe == "study" else " [small-data]"
                timer = tutorial_times if recipe == "study" else tutorial_recipe_times
                samples.setdefault(f"tutorial (ImageFolder + JPEG decode, NCHW){tag}", []).extend(
                    timer(loader, size, args.iters, args.warmup, args.device, seed=r))
                for amp in amps:
                    name = "fashionlib (uint8 cache, channels_last" + (", AMP" if amp else "") + ")" + tag
                    samples.setdefault(name, []).extend(ours_times(
                        crops_dir, size, args.batch_size, args.iters, args.warmup, args.device, amp=amp, seed=r,
                        recipe=recipe))
                if args.ablation:
                    samples.setdefault(f"fashionlib without channels_last{tag}", []).extend(
                        ours_times(crops_dir, size, args.batch_size, args.iters, args.warmup, args.device, amp=False,
                                   channels_last=False, seed=r, recipe=recipe))
            print(f"  {size}px round {r + 1}/{args.rounds} done", flush=True)
        del loader
        for name, ts in samples.items():
            tag = " [small-data]" if name.endswith("[small-data]") else ""
            base = statistics.median(samples[f"tutorial (ImageFolder + JPEG decode, NCHW){tag}"])
            med = statistics.median(ts)
            rows.append({"size": size, "pipeline": name, "iterations": len(ts), "s/iter (median)": round(med, 3),
                         "s/iter (min)": round(min(ts), 3), "images/s": round(args.batch_size / med, 1),
                         "speed-up": round(base / med, 2)})
        rates = data_rates(crops_dir, size, args.batch_size, args.workers, batches=10)
        for name, rate in rates.items():
            rows.append({"size": size, "pipeline": f"data only: {name}", "iterations": 10, "s/iter (median)": None,
                         "s/iter (min)": None, "images/s": round(rate, 1),
                         "speed-up": round(rate / rates["tutorial"], 2)})
    table = pd.DataFrame(rows)
    print()
    print(table.to_string(index=False))
    if args.breakdown and args.device == "cpu":
        shares = {recipe: step_breakdown(crops_dir, args.sizes[0], recipe, args.batch_size) for recipe in args.recipes}
        print(f"\nwhere a {args.sizes[0]}px step's CPU time goes (% of self CPU time, torch.profiler, batch "
              f"{args.batch_size}):")
        print(pd.DataFrame(shares).to_string())
    if args.json:
        Path(args.json).write_text(json.dumps({"device": device_name, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    sys.exit(main())
