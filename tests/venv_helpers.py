"""Fresh virtual environments outside the repository, for tests of what a learner's machine (or Colab) sees.

There is no internet in CI, so a fresh venv borrows this environment's packages (torch, Jupyter and the rest)
through a ``.pth`` file of plain path lines: the borrowed folders come *after* the venv's own site-packages on
``sys.path``, so whatever is installed into the venv (the fashionlib wheel, ipywidgets 7) wins, and this
environment's editable-install hook (a ``.pth`` inside the borrowed folder) never runs.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Settings that would point a fresh environment back at this checkout or at another profile.
LOCAL_SETTINGS = ("FASHIONLIB_HOME", "FASHIONLIB_RUNS", "FASHIONLIB_PROFILE", "DEEPFASHION_ROOT", "PYTHONPATH",
                  "JUPYTER_PATH", "JUPYTER_DATA_DIR")


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 300) -> str:
    """Run a command, fail the test with its output unless it exits 0; return its stdout."""
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{args}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc.stdout


def clean_env(**extra: str) -> dict[str, str]:
    """Return this process's environment without the settings that point at the checkout, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in LOCAL_SETTINGS}
    env.update(extra)
    return env


def build_wheel(tmp_path: Path) -> Path:
    """Build the fashionlib wheel from a copy of the sources (nothing is written into the repository)."""
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(ROOT / "pyproject.toml", src)
    shutil.copy(ROOT / "README.md", src)
    shutil.copytree(ROOT / "fashionlib", src / "fashionlib", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path / "dist"),
         str(src)], cwd=tmp_path)
    return next((tmp_path / "dist").glob("fashionlib-*.whl"))


def borrowing_venv(venv: Path) -> Path:
    """Create a venv (no pip) whose packages come after this environment's; return its python."""
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=venv.parent)
    python = venv / "bin" / "python"
    purelib = Path(run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                       cwd=venv.parent).strip())
    ours = {sysconfig.get_paths()["purelib"], *site.getsitepackages()}
    (purelib / "borrowed.pth").write_text("\n".join(sorted(ours)) + "\n")
    return python


def pip_install(python: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run this environment's pip against the venv of ``python``; return the finished process (not checked)."""
    return subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q",
                           "--disable-pip-version-check", *args],
                          capture_output=True, text=True, timeout=timeout)
