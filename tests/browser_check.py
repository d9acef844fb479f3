"""The latent explorer of notebook 07 in a real browser: JupyterLab served locally, headless Chromium, one slider moved.

``make test-browser`` (outside ``make test``: about a minute). Needs Debian's Chromium (``apt-get install
chromium``); nothing downloads a browser build. Steps:

1. Write a notebook made of notebook 07's own cells: its setup cell, its parameters cell and its explorer cell,
   with the generator of notebook 06's run when ``runs/`` holds it (else a freshly initialised generator, said so).
2. Serve it with JupyterLab on 127.0.0.1 (a random token), open it in headless Chromium, run all cells.
3. Screenshot the explorer's picture, drag the handle of "slider 1" with the mouse, screenshot again.
4. Fail unless the two pictures differ; both screenshots are saved under ``runs/<profile>/browser/``.

Chromium is driven through its DevTools protocol over a websocket (tornado's client, already installed with
Jupyter), so no Selenium or Playwright is needed.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "07_style_inspiration.ipynb"
CHROMIUM = ("chromium", "chromium-browser", "chromium-headless-shell")
GENERATOR_CELL = '''# The generator of notebook 06's run when it exists (else a fresh one: the widget plumbing is the same)
try:
    G = ins.find_run(P, SIZE, RECIPE).generator()
    print("generator: notebook 06's", RECIPE, "run")
except Exception as err:  # noqa: BLE001 - any missing run
    G = gan.build_generator(gan.GanConfig(size=SIZE))
    print("generator: freshly initialised (no run of notebook 06:", type(err).__name__, ")")'''


class BrowserCheckError(RuntimeError):
    """Raised when the browser check cannot run or the design did not change."""


def build_notebook(dst: Path) -> None:
    """Write notebook 07's setup, parameters and explorer cells (plus a generator cell) to ``dst``."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    setup = code[0]
    params = next(c for c in code if "parameters" in c.metadata.get("tags", []))
    explorer = next((c for c in code if "latent_explorer(" in c.source), None)
    if explorer is None:
        raise BrowserCheckError(f"{NOTEBOOK.name} has no cell calling latent_explorer(")
    cells = [nbformat.v4.new_code_cell(c.source) for c in (setup, params)]
    cells += [nbformat.v4.new_code_cell(GENERATOR_CELL), nbformat.v4.new_code_cell(explorer.source)]
    out = nbformat.v4.new_notebook(cells=cells)
    out.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(out, dst)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float, proc: subprocess.Popen | None = None) -> bytes:
    end = time.time() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise BrowserCheckError(f"{proc.args[0]} exited with code {proc.returncode} before answering at {url}")
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                return resp.read()
        except OSError:
            if time.time() > end:
                raise BrowserCheckError(f"nothing answered at {url} within {timeout:.0f} s") from None
            time.sleep(0.5)


class DevTools:
    """A minimal Chrome DevTools protocol client for one page."""

    def __init__(self, ws: object) -> None:
        self.ws, self.next_id = ws, 0

    @classmethod
    async def connect(cls, url: str) -> DevTools:
        from tornado.websocket import websocket_connect

        return cls(await websocket_connect(url, max_message_size=256 * 2**20))

    async def send(self, method: str, **params: object) -> dict:
        self.next_id += 1
        my_id = self.next_id
        self.ws.write_message(json.dumps({"id": my_id, "method": method, "params": params}))
        while True:
            msg = await self.ws.read_message()
            if msg is None:
                raise BrowserCheckError("Chromium closed the DevTools connection")
            data = json.loads(msg)
            if data.get("id") == my_id:
                if "error" in data:
                    raise BrowserCheckError(f"{method}: {data['error']}")
                return data.get("result", {})

    async def js(self, expression: str, timeout: float = 60) -> object:
        result = await asyncio.wait_for(self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True), timeout)
        if "exceptionDetails" in result:
            raise BrowserCheckError(f"JavaScript failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_js(self, expression: str, timeout: float, what: str) -> object:
        print(f"{time.strftime('%H:%M:%S')} waiting for {what}", flush=True)
        end = time.time() + timeout
        while time.time() < end:
            try:
                value = await self.js(expression, timeout=max(1.0, end - time.time()))
            except asyncio.TimeoutError:
                break
            if value:
                return value
            await asyncio.sleep(0.5)
        raise BrowserCheckError(f"timed out after {timeout:.0f} s waiting for {what}")

    async def screenshot(self, rect: dict) -> bytes:
        clip = {"x": rect["x"], "y": rect["y"], "width": rect["width"], "height": rect["height"], "scale": 1}
        result = await self.send("Page.captureScreenshot", format="png", clip=clip)
        return base64.b64decode(result["data"])


IMAGE_RECT = """(() => { const img = document.querySelector('.jp-OutputArea img.widget-image, .jp-OutputArea .widget-image');
  if (!img || !img.complete || img.naturalWidth === 0) return null;
  img.scrollIntoView({block: 'center'}); const r = img.getBoundingClientRect();
  return {x: r.x, y: r.y, width: r.width, height: r.height, src: img.src.length}; })()"""
HANDLE_RECT = """(() => {
  const sliders = [...document.querySelectorAll('.jp-OutputArea .widget-slider')];
  const s = sliders.find(el => (el.querySelector('.widget-label') || {}).textContent === 'slider 1');
  if (!s) return null;
  const h = s.querySelector('.noUi-handle, .ui-slider-handle'); if (!h) return null;
  const r = h.getBoundingClientRect(); const track = s.querySelector('.noUi-target, .ui-slider') || s;
  const t = track.getBoundingClientRect();
  const readout = s.querySelector('.widget-readout');
  return {x: r.x + r.width / 2, y: r.y + r.height / 2, right: t.x + t.width, readout: readout ? readout.textContent : ''};
})()"""
READOUT = """(() => { const s = [...document.querySelectorAll('.jp-OutputArea .widget-slider')]
  .find(el => (el.querySelector('.widget-label') || {}).textContent === 'slider 1');
  const r = s && s.querySelector('.widget-readout'); return r ? (r.textContent || r.value) : ''; })()"""


def pixel_change(before: bytes, after: bytes) -> float:
    """Return the mean absolute difference (0-255) between two screenshots of the same size."""
    import numpy as np
    from PIL import Image

    a = np.asarray(Image.open(io.BytesIO(before)).convert("RGB"), dtype=np.float32)
    b = np.asarray(Image.open(io.BytesIO(after)).convert("RGB"), dtype=np.float32)
    if a.shape != b.shape:
        raise BrowserCheckError(f"screenshots differ in size: {a.shape} vs {b.shape}")
    return float(np.abs(a - b).mean())


async def drive(page_ws: str, url: str, out: Path, timeout: float) -> float:
    dt = await DevTools.connect(page_ws)
    await dt.send("Page.enable")
    await dt.send("Runtime.enable")
    await dt.send("Page.navigate", url=url)
    await dt.wait_js("window.jupyterapp && document.querySelector('.jp-Notebook .jp-Cell') !== null", timeout,
                     "JupyterLab to open the notebook")
    notebook = "[...window.jupyterapp.shell.widgets('main')].find(w => w.sessionContext)"
    await dt.js(f"window.jupyterapp.shell.activateById(({notebook}).id)")
    try:
        await dt.wait_js(f"(() => {{ const w = {notebook}; const st = w && w.sessionContext.kernelDisplayStatus; return st === 'idle'; }})()",
                         timeout, "the kernel to start")
    except BrowserCheckError:
        print("kernel status:", await dt.js(f"(({notebook}) || {{}}).sessionContext?.kernelDisplayStatus"))
        raise
    # Not awaited: the command's promise resolves only when every cell has run.
    await dt.js("(() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); return true; })()")
    try:
        rect = await dt.wait_js(IMAGE_RECT, timeout, "the explorer's picture to render")
    except BrowserCheckError:
        print(await dt.js("[...document.querySelectorAll('.jp-OutputArea-output')].map(e => e.innerText.slice(0, 300))"
                          ".join('\\n---\\n')"))
        raise
    handle = await dt.wait_js(HANDLE_RECT, 30, "the 'slider 1' handle")
    await asyncio.sleep(1.0)  # let layout settle after scrolling
    rect = await dt.js(IMAGE_RECT)
    handle = await dt.js(HANDLE_RECT)
    before = await dt.screenshot(rect)
    start_value = await dt.js(READOUT)
    x, y = handle["x"], handle["y"]
    target = min(x + 60, handle["right"] - 2)
    await dt.send("Input.dispatchMouseEvent", type="mouseMoved", x=x, y=y)
    await dt.send("Input.dispatchMouseEvent", type="mousePressed", x=x, y=y, button="left", clickCount=1)
    for step in range(1, 11):
        await dt.send("Input.dispatchMouseEvent", type="mouseMoved", x=x + (target - x) * step / 10, y=y,
                      button="left", buttons=1)
        await asyncio.sleep(0.05)
    await dt.send("Input.dispatchMouseEvent", type="mouseReleased", x=target, y=y, button="left", clickCount=1)
    new_value = await dt.wait_js(f"(() => {{ const v = {READOUT}; return v !== {json.dumps(start_value)} ? v : null; }})()",
                                 30, "the slider's value to change after the drag")
    end = time.time() + timeout
    change = 0.0
    while time.time() < end:  # the kernel redraws, the new PNG travels back over the widget comm
        await asyncio.sleep(1.0)
        after = await dt.screenshot(await dt.js(IMAGE_RECT) or rect)
        change = pixel_change(before, after)
        if change > 1.0:
            break
    (out / "before.png").write_bytes(before)
    (out / "after.png").write_bytes(after)
    print(f"slider 1: {start_value} -> {new_value}; mean pixel change of the design {change:.1f}/255; "
          f"screenshots in {out}")
    dt.ws.close()
    return change


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="folder for the screenshots "
                        "(default runs/<profile>/browser)")
    parser.add_argument("--timeout", type=float, default=240, help="seconds allowed for each wait")
    args = parser.parse_args()
    chromium = next((shutil.which(c) for c in CHROMIUM if shutil.which(c)), None)
    if chromium is None:
        raise BrowserCheckError("no Chromium found: install Debian's package (apt-get install chromium)")
    from fashionlib.config import get_profile

    out = args.out or get_profile(home=ROOT).run_dir / "browser"
    out.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("browser check: terminated"))  # still stop lab and Chromium
    procs: list[subprocess.Popen] = []
    with tempfile.TemporaryDirectory(prefix="fashionlib-browser-") as tmp:
        work = Path(tmp)
        build_notebook(work / "explorer.ipynb")
        port, cdp, token = free_port(), free_port(), secrets.token_hex(16)
        env = {**os.environ, "FASHIONLIB_HOME": str(ROOT), "JUPYTER_CONFIG_DIR": str(work / "jupyter-config")}
        try:
            lab = subprocess.Popen(
                [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
                 f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}", "--LabApp.expose_app_in_browser=True",
                 *(["--allow-root"] if os.geteuid() == 0 else []), "--LabApp.news_url=", "--LabApp.check_for_updates_class="
                 "jupyterlab.NeverCheckForUpdate"],
                cwd=work, env=env, stdout=open(work / "lab.log", "w"), stderr=subprocess.STDOUT)
            procs.append(lab)
            wait_http(f"http://127.0.0.1:{port}/api/status?token={token}", args.timeout, lab)
            browser = subprocess.Popen(
                [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--no-first-run", "--window-size=1400,1200", f"--remote-debugging-port={cdp}",
                 "--remote-allow-origins=*", f"--user-data-dir={work / 'chromium'}", "about:blank"],
                stdout=open(work / "chromium.log", "w"), stderr=subprocess.STDOUT)
            procs.append(browser)
            targets = json.loads(wait_http(f"http://127.0.0.1:{cdp}/json/list", 60, browser))
            page = next(t for t in targets if t.get("type") == "page")
            url = f"http://127.0.0.1:{port}/lab/tree/explorer.ipynb?token={token}&reset"
            change = asyncio.run(drive(page["webSocketDebuggerUrl"], url, out, args.timeout))
        except BaseException:
            sys.stderr.write("--- JupyterLab's log (end)\n" + (work / "lab.log").read_text()[-3000:] + "\n")
            raise
        finally:
            for proc in reversed(procs):
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
    if change <= 1.0:
        raise BrowserCheckError(f"moving slider 1 did not change the design (mean pixel change {change:.2f}/255)")
    print("browser check passed: the design changed when the slider moved")
    return 0


if __name__ == "__main__":
    sys.exit(main())
