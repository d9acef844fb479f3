"""fashionlib: from DeepFashion photos to new garment designs.

Stages (one module each): ``deepfashion`` (read the benchmark), ``synthetic``
(a small sample in the same file format), ``coco`` (convert to COCO JSON),
``detection`` (Faster R-CNN garment detector), ``crops`` (garment crops),
``gan`` (DCGAN) and ``inspiration`` (new designs and how new they are).
"""

import os

# Small shared CPUs (2-core course machines, Colab): OpenMP threads that spin-wait collapse torch's CPU speed
# (measured 3-10x) whenever another process competes for the cores; sleeping threads do not. Read once,
# when torch loads, so it is set here, before any stage imports torch; an explicit setting wins.
OMP_POLICY_SET_HERE = "OMP_WAIT_POLICY" not in os.environ  # benchmarks read this to compare like with like
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from fashionlib.config import Profile, get_profile, set_seed  # noqa: E402

__version__ = "0.1.0"
__all__ = ["Profile", "get_profile", "set_seed", "__version__"]
