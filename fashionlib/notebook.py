"""One call at the top of every notebook that makes any environment ready."""

from __future__ import annotations

import sys

from fashionlib.config import Profile, get_profile, set_seed


def in_colab() -> bool:
    """Return True when running inside Google Colab."""
    return "google.colab" in sys.modules


def setup(profile: str | None = None, *, quiet: bool = False) -> Profile:
    """Resolve the profile, seed everything, set plot defaults, build the sample if needed; return the profile."""
    prof = get_profile(profile)
    set_seed(prof.seed)
    try:
        import matplotlib as mpl

        mpl.rcParams.update({"figure.dpi": 80, "savefig.dpi": 80, "figure.figsize": (8, 4), "axes.grid": False})
    except ImportError:  # pragma: no cover - matplotlib is a dependency
        pass
    if prof.is_sample:
        from fashionlib.synthetic import ensure_sample

        ensure_sample(prof.data_root)
    prof.run_dir.mkdir(parents=True, exist_ok=True)
    prof.figures_dir.mkdir(parents=True, exist_ok=True)
    if not quiet:
        where = "Colab" if in_colab() else "this machine"
        mode = " FAST (short training)" if prof.fast else ""
        print(f"fashionlib profile={prof.name}{mode} device={prof.device} on {where}")
    return prof
