"""The ``fashionlib sample-data`` command."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fashionlib.config import SAMPLE_IMAGES, SAMPLE_SEED
from fashionlib.synthetic.dataset import generate_sample, read_marker

# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------


def _cmd_sample_data(args: Any) -> int:
    root = generate_sample(args.out, args.images, args.seed, workers=args.workers, progress=not args.quiet)
    summary = (read_marker(root) or {}).get("summary", {})
    n = max(summary.get("images", 1), 1)
    sizes = summary.get("size_classes", {})
    print(f"wrote {summary.get('images')} images of {summary.get('products')} products to {root} "
          f"in {summary.get('seconds')} s")
    print("  splits: " + ", ".join(f"{k} {v}" for k, v in summary.get("splits", {}).items()))
    print("  types:  " + ", ".join(f"{k} {v}" for k, v in summary.get("types", {}).items()))
    print("  boxes:  " + ", ".join(f"{k} {100 * v / n:.1f}%" for k, v in sizes.items()))
    return 0


def add_commands(subparsers: Any) -> None:
    """Register the ``sample-data`` sub-command."""
    p = subparsers.add_parser(
        "sample-data", help="write the synthetic DeepFashion-format sample (always regenerates)",
        description="Write a synthetic dataset in the DeepFashion Category and Attribute Prediction format.",
    )
    p.add_argument("out", type=Path, help="output folder, e.g. data/sample/DeepFashion")
    p.add_argument("--images", type=int, default=SAMPLE_IMAGES, help=f"number of images (default {SAMPLE_IMAGES})")
    p.add_argument("--seed", type=int, default=SAMPLE_SEED, help=f"random seed (default {SAMPLE_SEED})")
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: one per CPU core)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_sample_data)
