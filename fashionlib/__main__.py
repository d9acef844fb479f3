"""``python -m fashionlib``: the same as the ``fashionlib`` command (what torchrun and subprocess tests call)."""

import sys

from fashionlib.cli import main

sys.exit(main())
