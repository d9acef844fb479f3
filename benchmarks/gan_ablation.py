"""Ablation of the small-data recipe: add one ingredient at a time, same crops, same budget.

    python benchmarks/gan_ablation.py [--crops runs/sample/crops_gt] [--iters 2000] [--report]

Every row sees the same 16,000 crops of the sample's ground-truth crops: ``--iters``
iterations (default 2000) at batch 8, or half as many at the recipe's batch 16. Each is
scored on the held-out crops: Frechet distance and improved precision / recall (k = 3) in
the crop classifier's features, and class agreement. The first rows add the recipe's
ingredients one at a time to the study's DCGAN (the last four with two seeds); the rows
after them add one more published ingredient each to the recipe at batch 8, the ones it
was measured without.
Finished rows are reused (each run is a folder under ``runs/sample/ablation_b8``), so the
script can be stopped and restarted; ``--report`` keeps the stored rows of runs that are
not on this machine.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
import torch

from fashionlib.gan import GanError, load_run, read_state, recipe_config, train_gan

# The chain: each row adds one ingredient to the row above it; the last of these is the small-data recipe.
CHAIN: list[tuple[str, dict]] = [
    ("study DCGAN", {}),
    ("+ widths 32", {"ngf": 32, "ndf": 32}),
    ("+ resize-convolution G", {"generator": "resize"}),
    ("+ conditional batch norm in G", {"g_cond": "cbn"}),
]
# Tried on top of the recipe's ingredients at batch 8, one at a time (each its own row, not cumulative).
ON_TOP: list[tuple[str, dict]] = [
    ("recipe at batch 8 + spectral norm D, hinge loss", {"discriminator": "sn", "d_cond": "planes", "loss": "hinge"}),
    ("recipe at batch 8 + projection D (spectral norm)", {"discriminator": "sn", "d_cond": "projection"}),
    ("recipe at batch 8 + DiffAugment", {"diffaugment": "color,translation,cutout"}),
    ("recipe at batch 8 + EMA of G", {"ema_decay": 0.999}),
]
SEEDED_ROWS = 2  # the chain's last rows run with two seeds
# Row names changed since a stored result was written (the stored rows keep their numbers under the new name).
RENAMED = {"+ batch 16, same crops seen (the small-data recipe)": "+ batch 16, same crops seen"}
BATCH = 8
# The recipe's batch and its average of G, last in the chain; added after the rows above were numbered, so they
# run as rows 10-11 and 12-13.
FINAL = [("+ batch 16, same crops seen", {"batch_size": 16}),
         ("+ EMA of G (the small-data recipe)", {"ema_decay": 0.999})]


def row_configs(iters: int) -> list[tuple[str, int, object]]:
    """Return (row name, seed, config) for every run of the ablation."""
    out, acc = [], {"batch_size": BATCH}
    common = dict(max_iters=iters, log_every=100, grid_every=iters // 2, ckpt_every=250)
    for i, (name, change) in enumerate(CHAIN):
        acc = {**acc, **change}
        for seed in (0, 1) if i >= len(CHAIN) - SEEDED_ROWS else (0,):
            out.append((name, seed, recipe_config("study", **acc, seed=seed, **common)))
    for name, change in ON_TOP:
        out.append((name, 0, recipe_config("study", **{**acc, **change}, seed=0, **common)))
    half = dict(common, max_iters=iters * BATCH // FINAL[0][1]["batch_size"])
    for name, change in FINAL:
        acc = {**acc, **change}
        for seed in (0, 1):
            out.append((name, seed, recipe_config("study", **acc, seed=seed, **half)))
    return out


def display_order(names: list[str]) -> list[str]:
    """Return the row names in table order: the chain (recipe last), then the ingredients tried on top."""
    known = [n for n, _ in CHAIN] + [n for n, _ in FINAL] + [n for n, _ in ON_TOP]
    return known + [n for n in dict.fromkeys(names) if n not in known]


def train_rows(crops: Path, root: Path, iters: int, shard: int = 0, shards: int = 1,
               only: set[int] | None = None) -> None:
    runs = list(enumerate(row_configs(iters)))
    for i, (name, seed, cfg) in runs[shard::shards]:
        if only is not None and i not in only:
            continue
        run_dir = root / f"row{i:02d}_seed{seed}"
        state = read_state(run_dir)
        if state.get("status") == "finished" and state.get("iteration", 0) >= cfg.max_iters:
            continue
        t0 = time.perf_counter()
        print(f"== {name} (seed {seed}) -> {run_dir.name}", flush=True)
        resume = (run_dir / "checkpoints" / "last.pt").is_file()
        train_gan(crops, run_dir, cfg, resume=resume, device="cpu", progress=False, verbose=False)
        print(f"   {time.perf_counter() - t0:.0f} s", flush=True)


def report(crops: Path, root: Path, iters: int) -> pd.DataFrame:
    from fashionlib.inspiration import ensure_feature_net, score_generator

    net = ensure_feature_net(crops, progress=False)
    rows = []
    for i, (name, seed, _cfg) in enumerate(row_configs(iters)):
        run_dir = root / f"row{i:02d}_seed{seed}"
        try:
            run = load_run(run_dir)
        except GanError:
            continue
        if run.state.get("status") != "finished":
            continue
        scores = score_generator(run.generator(), crops, net, n=1000, seed=seed)
        rows.append({"row": name, "seed": seed, **scores, "s/iter (this machine)": round(float(
            run.metrics["seconds"].median()), 3)})
    return in_display_order(pd.DataFrame(rows))


def in_display_order(table: pd.DataFrame) -> pd.DataFrame:
    """Return the rows sorted as the table is shown: by display_order, then by seed."""
    if table.empty:
        return table
    order = {name: k for k, name in enumerate(display_order(table["row"].tolist()))}
    return table.sort_values(["row", "seed"], key=lambda col: col.map(order) if col.name == "row" else col,
                             kind="stable").reset_index(drop=True)


TABLE_TAG = "ablation-table"  # the markdown cell of notebook 06 that quotes the stored result
COLUMNS = ["Frechet distance (crop-classifier features)", "precision", "recall", "class agreement"]


def markdown_table(table: pd.DataFrame) -> str:
    """Return the ablation as a markdown table: one line per row, mean over seeds (and the spread when 2 seeds)."""
    lines = ["| ingredient added | seeds | Fréchet distance ↓ | precision ↑ | recall ↑ | class agreement ↑ |",
             "| --- | --- | --- | --- | --- | --- |"]
    for row, group in table.groupby("row", sort=False):
        cells = []
        for col in COLUMNS:
            values = group[col].astype(float)
            cell = f"{values.mean():.3f}" if col != COLUMNS[0] else f"{values.mean():.2f}"
            if len(values) > 1:
                cell += f" ± {(values.max() - values.min()) / 2:.{2 if col == COLUMNS[0] else 3}f}"
            cells.append(cell)
        lines.append(f"| {row} | {len(group)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_into_notebook(table: pd.DataFrame, notebook: Path) -> None:
    """Replace the table in notebook 06's cell tagged ``ablation-table`` (source only; outputs untouched)."""
    import nbformat

    nb = nbformat.read(str(notebook), 4)
    cell = next(c for c in nb.cells if TABLE_TAG in c.metadata.get("tags", []))
    head = cell.source.split("\n| ingredient added")[0].rstrip()
    cell.source = head + "\n\n" + markdown_table(table)
    nbformat.write(nb, str(notebook))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--crops", default="runs/sample/crops_gt")
    ap.add_argument("--root", default="runs/sample/ablation_b8")
    ap.add_argument("--iters", type=int, default=2000)
    ap.add_argument("--report", action="store_true", help="score the finished rows instead of training")
    ap.add_argument("--shard", default="0/1", help="K/N: train every N-th run starting at K (parallel workers)")
    ap.add_argument("--only", default=None, help="comma-separated run numbers to train (e.g. 0,2)")
    args = ap.parse_args()
    crops, root = Path(args.crops), Path(args.root)
    shard, shards = (int(v) for v in args.shard.split("/"))
    torch.set_num_threads(2 if shards == 1 else 1)
    if args.report:
        table = report(crops, root, args.iters)
        out = Path(__file__).resolve().parent / "results" / "gan_ablation.csv"
        out.parent.mkdir(exist_ok=True)
        if out.is_file():  # keep the stored rows whose run folders are not on this machine
            stored = pd.read_csv(out).replace({"row": RENAMED})
            fresh = set(zip(table["row"], table["seed"])) if len(table) else set()
            kept = stored[[(r, s) not in fresh for r, s in zip(stored["row"], stored["seed"])]]
            table = in_display_order(pd.concat([kept, table], ignore_index=True))
        print(table.to_string(index=False))
        table.to_csv(out, index=False)
        print(f"wrote {out}")
        print(markdown_table(table))
        write_into_notebook(table, Path(__file__).resolve().parents[1] / "notebooks" / "06_train_dcgan.ipynb")
    else:
        only = {int(v) for v in args.only.split(",")} if args.only else None
        train_rows(crops, root, args.iters, shard, shards, only)


if __name__ == "__main__":
    main()
