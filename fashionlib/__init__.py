"""fashionlib: from DeepFashion photos to new garment designs.

Stages (one module each): ``deepfashion`` (read the benchmark), ``synthetic``
(a small sample in the same file format), ``coco`` (convert to COCO JSON),
``detection`` (Faster R-CNN garment detector), ``crops`` (garment crops),
``gan`` (DCGAN) and ``inspiration`` (new designs and how new they are).

Importing the package changes nothing in the process (no environment variables,
no allocator settings): the ``fashionlib`` command and the Makefile choose those.
"""

from fashionlib.config import Profile, get_profile, set_seed

__version__ = "0.1.0"
__all__ = ["Profile", "get_profile", "set_seed", "__version__"]
