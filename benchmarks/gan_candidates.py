"""Recipe candidates at the course's full budget: how the small-data recipe was chosen.

    python benchmarks/gan_candidates.py train --index I [--minutes 17]   # candidate I, one thread
    python benchmarks/gan_candidates.py train --index 6 --iters 3946     # equal work instead of equal minutes
    python benchmarks/gan_candidates.py report                       # score the finished ones

Two candidates train at a time, one thread each, for 17 minutes (about the work of ten
minutes on two threads), on the crops notebook 06 uses (``runs/sample/crops``); each is
scored like notebook 07 (held-out crops, the crop classifier's features). Run folders live
under ``runs/sample/candidates``; a finished one is not trained again.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import torch

from fashionlib.gan import crops_id, load_generator, load_run, read_state, recipe_config, train_gan

CROPS = Path("runs/sample/crops")
ROOT = Path("runs/sample/candidates")
RESIZE_CBN = {"generator": "resize", "g_cond": "cbn"}
CANDIDATES: dict[str, dict] = {
    "resize-conv + cBN, widths 64, batch 8": {**RESIZE_CBN, "batch_size": 8},
    "resize-conv + cBN, widths 32, batch 8": {**RESIZE_CBN, "ngf": 32, "ndf": 32, "batch_size": 8},
    "resize-conv + cBN, widths 32, batch 16 (small-data recipe before its EMA)": {**RESIZE_CBN, "ngf": 32, "ndf": 32, "batch_size": 16},
    "resize-conv + cBN, widths 32, batch 32": {**RESIZE_CBN, "ngf": 32, "ndf": 32, "batch_size": 32},
    "widths 32, batch 8 + spectral-norm projection D": {**RESIZE_CBN, "ngf": 32, "ndf": 32, "batch_size": 8,
                                                         "discriminator": "sn", "d_cond": "projection"},
    "batch 16 recipe + DiffAugment translation, cutout": {**RESIZE_CBN, "ngf": 32, "ndf": 32, "batch_size": 16,
                                                           "diffaugment": "translation,cutout"},
    # Second round: how much one run's score moves with the seed, and an average of G's weights over the last
    # ~1,000 updates (the raw generator of the same run is scored too, so the pair differs only in the average).
    "batch 16 recipe + EMA of G (0.999), seed 1": {**RESIZE_CBN, "ngf": 32, "ndf": 32, "batch_size": 16,
                                                    "ema_decay": 0.999, "seed": 1},
    "batch 16 recipe + EMA of G (0.999), seed 2": {**RESIZE_CBN, "ngf": 32, "ndf": 32, "batch_size": 16,
                                                    "ema_decay": 0.999, "seed": 2},
    # The baseline's own spread: the study's DCGAN at the course's CPU batch (8), as notebook 06 trains it.
    "study DCGAN, batch 8, seed 1": {"batch_size": 8, "seed": 1},
    "study DCGAN, batch 8, seed 2": {"batch_size": 8, "seed": 2},
    # Third round: bilinear instead of nearest-neighbour upsampling in G (a lead for the plaid-like texture of the
    # recipe's designs); a benchmark-only variant, see VARIANTS.
    "batch 16 recipe, bilinear upsampling + EMA of G (0.999), seed 1": {
        **RESIZE_CBN, "ngf": 32, "ndf": 32, "batch_size": 16, "ema_decay": 0.999, "seed": 1, "variant": "bilinear"},
    "batch 16 recipe, bilinear upsampling + EMA of G (0.999), seed 2": {
        **RESIZE_CBN, "ngf": 32, "ndf": 32, "batch_size": 16, "ema_decay": 0.999, "seed": 2, "variant": "bilinear"},
}


def bilinear(netG: torch.nn.Module) -> None:
    """Make every upsampling layer of a resize-convolution generator bilinear (the package's is nearest-neighbour)."""
    for module in netG.modules():
        if isinstance(module, torch.nn.Upsample):
            module.mode = "bilinear"


# Generator changes tried here before they earn a place in the package: applied right after the models are built,
# for training and for scoring alike.
VARIANTS = {"bilinear": bilinear}


@contextmanager
def variant(name: str | None) -> Iterator[None]:
    """Apply a generator variant to every model built inside the block (nothing without a name)."""
    import fashionlib.gan.train as gan_train

    if name is None:
        yield
        return
    build = gan_train.build_models

    def build_models(config, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202 - a thin wrapper
        netG, netD = build(config, *args, **kwargs)
        VARIANTS[name](netG)
        return netG, netD

    gan_train.build_models = build_models
    try:
        yield
    finally:
        gan_train.build_models = build


def settings(name: str) -> tuple[dict, str | None]:
    """Return a candidate's config overrides and its generator variant."""
    overrides = dict(CANDIDATES[name])
    return overrides, overrides.pop("variant", None)


def folder(name: str) -> Path:
    return ROOT / f"c{list(CANDIDATES).index(name)}"


def train(name: str, minutes: float, iters: int | None = None) -> None:
    torch.set_num_threads(1)
    budget = {"max_iters": iters, "max_minutes": None} if iters else {"max_iters": 100_000, "max_minutes": minutes}
    overrides, kind = settings(name)
    config = recipe_config("study", **overrides, **budget, log_every=100, grid_every=1000, ckpt_every=500)
    run_dir = folder(name)
    if read_state(run_dir).get("status") == "finished":
        return
    with variant(kind):
        train_gan(CROPS, run_dir, config, resume=(run_dir / "checkpoints" / "last.pt").is_file(), device="cpu",
                  progress=False, verbose=False)


def report() -> pd.DataFrame:
    from fashionlib.inspiration import ensure_feature_net, score_generator

    net = ensure_feature_net(CROPS, progress=False)
    counts = json.loads((CROPS / "crops.json").read_text())["counts"]
    crops = f"{sum(counts.values()):,} detector crops ({crops_id(CROPS)})"
    rows = []
    for name in CANDIDATES:
        run_dir = folder(name)
        if read_state(run_dir).get("status") != "finished":
            continue
        run = load_run(run_dir)
        with variant(settings(name)[1]):
            scores = score_generator(run.generator(), CROPS, net, seed=0)
            raw = (score_generator(load_generator(run_dir, averaged=False), CROPS, net, seed=0)
                   if run.config.ema_decay else None)
        rows.append({"candidate": name, "crops": crops, "iterations": run.state["iteration"], **scores})
        if raw is not None:
            rows.append({"candidate": name.replace("+ EMA of G (0.999)", "(raw G of the same run)"), "crops": crops,
                         "iterations": run.state["iteration"], **raw})
    return pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=("train", "report"))
    ap.add_argument("--index", type=int, default=0, help="candidate number (the order of CANDIDATES)")
    ap.add_argument("--minutes", type=float, default=17.0)
    ap.add_argument("--iters", type=int, default=None,
                    help="train this many updates instead of minutes (equal work whatever else runs on the machine)")
    args = ap.parse_args()
    if args.what == "train":
        train(list(CANDIDATES)[args.index], args.minutes, args.iters)
        return
    table = report()
    out = Path(__file__).resolve().parent / "results" / "gan_candidates.csv"
    if out.is_file():  # keep the stored rows of candidates not trained on this machine (their crops are named)
        stored = pd.read_csv(out)
        table = pd.concat([stored[~stored["candidate"].isin(table["candidate"])], table], ignore_index=True)
    table.to_csv(out, index=False)
    print(table.to_string(index=False))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
