"""The committed notebooks come from one run of the course: every stamp names the same inputs."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def read_stamp(path: Path) -> dict | None:
    """Return the JSON printed by a notebook's stamp cell in its stored outputs (None when it has none)."""
    nb = nbformat.read(path, 4)
    cells = [c for c in nb.cells if c.cell_type == "code" and "stamp" in c.metadata.get("tags", [])]
    if len(cells) != 1:
        raise AssertionError(f"{path.name}: expected one code cell tagged 'stamp', found {len(cells)}")
    for out in cells[0].get("outputs", []):
        if out.get("output_type") == "stream" and out.get("name") == "stdout":
            return json.loads(out["text"].strip().splitlines()[-1])
    return None


def disagreements(stamps: dict[str, dict]) -> list[str]:
    """Return one line per input that two notebooks name differently (or a notebook from another profile/mode)."""
    problems, seen = [], {}
    for name, st in stamps.items():
        if st.get("profile") != "sample" or st.get("fast"):
            problems.append(f"{name}: stored outputs from profile={st.get('profile')} fast={st.get('fast')}")
        for key, value in st.items():
            if key in ("profile", "fast"):
                continue
            if value is None:
                problems.append(f"{name}: input {key} was missing when it ran")
            elif key in seen and seen[key][1] != value:
                problems.append(f"{name}: {key}={value} but {seen[key][0]} used {seen[key][1]}")
            else:
                seen.setdefault(key, (name, value))
    return problems


def test_the_stored_notebooks_come_from_one_run() -> None:
    stamps = {p.name: read_stamp(p) for p in NOTEBOOKS}
    missing = [n for n, s in stamps.items() if s is None]
    assert not missing, f"notebooks without stored stamp output (run `make notebooks`): {missing}"
    assert disagreements(stamps) == []


def test_disagreements_are_found() -> None:
    a = {"profile": "sample", "fast": False, "data": "abc", "crops": "c1"}
    assert disagreements({"05.ipynb": a, "06.ipynb": {**a, "crops": "c2"}}) == [
        "06.ipynb: crops=c2 but 05.ipynb used c1"]
    assert disagreements({"01.ipynb": {**a, "fast": True}}) == ["01.ipynb: stored outputs from profile=sample fast=True"]
    assert disagreements({"03.ipynb": {**a, "detector": None}}) == ["03.ipynb: input detector was missing when it ran"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_each_notebook_has_a_stamp_cell(path: Path) -> None:
    read_stamp(path)  # raises unless exactly one stamp cell


def test_progress_widgets_are_stripped_and_other_outputs_kept(tmp_path: Path) -> None:
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    from fashionlib.notebook import strip_progress_widgets

    bar = new_output("display_data", data={"application/vnd.jupyter.widget-view+json": {"model_id": "x"},
                                           "text/plain": "crops:   0%|          | 0/900 [00:00<?, ?it/s]"})
    explorer = new_output("display_data", data={"application/vnd.jupyter.widget-view+json": {"model_id": "y"},
                                                "text/plain": "HBox(children=(VBox(),))"})
    text = new_output("stream", name="stdout", text="stopped at iteration 900\n")
    nb = new_notebook(cells=[new_code_cell("train()", outputs=[bar, text, explorer])],
                      metadata={"widgets": {"state": {}}})
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, str(path))
    assert strip_progress_widgets(path) == 1
    again = nbformat.read(str(path), 4)
    assert [o.get("name") or o["data"]["text/plain"][:4] for o in again.cells[0].outputs] == ["stdout", "HBox"]
    assert "widgets" not in again.metadata
