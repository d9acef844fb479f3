"""What a fresh Colab VM sees: only the fashionlib wheel installed, no repository, the first cell, then notebook 01.

A clean virtual environment in a temporary folder gets the built wheel (``pip install <wheel>``, no editable
install); its other packages are borrowed from this environment (no internet here, see ``venv_helpers``). In a
working folder with no checkout above it (as ``/content`` on Colab), the notebook's first code cell runs alone
in plain Python (it must build the sample data there), then notebook 01 runs headless in a kernel of that venv
(nbclient). Its checked outputs must equal the stored notebook's, and nothing in it may name the checkout.
About 60 s on 2 busy cores.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from venv_helpers import ROOT, borrowing_venv, build_wheel, clean_env, pip_install, run

from fashionlib.config import SAMPLE_IMAGES, get_profile
from fashionlib.notebook import stamp

NOTEBOOK = ROOT / "notebooks" / "01_explore_deepfashion.ipynb"

EXECUTE = """
import json, sys
import nbformat
from nbclient import NotebookClient

src, dst = sys.argv[1], sys.argv[2]
nb = nbformat.read(src, as_version=4)
nb.cells.append(nbformat.v4.new_code_cell(
    "import json, sys, fashionlib\\n"
    "from fashionlib.config import find_home\\n"
    "print('WHERE ' + json.dumps({'fashionlib': fashionlib.__file__, 'python': sys.executable,\\n"
    "                             'home': str(find_home()), 'data_root': str(P.data_root), 'runs': str(P.run_dir)}))"))
NotebookClient(nb, timeout=300, startup_timeout=120, kernel_name="python3",
               resources={"metadata": {"path": sys.argv[3]}}).execute()
nbformat.write(nb, dst)
"""


def first_code_cell(nb: nbformat.NotebookNode) -> str:
    return next(c.source for c in nb.cells if c.cell_type == "code")


def checked_outputs(nb: nbformat.NotebookNode) -> list[list[str]]:
    """Text of every ``# NBVAL_CHECK_OUTPUT`` cell's outputs (streams and text/plain results)."""
    texts = []
    for cell in nb.cells:
        if cell.cell_type == "code" and "NBVAL_CHECK_OUTPUT" in cell.source:
            texts.append([o.get("text") or o.get("data", {}).get("text/plain", "") for o in cell.outputs])
    return texts


def test_wheel_alone_runs_the_first_cell_and_notebook_01_outside_the_repository(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path)
    venv = tmp_path / "venv"
    python = borrowing_venv(venv)
    proc = pip_install(python, "--no-deps", "--no-index", str(wheel))
    assert proc.returncode == 0, proc.stderr

    content = tmp_path / "content"  # Colab's working folder: no pyproject.toml above it, no FASHIONLIB_HOME
    content.mkdir()
    env = clean_env(FASHIONLIB_FAST="1", MPLBACKEND="Agg", OMP_NUM_THREADS="1")
    stored = nbformat.read(NOTEBOOK, as_version=4)
    setup_cell = first_code_cell(stored)
    assert 'find_spec("fashionlib") is None' in setup_cell and "setup(drive=DRIVE)" in setup_cell
    printed = run([str(python), "-c", setup_cell], cwd=content, env=env)
    assert "fashionlib profile=sample" in printed and "runs/ in the project" in printed, printed
    sample = content / "data" / "sample" / "DeepFashion"
    assert (sample / "Anno" / "list_bbox.txt").is_file(), "the first cell did not build the sample data"
    assert (content / "runs" / "sample").is_dir()

    executed = tmp_path / "01_executed.ipynb"
    run([str(python), "-c", EXECUTE, str(NOTEBOOK), str(executed), str(content)], cwd=content, env=env, timeout=600)
    nb = nbformat.read(executed, as_version=4)
    where_lines = [line for c in nb.cells if c.cell_type == "code" for o in c.outputs
                   for line in (o.get("text") or "").splitlines() if line.startswith("WHERE ")]
    where = json.loads(where_lines[-1].removeprefix("WHERE "))
    # The kernel ran in the clean venv with the wheel's package, and the profile lives in the working folder.
    assert Path(where["python"]).parent == venv / "bin", where
    assert Path(where["fashionlib"]).resolve().is_relative_to(venv.resolve()), where
    assert Path(where["home"]) == content.resolve() and Path(where["data_root"]) == sample.resolve(), where
    assert Path(where["runs"]).is_relative_to(content.resolve()), where
    # Same data as this checkout's sample: the notebook's stamp fingerprints what it read.
    stamps = [json.loads(o["text"]) for c in nb.cells if c.cell_type == "code" and "stamp" in c.metadata.get("tags", [])
              for o in c.outputs
              if o.get("name") == "stdout"]
    ours = get_profile("sample", home=ROOT)
    assert stamps and stamps[0]["data"] == stamp(ours, "data")["data"] is not None
    assert checked_outputs(nb)[0][0].startswith(f"{SAMPLE_IMAGES:,} images, ")
    everything = json.dumps([c.get("outputs", []) for c in nb.cells])
    assert str(ROOT) not in everything, "an output names the repository checkout"
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors


@pytest.mark.parametrize("name", sorted(p.stem for p in (ROOT / "notebooks").glob("0[1-7]_*.ipynb")))
def test_every_course_notebook_opens_with_the_same_setup_cell(name: str) -> None:
    """Each notebook's first code cell installs fashionlib when missing and calls setup(drive=DRIVE)."""
    nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    cell = first_code_cell(nb)
    from fashionlib.notebook import REPOSITORY, colab_link

    assert f"git+https://github.com/{REPOSITORY}" in cell and 'find_spec("fashionlib") is None' in cell
    assert "DRIVE = False" in cell and "setup(drive=DRIVE)" in cell
    assert colab_link(name) in nb.cells[0].source, f"{name}: the title cell lacks its Open in Colab badge"
