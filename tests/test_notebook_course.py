"""The course notebooks 01-04 keep the shape the course promises: Colab badge, setup, parameters, exercises."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from fashionlib.notebook import COLAB_URL, REPOSITORY, colab_link

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("0[1-4]_*.ipynb"))


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _text(cell: dict) -> str:
    return "".join(cell["source"])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_has_badge_setup_parameters_and_exercises(path: Path) -> None:
    cells = _cells(path)
    assert colab_link(path.stem) in _text(cells[0]), "the title cell carries the Open-in-Colab badge"
    code = [c for c in cells if c["cell_type"] == "code"]
    assert "setup(" in _text(code[0]) and f"github.com/{REPOSITORY}" in _text(code[0])
    assert any(_text(c).startswith("## Setup") for c in cells if c["cell_type"] == "markdown")
    params = [c for c in code if "parameters" in c["metadata"].get("tags", [])]
    assert len(params) == 1 and re.search(r"^[A-Z_]+ = ", _text(params[0]), re.M)
    assert any(_text(c).startswith("## Exercises") for c in cells if c["cell_type"] == "markdown")
    solutions = [c for c in code if c["metadata"].get("jupyter", {}).get("source_hidden")]
    assert solutions and all(_text(c).strip() for c in solutions)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_outputs_leak_no_local_path_and_no_progress_bar_fallback(path: Path) -> None:
    for cell in _cells(path):
        for out in cell.get("outputs", []):
            text = "".join(out.get("text", "")) + "".join(out.get("data", {}).get("text/plain", ""))
            assert not re.search(r"(/home/|/root/|/work/|/Users/|C:\\\\)", text), text[:200]
            assert not re.search(r"\| *0/\d+ \[", text), f"a tqdm text fallback in {path.name}: {text[:120]}"


def test_readme_badges_use_the_one_repository_url() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    for path in NOTEBOOKS:
        assert COLAB_URL.format(name=path.stem) in readme, path.stem


def test_compressing_stored_figures_twice_changes_nothing(tmp_path: Path) -> None:
    """The notebook tidy turns large PNG figures into JPEG once; a second pass must not re-encode (and blur) them."""
    import base64
    import io

    import nbformat
    import numpy as np
    from PIL import Image

    from fashionlib.notebook import compress_images

    # A grid-like picture (coloured blocks with noise): such pictures shrink a little every time JPEG re-encodes them.
    rng = np.random.default_rng(0)
    blocks = np.kron(rng.integers(0, 255, (48, 48, 3), dtype=np.uint8), np.ones((12, 12, 1), dtype=np.uint8))
    buf = io.BytesIO()
    Image.fromarray((blocks + rng.normal(0, 20, blocks.shape)).clip(0, 255).astype(np.uint8)).save(buf, "PNG")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("fig", outputs=[nbformat.v4.new_output(
        "display_data", data={"image/png": base64.b64encode(buf.getvalue()).decode()})])]
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, str(path))
    assert compress_images(path) == 1
    first = path.read_text()
    assert '"image/jpeg"' in first and '"image/png"' not in first
    assert compress_images(path) == 0 and path.read_text() == first
