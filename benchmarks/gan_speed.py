"""DCGAN training speed: fashionlib's trainer vs the common tutorial pipeline, measured in the same run.

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

    python benchmarks/gan_speed.py                     # CPU, 64x64, batch 64 (~3 min on 2 cores)
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
    it = iter(loader)
    for i in range(warmup + iters):
        t0 = time.perf_counter()
        try:
            data = next(it)
        except StopIteration:
            it = iter(loader)
            data = next(it)
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


def ours_times(crops_dir: Path, size: int, batch_size: int, iters: int, warmup: int, device: str,
               amp: bool = True, channels_last: bool = True, seed: int = 0) -> list[float]:
    """Return seconds per iteration of fashionlib's trainer (after ``warmup`` iterations)."""
    from fashionlib.gan import GanConfig, train_gan

    n = warmup + iters
    cfg = GanConfig(size=size, conditional=False, batch_size=batch_size, max_iters=n, log_every=n, grid_every=n,
                    ckpt_every=n, amp=amp, channels_last=channels_last, seed=seed)
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
            samples.setdefault("tutorial (ImageFolder + JPEG decode, NCHW)", []).extend(
                tutorial_times(loader, size, args.iters, args.warmup, args.device, seed=r))
            for amp in amps:
                name = "fashionlib (uint8 cache, channels_last" + (", AMP" if amp else "") + ")"
                samples.setdefault(name, []).extend(
                    ours_times(crops_dir, size, args.batch_size, args.iters, args.warmup, args.device, amp=amp, seed=r))
            if args.ablation:
                samples.setdefault("fashionlib without channels_last", []).extend(
                    ours_times(crops_dir, size, args.batch_size, args.iters, args.warmup, args.device, amp=False,
                               channels_last=False, seed=r))
            print(f"  {size}px round {r + 1}/{args.rounds} done", flush=True)
        del loader
        base = statistics.median(samples["tutorial (ImageFolder + JPEG decode, NCHW)"])
        for name, ts in samples.items():
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
    if args.json:
        Path(args.json).write_text(json.dumps({"device": device_name, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    sys.exit(main())
