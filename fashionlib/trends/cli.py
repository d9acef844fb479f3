"""``fashionlib trends ...``: backtest forecasts on a dated share table, write the SYNTHETIC table."""

from __future__ import annotations

import argparse
from typing import Any


def _cmd_forecast(args: Any) -> int:
    from fashionlib.trends.forecast import backtest, read_share_table

    table = read_share_table(args.table, group=args.group)
    bt = backtest(table, horizon=args.horizon, season=args.season, group=args.group, progress=True)
    summary = bt.summary()
    if bt.label:
        print(f"[{bt.label}]")
    print(f"last {args.horizon} periods held out, {len(bt.series)} series")
    print(summary.to_string(float_format=lambda v: f"{v:.4f}"))
    if args.out:
        from fashionlib.runio import atomic_write_text

        atomic_write_text(args.out, bt.scores.to_csv(index=False))
        print(f"scores per series -> {args.out}")
    return 0


def _cmd_table(args: Any) -> int:
    from fashionlib.trends.synthetic_table import write_synthetic_table

    path = write_synthetic_table(args.out_dir, weeks=args.weeks, seed=args.seed,
                                 groups=args.groups.split(",") if args.groups else None)
    print(f"SYNTHETIC share table (known trend + season + noise) -> {path}")
    return 0


def add_commands(sub: Any) -> None:
    """Register ``trends forecast`` and ``trends synthetic-table`` with the fashionlib command."""
    p = sub.add_parser("trends", help="trend signals: forecast backtests on dated attribute shares")
    tsub = p.add_subparsers(dest="trends_command", metavar="TRENDS_COMMAND", required=True)
    f = tsub.add_parser("forecast", help="hold out the last periods, score naive / seasonal-naive / Holt-Winters",
                        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    f.add_argument("table", help="CSV with columns date, attribute, share (and --group)")
    f.add_argument("--horizon", type=int, default=26, help="periods held out at the end of every series")
    f.add_argument("--season", type=int, default=52, help="periods per season (52 for weekly data)")
    f.add_argument("--group", default=None, help="optional group column (e.g. city)")
    f.add_argument("--out", default=None, help="write the per-series scores to this CSV")
    f.set_defaults(func=_cmd_forecast)
    t = tsub.add_parser("synthetic-table", help="write the SYNTHETIC weekly share table (documented process)",
                        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    t.add_argument("out_dir")
    t.add_argument("--weeks", type=int, default=156)
    t.add_argument("--groups", default=None, help="comma-separated group names, e.g. Paris,Seoul")
    t.add_argument("--seed", type=int, default=0)
    t.set_defaults(func=_cmd_table)
