"""Run ``fashionlib`` as one torchrun process, recording which files this rank writes under a watched folder.

Environment: ``DDP_WATCH`` (folder whose writes are recorded), ``DDP_LOG`` (where ``rank<N>.json`` goes at
exit), ``DDP_STEP_SLEEP`` (seconds added to every detector step, so a test can kill a run mid-way).
"""

from __future__ import annotations

import atexit
import builtins
import io
import json
import os
import sys
import time
from pathlib import Path

WATCH = Path(os.environ["DDP_WATCH"]).resolve()
LOG = Path(os.environ["DDP_LOG"])
RANK = os.environ.get("RANK", "0")
written: set[str] = set()


def _note(path: object) -> None:
    try:
        p = Path(os.fsdecode(path)).resolve()
    except TypeError:  # a file descriptor
        return
    if p == WATCH or WATCH in p.parents:
        written.add(str(p.relative_to(WATCH)))


def _watch(fn, *, mode_arg: bool = False):  # noqa: ANN001, ANN202 - a thin recording wrapper
    def wrapped(path, *args, **kwargs):  # noqa: ANN001, ANN202
        out = fn(path, *args, **kwargs)  # only a call that succeeds changed something
        mode = (args[0] if args else kwargs.get("mode", "r")) if mode_arg else "w"
        if isinstance(mode, str) and any(c in mode for c in "wax+"):
            _note(path)
        return out
    return wrapped


builtins.open = io.open = _watch(io.open, mode_arg=True)
_replace = os.replace
os.replace = lambda src, dst, *a, **k: (_note(dst), _replace(src, dst, *a, **k))[1]
for name in ("mkdir", "unlink", "rmdir", "remove"):
    setattr(os, name, _watch(getattr(os, name)))


def _dump() -> None:
    LOG.mkdir(parents=True, exist_ok=True)
    with open(LOG / f"rank{RANK}.json", "w") as handle:  # noqa: PTH123 - LOG is outside the watched folder
        json.dump(sorted(written), handle)


atexit.register(_dump)

if float(os.environ.get("DDP_STEP_SLEEP", "0")):
    import fashionlib.detection.engine as engine

    _step = engine.train_one_iter

    def slow_step(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        time.sleep(float(os.environ["DDP_STEP_SLEEP"]))
        return _step(*args, **kwargs)

    engine.train_one_iter = slow_step

from fashionlib.cli import main  # noqa: E402 - after the recording is in place

sys.exit(main(sys.argv[1:]))
