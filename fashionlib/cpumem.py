"""CPU training memory: keep freed tensor memory in the process instead of handing it back every step.

glibc's ``malloc`` serves every block above 32 MB (and, after a trim, many smaller
ones) with a fresh ``mmap`` and gives it back with ``munmap`` when freed. A
training step at the study's scale (800-px images through a ResNet-50) allocates
and frees gigabytes of feature maps, so every step the kernel maps, zero-fills
and unmaps them again: measured here as 2.9 million page faults and 7.8 s of
system time in a 34 s (CPU time) step, about a quarter of it.

:func:`keep_freed_memory` turns that off for the rest of the process: blocks come
from the heap and stay there when freed, ready for the next step (after the first
few steps: a freed block is reused once it has merged with its neighbours). The
price is memory: the process keeps its peak, and fragmentation across batches of
different image sizes adds to it (measured: 11.1 GiB resident after 8 steps at
scale 800, against an 8.0 GiB peak with the default). On small models (the
sample config) the gain is nil: their blocks are small enough already.

Opt-in, because it changes the whole process (a Jupyter kernel, pytest), not just
training: ``fashionlib train-detector --keep-freed-memory`` or the config key
``train.keep_freed_memory: true``; importing this module changes nothing.

Linux with glibc only; elsewhere it changes nothing and returns False.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

# mallopt() parameter numbers from glibc's <malloc.h>.
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4

_applied = False


def keep_freed_memory() -> bool:
    """Stop glibc from returning freed memory to the kernel (no mmap, no trimming); return whether it applied.

    Process-wide and not undone: call it in a process that is about to train on the CPU.
    """
    global _applied
    if _applied:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and other C libraries have no mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # mallopt returns 1 on success; a trim threshold of -1 turns trimming off (mallopt(3)).
    _applied = bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, -1))
    return _applied
