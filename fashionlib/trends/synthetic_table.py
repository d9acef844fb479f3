"""A SYNTHETIC dated table of attribute shares, with a known generating process, so forecasting runs offline.

DeepFashion has no dates. To learn how forecasts are scored, this module writes a long table
``date, attribute, share[, group], source`` whose truth is known. Every row says
``source = "synthetic"``, and the file name starts with ``synthetic_``. Generating process for
attribute a (and group g, when groups are asked for), week t = 0, 1, ...::

    share(a, g, t) = base(a) * m(g) * (1 + slope(a) * t / 52 + amp(a) * sin(2 pi (t - phase(a)) / 52))
                     + noise,   noise ~ Normal(0, (noise_sd * base(a) * m(g))^2) i.i.d.

clipped to [0.001, 0.999], with, drawn once from ``numpy.random.default_rng(seed)``:

* ``base(a)``: given (e.g. the catalogue's shares) or uniform in [0.05, 0.30];
* ``slope(a)``: relative change per year, uniform in [-slope_max, slope_max];
* ``amp(a)``: relative yearly swing, uniform in [0.1, amp_max]; ``phase(a)``: uniform week in [0, 52);
* ``m(g)``: per-group level, uniform in [0.7, 1.3] (1 without groups).

With the defaults (3 years, slope at most 15% a year, swing at most 30%) a share never falls
below a quarter of its base, so the clipping does not bite and MAPE stays meaningful.
Each series is a linear trend plus an additive yearly season plus white noise: the model
class of additive Holt-Winters, which the notebook's backtest should therefore rank first.
A real table (GeoStyle, Mall et al. ICCV 2019, or your own sales shares) drops in by path
instead; nothing here is data about the world.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from fashionlib.runio import atomic_write_text

DEFAULT_ATTRIBUTES = ("floral", "striped", "denim", "lace", "maxi", "sleeveless")
FILE_NAME = "synthetic_attribute_shares.csv"


def synthetic_share_table(
    attributes: Sequence[str] | Mapping[str, float] = DEFAULT_ATTRIBUTES, *, weeks: int = 156,
    start: str = "2021-01-03", groups: Sequence[str] | None = None, slope_max: float = 0.15,
    amp_max: float = 0.3, noise_sd: float = 0.04, seed: int = 0,
) -> pd.DataFrame:
    """Return a SYNTHETIC weekly long table date, attribute, share[, group], source (process in the module doc).

    ``attributes`` may map names to base shares (e.g. catalogue prevalence) or just list names.
    The drawn parameters are in ``frame.attrs["truth"]`` ({attribute: {base, slope_per_year, amplitude, phase_week}}).
    """
    rng = np.random.default_rng(seed)
    names = list(attributes)
    if isinstance(attributes, Mapping):
        base = np.clip(np.array([float(attributes[a]) for a in names]), 0.01, 0.9)
    else:
        base = rng.uniform(0.05, 0.30, len(names))
    slope = rng.uniform(-slope_max, slope_max, len(names))
    amp = rng.uniform(0.1, amp_max, len(names))
    phase = rng.uniform(0, 52, len(names))
    group_names = list(groups) if groups else [None]
    level = rng.uniform(0.7, 1.3, len(group_names)) if groups else np.ones(1)
    t = np.arange(weeks)
    dates = pd.date_range(start, periods=weeks, freq="7D")
    frames = []
    for gi, g in enumerate(group_names):
        for ai, a in enumerate(names):
            b = base[ai] * level[gi]
            mean = b * (1 + slope[ai] * t / 52 + amp[ai] * np.sin(2 * np.pi * (t - phase[ai]) / 52))
            share = np.clip(mean + rng.normal(0, noise_sd * b, weeks), 0.001, 0.999)
            part = pd.DataFrame({"date": dates, "attribute": a, "share": share})
            if g is not None:
                part["group"] = g
            frames.append(part)
    frame = pd.concat(frames, ignore_index=True)
    frame["source"] = "synthetic"
    # Plain floats, not a DataFrame: pandas compares attrs when tables are concatenated.
    frame.attrs["truth"] = {a: {"base": float(base[i]), "slope_per_year": float(slope[i]), "amplitude": float(amp[i]),
                                "phase_week": float(phase[i])} for i, a in enumerate(names)}
    return frame


def write_synthetic_table(out_dir: str | Path, **kwargs: object) -> Path:
    """Write the SYNTHETIC table to out_dir/synthetic_attribute_shares.csv (atomically); return its path."""
    frame = synthetic_share_table(**kwargs)  # type: ignore[arg-type]
    path = Path(out_dir) / FILE_NAME
    frame = frame.assign(date=frame["date"].dt.strftime("%Y-%m-%d"))
    atomic_write_text(path, frame.to_csv(index=False, float_format="%.5f"))
    return path
