"""A plain (non-editable) install works outside the repository: the wheel carries the configs.

Builds the wheel from a copy of the sources, installs it with ``--no-deps`` into a fresh
virtual environment in a temporary folder that borrows this environment's packages
(torch and the rest) through a ``.pth`` line, and runs the installed command there.
About 30 s on 2 cores.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{args}\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    return proc.stdout


def test_wheel_installed_outside_the_repository_runs_and_has_its_configs(tmp_path: Path) -> None:
    src = tmp_path / "src"  # a copy, so building leaves nothing (build/, *.egg-info) in the repository
    src.mkdir()
    shutil.copy(ROOT / "pyproject.toml", src)
    shutil.copy(ROOT / "README.md", src)
    shutil.copytree(ROOT / "fashionlib", src / "fashionlib", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path / "dist"),
         str(src)], cwd=tmp_path)
    wheel = next((tmp_path / "dist").glob("fashionlib-*.whl"))
    shipped = sorted(p.name for p in (ROOT / "fashionlib" / "configs").glob("*.yaml"))
    assert shipped and {f"fashionlib/configs/{n}" for n in shipped} <= set(zipfile.ZipFile(wheel).namelist())

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp_path)
    python = venv / "bin" / "python"
    purelib = Path(run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                       cwd=tmp_path).strip())
    # Borrow torch & co. from this environment; a plain path line, so its editable-install hook stays off.
    ours = {sysconfig.get_paths()["purelib"], *site.getsitepackages()}
    (purelib / "borrowed.pth").write_text("\n".join(sorted(ours)) + "\n")
    run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q",
         str(wheel)], cwd=tmp_path)

    work = tmp_path / "elsewhere"  # no pyproject.toml above it: nothing can fall back to the repository
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("FASHIONLIB_HOME", "PYTHONPATH")}
    env["FASHIONLIB_FAST"] = "1"
    fashionlib = str(venv / "bin" / "fashionlib")
    run([fashionlib, "sample-data", "DeepFashion", "--images", "12", "--workers", "1", "--quiet"], cwd=work, env=env)
    out = run([fashionlib, "convert", "DeepFashion", "coco", "--workers", "1"], cwd=work, env=env)
    assert "train.json" in out and all((work / "coco" / f"{s}.json").is_file() for s in ("train", "val", "test"))
    check = (
        "import fashionlib, pathlib\n"
        "from fashionlib.detection.config import configs_dir, load_config, shipped_configs, study_config\n"
        "assert str(pathlib.Path(fashionlib.__file__).resolve()).startswith(str(pathlib.Path(r'%s').resolve())), fashionlib.__file__\n"
        "names = shipped_configs()\n"
        "print(names, [load_config(n).name for n in names], study_config().name, configs_dir())\n"
    ) % venv
    printed = run([str(python), "-c", check], cwd=work, env=env)
    for name in shipped:
        assert name.removesuffix(".yaml") in printed
    assert str(venv.resolve()) in printed
