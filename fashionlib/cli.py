"""The ``fashionlib`` command: one sub-command per pipeline step.

Each stage module defines ``add_commands(subparsers)`` that registers its
sub-commands with ``set_defaults(func=...)``; this file only gathers them.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Stage modules, in pipeline order; each exposes add_commands(subparsers).
STAGE_MODULES = (
    "fashionlib.synthetic",
    "fashionlib.coco",
    "fashionlib.detection",
    "fashionlib.crops",
    "fashionlib.gan",
)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with every stage's sub-commands."""
    parser = argparse.ArgumentParser(
        prog="fashionlib", description="From DeepFashion photos to new garment designs."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in STAGE_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # stage not written yet
                continue
            raise
        module.add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the process exit code."""
    args = build_parser().parse_args(argv)
    try:
        result = args.func(args)
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        print(f"fashionlib {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
