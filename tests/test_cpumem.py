"""keep_freed_memory: freed tensor memory is reused without new page faults (process-wide, so in subprocesses)."""

from __future__ import annotations

import subprocess
import sys

import pytest

# Allocate, touch and free a 64 MB tensor ten times (the heap settles: a freed block is reused once it has
# merged with its neighbours), then five more times; print the page faults those five took.
PROBE = """
import resource, sys, torch
if sys.argv[1] == "keep":
    from fashionlib.cpumem import keep_freed_memory
    assert keep_freed_memory()
    assert keep_freed_memory()  # a second call is harmless
for _ in range(10):
    x = torch.empty(16 * 2**20)
    x.fill_(1.0)
    del x
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    x = torch.empty(16 * 2**20)
    x.fill_(1.0)
    del x
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def page_faults(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc settings (Linux)")
def test_freed_memory_is_reused_without_page_faults() -> None:
    default, kept = page_faults("default"), page_faults("keep")
    # 5 x 64 MB in 4 KiB pages is ~82,000 faults when every block is a fresh mapping (fewer with
    # transparent huge pages); kept memory is mapped already (measured: 0).
    assert kept < default / 10, (kept, default)
