"""The project's set-up files agree with each other."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

tomllib = pytest.importorskip("tomllib")  # Python 3.11+; the check needs to run on one Python only

ROOT = Path(__file__).resolve().parents[1]


def test_environment_yml_matches_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["channels"] == ["conda-forge"]
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    python = next(d for d in conda if d.startswith("python"))
    assert python.replace("python", "") == project["requires-python"]
    assert "pip" in conda
    # The package itself (with its dev extra) comes through pip, so library versions live in one place.
    assert pip_section == ["-e .[dev]"]
    declared = {re.split(r"[<>=!~ ]", d)[0].lower() for d in project["dependencies"]}
    assert not declared & {re.split(r"[<>=!~ ]", d)[0].lower() for d in conda if not d.startswith(("python", "pip"))}
    assert "dev" in project["optional-dependencies"]


def test_runtime_dependencies_named_by_the_course() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {re.split(r"[<>=!~ ]", d)[0].lower() for d in project["dependencies"]}
    assert {"torch", "torchvision", "pycocotools", "matplotlib", "pandas", "numpy", "pillow", "tqdm", "ipywidgets"} <= names
    assert "ipywidgets>=7" in project["dependencies"]  # Colab ships ipywidgets 7
    dev = {re.split(r"[<>=!~ ]", d)[0].lower() for d in project["optional-dependencies"]["dev"]}
    assert {"jupyterlab", "nbval", "pytest", "papermill", "ruff"} <= dev
    assert project["scripts"]["fashionlib"] == "fashionlib.cli:main"


def test_ci_runs_the_readme_test_command() -> None:
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make run" in readme and "make test" in readme


def test_notebooks_are_numbered_and_each_has_one_parameters_cell() -> None:
    import json

    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    assert notebooks, "no notebooks"
    for path in notebooks:
        assert re.fullmatch(r"\d\d_[a-z0-9_]+\.ipynb", path.name), path.name
        nb = json.loads(path.read_text())
        tagged = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(tagged) == 1, f"{path.name}: expected one 'parameters' cell, found {len(tagged)}"
        for cell in nb["cells"]:
            if cell["cell_type"] == "code" and cell.get("outputs"):
                assert cell.get("execution_count") is not None, f"{path.name}: stored output without execution count"
                assert not any(o.get("output_type") == "error" for o in cell["outputs"]), f"{path.name}: saved error"
