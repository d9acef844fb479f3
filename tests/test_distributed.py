"""torchrun on the CPU (gloo): 2 processes train like 1, only rank 0 writes, a killed 2-process run resumes exactly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from detection_helpers import tiny_config
from test_crops import make_crop_folder

CHILD = Path(__file__).with_name("ddp_child.py")
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parent)}


def torchrun(args: list[str], watch: Path, log: Path, *, nproc: int = 2, **env: str) -> subprocess.Popen:
    """Start ``fashionlib ARGS`` on ``nproc`` CPU processes (gloo), recording each rank's writes under ``watch``."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", str(CHILD),
           *args]
    return subprocess.Popen(cmd, env={**ENV, "DDP_WATCH": str(watch), "DDP_LOG": str(log), **env},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def kill_tree(pid: int) -> None:
    """SIGKILL a process and every descendant (torchrun starts its workers in sessions of their own)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        children = [c for c, p in parents.items() if p == parent]
        tree.update(children)
        frontier += children
    for p in tree:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


def finish(proc: subprocess.Popen) -> str:
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out[-3000:]
    return out


def params(path: Path) -> dict[str, torch.Tensor]:
    state = torch.load(path, map_location="cpu", weights_only=False)
    state = state.get("model", state)
    return {k: v for k, v in state.items() if v.is_floating_point() and "running" not in k}


@pytest.fixture(scope="module")
def detector_setup(tiny_data: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], Path]:
    coco, root = tiny_data
    tmp = tmp_path_factory.mktemp("ddp")
    config = tmp / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_config(eval_every=3, checkpoint_every=2).to_dict()))
    return ["train-detector", "--config", str(config), "--coco", str(coco), "--images", str(root), "--device",
            "cpu"], tmp


@pytest.fixture(scope="module")
def two_process_run(detector_setup: tuple[list[str], Path]) -> Path:
    args, tmp = detector_setup
    out = tmp / "two"
    finish(torchrun([*args, "--out", str(out)], out, tmp / "two_writes"))
    return out


def test_two_processes_give_the_weights_of_one_process_with_two_micro_batches(
        detector_setup: tuple[list[str], Path], two_process_run: Path) -> None:
    args, tmp = detector_setup
    one = tmp / "one"
    subprocess.run([sys.executable, "-m", "fashionlib", *args, "--out", str(one), "train.micro_batches=2"],
                   env=ENV, check=True, capture_output=True)
    a, b = params(two_process_run / "model_final.pt"), params(one / "model_final.pt")
    assert a.keys() == b.keys() and len(a) > 20
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6, msg=k)
    rows = [[json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
            for run in (two_process_run, one)]
    kinds = [[r["kind"] for r in rs] for rs in rows]
    assert kinds[0] == kinds[1] and "val" in kinds[0] and "final" in kinds[0]  # rank 0 validated and evaluated
    train = [[r["loss"] for r in rs if r["kind"] == "train"] for rs in rows]
    assert train[0] == pytest.approx(train[1], rel=1e-5)  # the logged loss is the global batch's, not rank 0's


def test_only_rank_0_writes(detector_setup: tuple[list[str], Path], two_process_run: Path) -> None:
    _, tmp = detector_setup
    ranks = {r: json.loads((tmp / "two_writes" / f"rank{r}.json").read_text()) for r in (0, 1)}
    assert ranks[1] == []
    assert {"metrics.jsonl", "status.json", "config.yaml", "model_final.pt", "checkpoints/last.pt",
            "detections_val.json"} <= set(ranks[0])


def test_killed_two_process_run_resumes_to_the_uninterrupted_weights(
        detector_setup: tuple[list[str], Path], two_process_run: Path) -> None:
    args, tmp = detector_setup
    out = tmp / "killed"
    proc = torchrun([*args, "--out", str(out)], out, tmp / "killed_writes", DDP_STEP_SLEEP="0.4")
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:  # wait for the first checkpoint (iteration 2 of 8)
        status = json.loads((out / "status.json").read_text()) if (out / "status.json").is_file() else {}
        if status.get("iteration", 0) >= 2:
            break
        time.sleep(0.05)
    kill_tree(proc.pid)  # torchrun and both workers, mid-way
    proc.communicate()
    status = json.loads((out / "status.json").read_text())
    assert status["status"] == "running" and status["iteration"] < 8
    finish(torchrun([*args, "--out", str(out), "--resume"], out, tmp / "resumed_writes"))
    a, b = params(two_process_run / "model_final.pt"), params(out / "model_final.pt")
    for k in a:
        assert torch.equal(a[k], b[k]), k
    iters = [json.loads(line)["iter"] for line in (out / "metrics.jsonl").read_text().splitlines()
             if json.loads(line)["kind"] == "train"]
    assert iters == list(range(1, 9))  # nothing lost or logged twice across the kill


def test_gan_on_two_processes_writes_from_rank_0_and_resumes_exactly(tmp_path: Path) -> None:
    crops = make_crop_folder(tmp_path, 4)
    base = ["train-gan", str(crops), "--batch-size", "8", "--ckpt-every", "2", "--device", "cpu"]
    straight, split = tmp_path / "straight", tmp_path / "split"
    finish(torchrun([*base, "--iters", "6", "--out", str(straight)], straight, tmp_path / "w1"))
    finish(torchrun([*base, "--iters", "3", "--out", str(split)], split, tmp_path / "w2"))
    finish(torchrun([*base, "--iters", "6", "--out", str(split), "--resume"], split, tmp_path / "w3"))
    a, b = (torch.load(run / "generator.pt", weights_only=False)["state_dict"] for run in (straight, split))
    for k in a:
        assert torch.equal(a[k], b[k]), k
    for log in ("w1", "w2", "w3"):
        assert json.loads((tmp_path / log / "rank1.json").read_text()) == []
    assert "generator.pt" in json.loads((tmp_path / "w1" / "rank0.json").read_text())


def test_batch_that_does_not_split_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from fashionlib import distributed

    monkeypatch.setattr(distributed, "context", lambda: distributed.DistContext(rank=1, world_size=2))
    assert distributed.split_batch(8, 2) == (4, 2)
    with pytest.raises(ValueError, match="GAN batch_size 5 does not split into 2 processes x 1 micro-batches"):
        distributed.split_batch(5, what="GAN batch_size")
