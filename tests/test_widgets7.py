"""The widget tests pass under ipywidgets 7 (what Colab ships) as well as 8 (installed here, JupyterLab 4).

A throwaway venv gets ipywidgets 7 from the package index; everything else is borrowed from this environment
(``venv_helpers``), after it on ``sys.path``, so ipywidgets 7 shadows the installed 8. The widget tests then run
in that venv against this checkout. Skipped, saying why, when the index cannot be reached. About 20 s.
Also ``make test-widgets7``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from venv_helpers import ROOT, borrowing_venv, clean_env, pip_install, run

WIDGET_TESTS = [
    "tests/test_inspiration.py::test_latent_explorer_redraws_on_slider_change",
    "tests/test_explore.py::test_figures_and_browser",
]
IPYWIDGETS_7 = ("ipywidgets>=7.6,<8", "ipython-genutils~=0.2.0")  # ipywidgets 7 imports ipython_genutils


def test_widget_tests_pass_under_ipywidgets_7(tmp_path: Path) -> None:
    python = borrowing_venv(tmp_path / "venv7")
    proc = pip_install(python, "--no-deps", *IPYWIDGETS_7, timeout=180)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        pytest.skip(f"ipywidgets 7 could not be installed from the package index (offline?): {last}")
    env = clean_env(FASHIONLIB_FAST="1", MPLBACKEND="Agg", OMP_NUM_THREADS="1")
    version = run([str(python), "-c", "import ipywidgets; print(ipywidgets.__version__)"], cwd=ROOT, env=env).strip()
    assert version.startswith("7."), f"the throwaway venv imports ipywidgets {version}, not 7"
    out = run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error::DeprecationWarning:ipywidgets",
               *WIDGET_TESTS], cwd=ROOT, env=env)
    assert f"{len(WIDGET_TESTS)} passed" in out, out


if __name__ == "__main__":  # pragma: no cover - `python tests/test_widgets7.py` runs it alone
    sys.exit(pytest.main([__file__, "-q", "-rs"]))
