"""Trend signals from DeepFashion's attributes, and forecasting where there are dates.

DeepFashion has no dates: what it tells is what the catalogue is made of, a
**cross-sectional** picture. The modules here keep that distinction visible:

* :mod:`~fashionlib.trends.catalogue`: the image x attribute matrix as a sparse table;
* :mod:`~fashionlib.trends.prevalence`: attribute shares per garment type / category with
  95% Wilson intervals, over- and under-represented attributes;
* :mod:`~fashionlib.trends.cooccurrence`: lift and PMI between attributes, heat maps;
* :mod:`~fashionlib.trends.styles`: NMF "styles" (Al-Halah et al., Fashion Forward, ICCV 2017);
* :mod:`~fashionlib.trends.attributes`: an attribute predictor on garment crops, top-k recall,
  and the attribute profile of generated designs;
* :mod:`~fashionlib.trends.forecast`: backtests of naive, seasonal-naive and exponential
  smoothing forecasts on a dated ``date, attribute, share`` table;
* :mod:`~fashionlib.trends.synthetic_table`: a SYNTHETIC dated table with a known generating process.

Submodules are imported on use (``from fashionlib.trends import prevalence``) so that importing
the package pulls in neither torch nor statsmodels.
"""

CROSS_SECTIONAL = "cross-sectional shares, not a forecast"
SYNTHETIC = "SYNTHETIC data"


def add_commands(sub: object) -> None:
    """Register the ``fashionlib trends`` sub-commands (imported on use: the CLI stays light)."""
    from fashionlib.trends.cli import add_commands as _add

    _add(sub)
