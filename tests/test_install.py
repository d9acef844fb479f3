"""A plain (non-editable) install works outside the repository: the wheel carries the configs.

Builds the wheel from a copy of the sources, installs it with ``--no-deps`` into a fresh
virtual environment in a temporary folder that borrows this environment's packages
(torch and the rest) through a ``.pth`` line, and runs the installed command there.
About 30 s on 2 cores.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from venv_helpers import ROOT, borrowing_venv, build_wheel, clean_env, pip_install, run


def test_wheel_installed_outside_the_repository_runs_and_has_its_configs(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path)  # from a copy, so building leaves nothing (build/, *.egg-info) in the repository
    shipped = sorted(p.name for p in (ROOT / "fashionlib" / "configs").glob("*.yaml"))
    assert shipped and {f"fashionlib/configs/{n}" for n in shipped} <= set(zipfile.ZipFile(wheel).namelist())

    venv = tmp_path / "venv"
    python = borrowing_venv(venv)  # torch & co. borrowed from this environment through a .pth line
    done = pip_install(python, "--no-deps", "--no-index", str(wheel))
    assert done.returncode == 0, done.stderr[-4000:]

    work = tmp_path / "elsewhere"  # no pyproject.toml above it: nothing can fall back to the repository
    work.mkdir()
    env = clean_env(FASHIONLIB_FAST="1")
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
