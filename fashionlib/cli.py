"""The ``fashionlib`` command: one sub-command per pipeline step.

Each stage module defines ``add_commands(subparsers)`` that registers its
sub-commands with ``set_defaults(func=...)``; this file only gathers them.

A user's mistake (a missing file, an output path that is a file, a bad config
value) ends in one line on stderr and exit code 2; anything else is a bug and
keeps its traceback. ``FASHIONLIB_TRACEBACK=1`` shows the traceback of both.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

# Stage modules, in pipeline order; each exposes add_commands(subparsers).
STAGE_MODULES = (
    "fashionlib.synthetic",
    "fashionlib.coco",
    "fashionlib.detection",
    "fashionlib.crops",
    "fashionlib.gan",
    "fashionlib.trends",
)

# Path mistakes a user makes (output is a file, input missing, no permission); other OSErrors are not ours to hide.
USER_OS_ERRORS = (FileExistsError, FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError)
_PACKAGE_DIR = Path(__file__).resolve().parent


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


def is_user_error(exc: BaseException) -> bool:
    """Return True when ``exc`` reports a user's mistake (printed as one line) rather than a bug (a traceback).

    User mistakes are: the package's own error classes (``CropError``, ``ConfigError``, ...), path errors
    (:data:`USER_OS_ERRORS`), and a plain ``ValueError``/``RuntimeError`` raised by fashionlib's own code
    (its last traceback frame is in the package, not in torch or numpy).
    """
    if isinstance(exc, USER_OS_ERRORS):
        return True
    if any(cls.__module__.split(".")[0] == "fashionlib" for cls in type(exc).__mro__):
        return True
    if type(exc) in (ValueError, RuntimeError):
        tb = exc.__traceback__
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        return tb is not None and _PACKAGE_DIR in Path(tb.tb_frame.f_code.co_filename).resolve().parents
    return False


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the process exit code (2 for a user's mistake, with one line on stderr).

    Run as the ``fashionlib`` command (``argv`` None: the process's own arguments), it first sets
    ``OMP_WAIT_POLICY=PASSIVE`` unless the user set it: OpenMP threads that spin-wait collapse torch's CPU
    speed (measured 3-10x) when another process competes for the cores, and OpenMP reads the setting once,
    when torch loads. Called from Python with a list, it changes nothing in the process.
    """
    if argv is None:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    args = build_parser().parse_args(argv)
    try:
        result = args.func(args)
    except Exception as exc:
        if not is_user_error(exc) or os.environ.get("FASHIONLIB_TRACEBACK") == "1":
            raise
        message = " ".join(str(exc).split()) or type(exc).__name__  # one line, whatever the message held
        print(f"fashionlib {args.command}: error: {message}", file=sys.stderr)
        return 2
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
