"""Forecasting attribute shares where there are dates: a holdout backtest of three methods, MAE and MAPE.

Input: a long table ``date, attribute, share`` (optionally a group column such as city, as in
GeoStyle, Mall et al. ICCV 2019), one row per attribute (and group) and period, regularly spaced
(weekly by default). For every series the last ``horizon`` periods (26 weeks) are held out and
forecast from the rest by

* **naive-last**: the last observed share, flat;
* **seasonal-naive**: the share one season (52 weeks) before each forecast date;
* **exp-smoothing**: additive Holt-Winters (``statsmodels`` ``ExponentialSmoothing``: level, trend
  and, with at least two seasons of history, a yearly season);

and scored with MAE (in share points) and MAPE (%, over held-out points with a non-zero share),
the baselines and metrics those papers report. Intervals (95%): for the naive methods from the
spread of their own in-sample errors, growing with the horizon; for Holt-Winters from simulated
future paths of the fitted model.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REQUIRED = ("date", "attribute", "share")
METHODS = ("naive-last", "seasonal-naive", "exp-smoothing")
HORIZON = 26
SEASON = 52


class ForecastTableError(ValueError):
    """A share table is not usable for forecasting (the message names the file and column)."""


# ---------------------------------------------------------------------------
# Reading and checking the table
# ---------------------------------------------------------------------------


def read_share_table(source: str | Path | pd.DataFrame, *, group: str | None = None) -> pd.DataFrame:
    """Return a checked long table (date as datetime, share as float) from a CSV path or a DataFrame."""
    where = str(source) if not isinstance(source, pd.DataFrame) else "table"
    if isinstance(source, pd.DataFrame):
        frame = source.copy()
    else:
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"share table {path} not found (expected a CSV with columns date, attribute, share)")
        frame = pd.read_csv(path)
    expected = [*REQUIRED, *([group] if group else [])]
    missing = [c for c in expected if c not in frame.columns]
    if missing:
        raise ForecastTableError(f"{where}: missing column {missing[0]!r} (expected {', '.join(expected)}; "
                                 f"found {', '.join(map(str, frame.columns))})")
    dates = pd.to_datetime(frame["date"], errors="coerce")
    bad = dates.isna()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ForecastTableError(f"{where}: column 'date' row {i + 1}: expected a date like 2021-01-03, "
                                 f"found {frame['date'].iloc[i]!r}")
    shares = pd.to_numeric(frame["share"], errors="coerce")
    bad = shares.isna() | (shares < 0) | (shares > 1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ForecastTableError(f"{where}: column 'share' row {i + 1}: expected a number in [0, 1], "
                                 f"found {frame['share'].iloc[i]!r}")
    frame["date"], frame["share"] = dates, shares.astype(float)
    keys = ["attribute", *([group] if group else [])]
    dup = frame.duplicated([*keys, "date"])
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise ForecastTableError(f"{where}: row {i + 1}: a second share for {frame.loc[frame.index[i], keys].tolist()} "
                                 f"on {frame['date'].iloc[i].date()} (one row per {', '.join(keys)} and date)")
    return frame.sort_values([*keys, "date"]).reset_index(drop=True)


def series_of(table: pd.DataFrame, group: str | None = None) -> dict[tuple[str, ...], pd.Series]:
    """Return one regularly spaced share series per attribute (and group), indexed by date."""
    keys = ["attribute", *([group] if group else [])]
    out = {}
    for key, part in table.groupby(keys, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        s = part.set_index("date")["share"].sort_index()
        steps = s.index.to_series().diff().dropna().unique()
        if len(steps) > 1:
            raise ForecastTableError(f"series {'/'.join(map(str, key))}: dates are not evenly spaced "
                                     f"(found steps {sorted(pd.to_timedelta(steps))[:3]}); fill or drop the gaps")
        out[tuple(str(k) for k in key)] = s
    return out


# ---------------------------------------------------------------------------
# The three methods
# ---------------------------------------------------------------------------

Z95 = 1.959964


def naive_last(y: np.ndarray, horizon: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (forecast, low, high): the last value; the interval widens like a random walk's (sqrt of h)."""
    sd = np.std(np.diff(y), ddof=1) if len(y) > 2 else 0.0
    h = np.arange(1, horizon + 1)
    mean = np.full(horizon, y[-1])
    return mean, mean - Z95 * sd * np.sqrt(h), mean + Z95 * sd * np.sqrt(h)


def seasonal_naive(y: np.ndarray, horizon: int, season: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (forecast, low, high): the value one season earlier (repeated past the first season)."""
    if len(y) < season:
        raise ForecastTableError(f"seasonal-naive needs at least one season ({season} periods) of history, found {len(y)}")
    h = np.arange(horizon)
    mean = y[len(y) - season + h % season]
    sd = np.std(y[season:] - y[:-season], ddof=1) if len(y) > season + 1 else 0.0
    width = Z95 * sd * np.sqrt(h // season + 1)
    return mean, mean - width, mean + width


def exp_smoothing(y: np.ndarray, horizon: int, season: int, *, seed: int = 0,
                  repetitions: int = 300) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (forecast, low, high) of additive Holt-Winters; the season only with two full seasons of history."""
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    seasonal = len(y) >= 2 * season
    model = ExponentialSmoothing(
        y, trend="add", seasonal="add" if seasonal else None, seasonal_periods=season if seasonal else None,
        # The heuristic start (from the first two seasons) is fast and stable; estimating 52 seasonal
        # starting values by optimisation is slow and overfits short series.
        initialization_method="heuristic" if seasonal else "estimated",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # statsmodels' convergence chatter on short series
        fit = model.fit()
        mean = np.asarray(fit.forecast(horizon))
        paths = np.asarray(fit.simulate(horizon, repetitions=repetitions, error="add", anchor="end",
                                        random_state=seed)).reshape(horizon, -1)
    lo, hi = np.percentile(paths, [2.5, 97.5], axis=1)
    return mean, lo, hi


def forecast_series(y: np.ndarray, horizon: int = HORIZON, season: int = SEASON,
                    methods: Sequence[str] = METHODS, seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Return {method: (forecast, low, high)} for the next ``horizon`` periods after y."""
    out = {}
    for m in methods:
        if m == "naive-last":
            out[m] = naive_last(y, horizon)
        elif m == "seasonal-naive":
            out[m] = seasonal_naive(y, horizon, season)
        elif m == "exp-smoothing":
            out[m] = exp_smoothing(y, horizon, season, seed=seed)
        else:
            raise ForecastTableError(f"unknown method {m!r}; choose among {', '.join(METHODS)}")
    return out


def mae(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Return the mean absolute error."""
    return float(np.mean(np.abs(np.asarray(actual) - np.asarray(forecast))))


def mape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Return the mean absolute percentage error (%) over points whose actual value is not zero."""
    actual, forecast = np.asarray(actual, dtype=float), np.asarray(forecast, dtype=float)
    nz = actual != 0
    return float(100 * np.mean(np.abs(actual[nz] - forecast[nz]) / np.abs(actual[nz]))) if nz.any() else float("nan")


# ---------------------------------------------------------------------------
# The backtest
# ---------------------------------------------------------------------------


@dataclass
class Backtest:
    """Scores per series and method, their summary, and what is needed to plot any series."""

    scores: pd.DataFrame  # series, method, MAE, MAPE
    horizon: int
    season: int
    series: dict[tuple[str, ...], pd.Series] = field(repr=False, default_factory=dict)
    forecasts: dict[tuple[str, ...], dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]] = field(
        repr=False, default_factory=dict)
    label: str = ""

    def summary(self) -> pd.DataFrame:
        """Return per method the mean MAE and MAPE over series, ranked by MAE (1 = best)."""
        s = self.scores.groupby("method", sort=False)[["MAE", "MAPE %"]].mean()
        s["wins (lowest MAE)"] = (self.scores.loc[self.scores.groupby("series")["MAE"].idxmin(), "method"]
                                  .value_counts().reindex(s.index, fill_value=0))
        s = s.sort_values("MAE")
        s.insert(0, "rank", range(1, len(s) + 1))
        s.attrs["note"] = self.label
        return s


def backtest(table: pd.DataFrame, *, horizon: int = HORIZON, season: int = SEASON, group: str | None = None,
             methods: Sequence[str] = METHODS, seed: int = 0, progress: bool = False) -> Backtest:
    """Hold out the last ``horizon`` periods of every series, forecast them with each method, score MAE / MAPE."""
    from tqdm.auto import tqdm

    if horizon < 1:
        raise ForecastTableError(f"horizon must be at least 1 period, found {horizon}")
    series = series_of(read_share_table(table, group=group), group)
    rows, forecasts = [], {}
    for key, s in tqdm(series.items(), desc="backtest", disable=not progress, leave=False):
        y = s.to_numpy()
        if len(y) <= horizon + season:
            raise ForecastTableError(f"series {'/'.join(key)} has {len(y)} periods: the backtest needs more than "
                                     f"horizon + season = {horizon + season}")
        train, test = y[:-horizon], y[-horizon:]
        forecasts[key] = forecast_series(train, horizon, season, methods, seed)
        for m, (mean, _, _) in forecasts[key].items():
            rows.append({"series": "/".join(key), "method": m, "MAE": mae(test, mean), "MAPE %": mape(test, mean)})
    label = "SYNTHETIC data" if "source" in table.columns and (table["source"] == "synthetic").all() else ""
    return Backtest(pd.DataFrame(rows), horizon, season, series, forecasts, label)


def plot_backtest(bt: Backtest, keys: Sequence[str | tuple[str, ...]] | None = None, max_series: int = 4) -> Any:
    """Return a figure per series: history, held-out truth, each method's forecast and Holt-Winters' 95% interval."""
    import matplotlib.pyplot as plt

    keys = [k if isinstance(k, tuple) else (k,) for k in (keys or list(bt.series)[:max_series])]
    fig, axes = plt.subplots(len(keys), 1, figsize=(9, 2.4 * len(keys)), squeeze=False, sharex=True)
    colors = {"naive-last": "#8c8c8c", "seasonal-naive": "#dd8452", "exp-smoothing": "#4c72b0"}
    for ax, key in zip(axes[:, 0], keys):
        if key not in bt.series:
            raise ForecastTableError(f"no series {'/'.join(key)}; series: {', '.join('/'.join(k) for k in bt.series)}")
        s = bt.series[key]
        cut = len(s) - bt.horizon
        ax.plot(s.index[:cut], s.to_numpy()[:cut], color="black", lw=1, label="history")
        ax.plot(s.index[cut:], s.to_numpy()[cut:], color="black", lw=1, ls=":", label="held out (truth)")
        for m, (mean, lo, hi) in bt.forecasts[key].items():
            ax.plot(s.index[cut:], mean, color=colors.get(m), lw=1.6, label=m)
            if m == "exp-smoothing":
                ax.fill_between(s.index[cut:], lo, hi, color=colors[m], alpha=0.18, label="95% interval (Holt-Winters)")
        ax.set_ylabel("share")
        ax.set_title("/".join(key) + (f" ({bt.label})" if bt.label else ""), fontsize=9)
    axes[0, 0].legend(fontsize=7, ncol=3, loc="upper left")
    fig.suptitle(f"Backtest: last {bt.horizon} periods held out" + (f" - {bt.label}" if bt.label else ""), fontsize=10)
    fig.tight_layout()
    return fig
