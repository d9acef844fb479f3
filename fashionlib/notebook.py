"""One call at the top of every notebook that makes any environment ready, and helpers for the page.

The first cell of every notebook is (fastbook's ``setup_book`` idea)::

    import importlib.util, subprocess, sys
    if importlib.util.find_spec("fashionlib") is None:  # a fresh Colab VM: install the course's package
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "git+https://github.com/fashionlib/fashionlib"],
                       check=True)
    from fashionlib.notebook import setup
    P = setup(drive=False)  # on Colab, drive=True keeps runs/ on Google Drive: a disconnect loses nothing
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from fashionlib.config import Profile, get_profile, set_seed


def in_colab() -> bool:
    """Return True when running inside Google Colab."""
    return "google.colab" in sys.modules


# The one place that names the course's repository (README badges point at the same URL).
REPOSITORY = "fashionlib/fashionlib"
COLAB_URL = f"https://colab.research.google.com/github/{REPOSITORY}/blob/main/notebooks/{{name}}.ipynb"
COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
DRIVE_RUNS = "/content/drive/MyDrive/fashionlib/runs"


def colab_link(name: str) -> str:
    """Return the Markdown "Open in Colab" badge for notebook ``name`` (e.g. ``01_explore_deepfashion``)."""
    return f"[![Open In Colab]({COLAB_BADGE})]({COLAB_URL.format(name=name)})"


def mount_drive(runs: str = DRIVE_RUNS) -> Path:
    """On Colab, mount Google Drive and keep run folders there (``FASHIONLIB_RUNS``); return that folder."""
    from google.colab import drive  # only exists on Colab

    drive.mount("/content/drive")
    Path(runs).mkdir(parents=True, exist_ok=True)
    os.environ["FASHIONLIB_RUNS"] = runs  # every later get_profile() puts runs/ on Drive
    return Path(runs)


def setup(profile: str | None = None, *, drive: bool = False, quiet: bool = False) -> Profile:
    """Resolve the profile, seed everything, set plot defaults, build the sample if needed; return the profile.

    ``drive=True`` on Colab mounts Google Drive first and keeps ``runs/`` there, so a disconnected VM
    loses no training: every long cell resumes from its checkpoint (ignored outside Colab).
    """
    if drive and in_colab():
        mount_drive()
    prof = get_profile(profile)
    set_seed(prof.seed)
    try:
        import matplotlib as mpl

        mpl.rcParams.update({"figure.dpi": 80, "savefig.dpi": 80, "figure.figsize": (8, 4), "axes.grid": False})
    except ImportError:  # pragma: no cover - matplotlib is a dependency
        pass
    if prof.is_sample:
        from fashionlib.synthetic import ensure_sample

        ensure_sample(prof.data_root)
    prof.run_dir.mkdir(parents=True, exist_ok=True)
    prof.figures_dir.mkdir(parents=True, exist_ok=True)
    if not quiet:
        where = "Colab" if in_colab() else "this machine"
        mode = " FAST (short training)" if prof.fast else ""
        runs = "runs on Google Drive" if os.environ.get("FASHIONLIB_RUNS") == DRIVE_RUNS else "runs/ in the project"
        print(f"fashionlib profile={prof.name}{mode} device={prof.device} on {where}; {runs}")
    return prof


def show_code(*objects: object) -> object:
    """Display the source of functions or classes, highlighted: what the notebook shows is the code that runs.

    In a notebook this returns an ``IPython.display.Code`` object (rendered with syntax highlighting); the
    source comes from the installed package itself, so the page can never drift from what it calls.
    """
    import inspect
    import textwrap

    source = "\n\n".join(textwrap.dedent(inspect.getsource(obj)) for obj in objects)
    try:
        from IPython.display import Code
    except ImportError:  # pragma: no cover - IPython comes with Jupyter
        return source

    class Listing(Code):
        # HTML and plain text only: a LaTeX copy of every listing doubled the stored notebooks' code outputs.
        _repr_latex_ = None

    return Listing(source, language="python")


def show_jpeg(fig: object, path: str | Path | None = None, *, quality: int = 70) -> object:
    """Return a photo-grid figure as an inline JPEG (a fraction of a PNG's size in the stored notebook); close it.

    Quality 70: on the course's design grids no difference from 85 is visible, at about two thirds of the bytes.

    With ``path``, the JPEG is also written there (atomically) for the run's figures folder.
    """
    import io

    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="jpeg", bbox_inches="tight", pil_kwargs={"quality": quality})
    plt.close(fig)
    if path is not None:
        from fashionlib.runio import atomic_write_bytes

        atomic_write_bytes(path, buf.getvalue())
    try:
        from IPython.display import Image
    except ImportError:  # pragma: no cover - IPython comes with Jupyter
        return buf.getvalue()
    return Image(data=buf.getvalue(), format="jpeg")


def repo_file(relative: str) -> Path | None:
    """Return a file of the course repository (e.g. a stored benchmark result), or None outside a checkout."""
    from fashionlib.config import find_home

    path = find_home() / relative
    return path if path.is_file() else None


# ---------------------------------------------------------------------------
# Stamps: which inputs a stored notebook was made from
# ---------------------------------------------------------------------------

STAMP_TAG = "stamp"


def _digest(*paths: Path) -> str | None:
    import hashlib

    h = hashlib.sha256()
    for path in paths:
        if not path.is_file():
            return None
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


def stamp(profile: Profile, *inputs: str) -> dict[str, object]:
    """Print (as JSON) and return fingerprints of the inputs a notebook used: what its stored outputs came from.

    ``inputs`` name them: ``data`` (the DeepFashion annotation lists), ``coco`` (the converted JSON),
    ``detector`` (the detector run's final weights), ``crops`` (the crop set) and ``gan64`` (the two 64x64 GAN
    runs, by settings and iteration). The course's last cell calls this; a test checks that every stored
    notebook names the same fingerprint for the same input, i.e. the committed outputs come from one run.
    """
    import json

    out: dict[str, object] = {"profile": profile.name, "fast": profile.fast}
    anno = Path(profile.data_root) / "Anno"
    for name in inputs:
        if name == "data":
            out[name] = _digest(anno / "list_bbox.txt", anno / "list_category_img.txt",
                                Path(profile.data_root) / "Eval" / "list_eval_partition.txt")
        elif name == "coco":
            out[name] = _digest(*(Path(profile.coco_dir) / f"{s}.json" for s in ("train", "val", "test")))
        elif name == "detector":
            out[name] = _digest(Path(profile.detector_dir) / "model_final.pt")
        elif name == "crops":
            from fashionlib.gan import crops_id

            crops = Path(profile.crops_dir)
            out[name] = crops_id(crops) if (crops / "crops.json").is_file() else None
        elif name == "gan64":
            from fashionlib.gan import default_config, read_state, run_dir_for, settings_key

            runs = {}
            for recipe in ("study", "small-data"):
                config = default_config(profile, 64, recipe)
                base = run_dir_for(profile, config)
                run = base.with_name(f"{base.name}_{settings_key(config, profile.crops_dir)}")
                runs[recipe] = f"{run.name}@{read_state(run).get('iteration')}"
            out[name] = runs
        else:
            raise ValueError(f"unknown stamp input {name!r}: data, coco, detector, crops or gan64")
    print(json.dumps(out, sort_keys=True))
    return out


def strip_progress_widgets(path: str | Path) -> int:
    """Remove progress-bar widget outputs (and saved widget state) from a stored notebook; return how many.

    An executed notebook stores each tqdm bar as a widget whose text fallback is its *first* state
    (``0/900``), which reads as if nothing ran; the training cells print their own log lines anyway.
    """
    import re

    import nbformat

    nb = nbformat.read(str(path), 4)
    bar = re.compile(r"\d+/\d+|\d+%\|")
    removed = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "application/vnd.jupyter.widget-view+json" in data and bar.search(str(data.get("text/plain", ""))):
                removed += 1
                continue
            kept.append(out)
        cell.outputs = kept
    nb.metadata.pop("widgets", None)
    nbformat.write(nb, str(path))
    return removed


def compress_images(path: str | Path, *, min_bytes: int = 60_000, quality: int = 60) -> int:
    """Re-encode large stored PNG/JPEG figure outputs as JPEG (same pixels size); return how many changed.

    Photo grids and sample grids compress 3-10x as JPEG with no visible loss at notebook size, which keeps the
    course small enough to browse on GitHub; small PNGs (line plots, tables) are left as they are.
    """
    import base64
    import io

    import nbformat
    from PIL import Image

    nb = nbformat.read(str(path), 4)
    changed = 0
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            for mime in ("image/png", "image/jpeg"):
                if mime not in data or len(data[mime]) < min_bytes:
                    continue
                with Image.open(io.BytesIO(base64.b64decode(data[mime]))) as im:
                    buf = io.BytesIO()
                    im.convert("RGB").save(buf, format="JPEG", quality=quality, optimize=True)
                encoded = base64.b64encode(buf.getvalue()).decode()
                # A JPEG is re-encoded only for a real saving: each pass loses detail, and a second tidy must be a no-op.
                if len(encoded) < (0.8 if mime == "image/jpeg" else 1.0) * len(data[mime]):
                    del data[mime]
                    data["image/jpeg"] = encoded
                    changed += 1
    nbformat.write(nb, str(path))
    return changed


if __name__ == "__main__":  # python -m fashionlib.notebook NOTEBOOK...: tidy stored outputs after papermill
    for arg in sys.argv[1:]:
        print(f"{arg}: removed {strip_progress_widgets(arg)} progress-bar outputs, "
              f"re-encoded {compress_images(arg)} large images as JPEG")
