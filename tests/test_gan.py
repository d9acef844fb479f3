"""DCGAN: architecture, data path, training loop, resume (bit-identical), failure warnings, generation, CLI."""

from __future__ import annotations

import json
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from test_crops import make_crop_folder
from torch import nn

from fashionlib import gan as G
from fashionlib.cli import main

# Tiny runs collapse by design (a few iterations of a tiny net); the warning itself is tested on its own.
pytestmark = pytest.mark.filterwarnings("ignore::fashionlib.gan.TrainingFailureWarning")

TINY = G.GanConfig(size=64, ngf=8, ndf=8, batch_size=8, max_iters=4, log_every=2, grid_every=2, ckpt_every=2,
                   n_fixed=6)


@pytest.fixture(scope="module")
def crops_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_crop_folder(tmp_path_factory.mktemp("gan"), 6, sizes=(64, 128))


# ---------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------


def test_study_architecture_64_has_five_transposed_convs_and_tutorial_parameter_counts() -> None:
    netG, netD = G.Generator(64), G.Discriminator(64)
    convs = [m for m in netG.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert len(convs) == 5
    assert [type(m) for m in netG.main[:3]] == [nn.ConvTranspose2d, nn.BatchNorm2d, nn.ReLU]
    assert isinstance(netG.main[-1], nn.Tanh)
    # The PyTorch DCGAN tutorial's numbers for nz=100, ngf=ndf=64 (D without its Sigmoid has none to count).
    assert G.parameter_count(netG) == 3_576_704
    assert G.parameter_count(netD) == 2_765_568
    assert sum(isinstance(m, nn.LeakyReLU) for m in netD.modules()) == 4
    assert not any(isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)) for m in netD.modules())


@pytest.mark.parametrize("size", [64, 128])
@pytest.mark.parametrize("num_classes", [0, 3])
def test_shapes_at_both_sizes(size: int, num_classes: int) -> None:
    netG = G.Generator(size, nz=16, ngf=4, num_classes=num_classes)
    netD = G.Discriminator(size, ndf=4, num_classes=num_classes)
    labels = torch.tensor([0, 2]) if num_classes else None
    x = netG(torch.randn(2, 16), labels)
    assert x.shape == (2, 3, size, size) and x.abs().max() <= 1
    assert netD(x, labels).shape == (2,)
    n_convT = sum(isinstance(m, nn.ConvTranspose2d) for m in netG.modules())
    assert n_convT == (5 if size == 64 else 6)
    table = G.architecture_table(netG)
    assert table["output"].iloc[-1] == f"3 x {size} x {size}"
    assert table["parameters"].sum() == G.parameter_count(netG)


def test_conditional_models_need_labels_and_use_them() -> None:
    torch.manual_seed(0)
    netG = G.Generator(64, nz=16, ngf=4, num_classes=3).eval()
    z = torch.randn(1, 16)
    with pytest.raises(G.GanError, match="conditional"):
        netG(z)
    a, b = netG(z, torch.tensor([0])), netG(z, torch.tensor([1]))
    assert not torch.equal(a, b)
    soft = netG(z, torch.tensor([[1.0, 0.0, 0.0]]))  # a one-hot vector is the same as the index
    assert torch.allclose(a, soft)


def test_weights_init_follows_dcgan() -> None:
    torch.manual_seed(0)
    netG = G.Generator(64)
    netG.apply(G.weights_init)
    w = torch.cat([m.weight.flatten() for m in netG.modules() if isinstance(m, nn.ConvTranspose2d)])
    assert abs(w.std().item() - 0.02) < 0.001 and abs(w.mean().item()) < 0.001
    bn = torch.cat([m.weight for m in netG.modules() if isinstance(m, nn.BatchNorm2d)])
    assert abs(bn.mean().item() - 1) < 0.01 and all(
        (m.bias == 0).all() for m in netG.modules() if isinstance(m, nn.BatchNorm2d))


# ---------------------------------------------------------------------------
# Data path
# ---------------------------------------------------------------------------


def test_uint8_to_input_maps_range_without_copying_layout() -> None:
    u8 = torch.tensor([[[[0, 255, 128]]]], dtype=torch.uint8).expand(2, 4, 4, 3).contiguous()
    x = G.uint8_to_input(u8, torch.device("cpu"))
    assert x.shape == (2, 3, 4, 4) and x.is_contiguous(memory_format=torch.channels_last)
    assert x[0, 0, 0, 0] == -1 and x[0, 1, 0, 0] == 1 and abs(x[0, 2, 0, 0].item() - 0.00392) < 1e-4
    assert G.uint8_to_input(u8, torch.device("cpu"), channels_last=False).is_contiguous()


def test_batches_depend_only_on_seed_and_iteration_and_cover_an_epoch() -> None:
    images = np.arange(20, dtype=np.uint8).reshape(20, 1, 1, 1).repeat(3, axis=3)
    labels = np.arange(20) % 3
    a = G.CropBatches(images, labels, 6, seed=5, device=torch.device("cpu"))
    b = G.CropBatches(images, labels, 6, seed=5, device=torch.device("cpu"))
    assert a.per_epoch == 3  # 20 // 6, the rest of an epoch is dropped
    seen = torch.cat([a.batch(i)[0][:, 0, 0, 0] for i in range(3)])
    assert len(set(seen.tolist())) == 18
    assert torch.equal(a.batch(4)[0], b.batch(4)[0]) and a.epoch_of(4) == 1
    assert not torch.equal(a.batch(0)[0], a.batch(3)[0])  # a new permutation each epoch
    with pytest.raises(G.GanError, match="batch-size"):
        G.CropBatches(images[:4], labels[:4], 6, 0, torch.device("cpu"))


# ---------------------------------------------------------------------------
# Training and resume
# ---------------------------------------------------------------------------


def _weights(run_dir: Path) -> dict[str, torch.Tensor]:
    ck = torch.load(run_dir / "checkpoint.pt", map_location="cpu", weights_only=False)
    out = {f"G.{k}": v for k, v in ck["G"].items()} | {f"D.{k}": v for k, v in ck["D"].items()}
    for name in ("optG", "optD"):
        for pid, st in ck[name]["state"].items():
            out |= {f"{name}.{pid}.{k}": v for k, v in st.items() if torch.is_tensor(v)}
    return out


def test_resume_gives_bit_identical_weights(crops_dir: Path, tmp_path: Path) -> None:
    straight = G.train_gan(crops_dir, tmp_path / "straight", TINY, progress=False, verbose=False)
    half = replace(TINY, max_iters=2)
    G.train_gan(crops_dir, tmp_path / "resumed", half, progress=False, verbose=False)
    resumed = G.train_gan(crops_dir, tmp_path / "resumed", TINY, resume=True, progress=False, verbose=False)
    assert straight.state["iteration"] == resumed.state["iteration"] == 4
    a, b = _weights(tmp_path / "straight"), _weights(tmp_path / "resumed")
    assert a.keys() == b.keys() and len(a) > 20
    for k in a:
        assert torch.equal(a[k], b[k]), k
    cols = ["iter", "Loss_D", "Loss_G", "D_x", "D_G_z1", "D_G_z2"]
    assert straight.metrics[cols].equals(resumed.metrics[cols])
    assert [p.name for p in straight.grids()] == [p.name for p in resumed.grids()]


def test_run_folder_contents_and_study_log_line(crops_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run = G.train_gan(crops_dir, tmp_path / "run", TINY, progress=False)
    lines = [ln for ln in capsys.readouterr().out.splitlines() if "Loss_D" in ln]
    assert len(lines) == 2
    import re

    assert re.fullmatch(r"\[\d+/\d+\]\[\d+/4\]\tLoss_D: \d+\.\d{4}\tLoss_G: \d+\.\d{4}\tD\(x\): \d\.\d{4}\t"
                        r"D\(G\(z\)\): \d\.\d{4} / \d\.\d{4}", lines[-1])
    for name in ("config.yaml", "metrics.jsonl", "checkpoint.pt", "generator.pt", "state.json"):
        assert (run.run_dir / name).is_file(), name
    assert [p.name for p in run.grids()] == ["iter_000000.png", "iter_000002.png", "iter_000004.png"]
    m = run.metrics
    assert list(m["iter"]) == [0, 1, 2, 3]
    assert ((m["D_x"] > 0) & (m["D_x"] < 1)).all() and (m["Loss_D"] > 0).all()
    state = json.loads((run.run_dir / "state.json").read_text())
    assert state["finished"] and state["stop_reason"] == "max_iters" and state["iteration"] == 4
    ck = torch.load(run.run_dir / "checkpoint.pt", weights_only=False)
    assert {"G", "D", "optG", "optD", "iteration", "fixed_noise", "rng"} <= set(ck)
    with pytest.raises(G.GanError, match="--resume"):
        G.train_gan(crops_dir, tmp_path / "run", TINY, progress=False)
    with pytest.raises(G.GanError, match="ngf"):
        G.train_gan(crops_dir, tmp_path / "run", replace(TINY, ngf=16), resume=True, progress=False)
    # Figures read the run folder.
    import matplotlib

    matplotlib.use("Agg")
    assert len(G.plot_curves(run, study="study 64x64").axes) == 2
    assert len(G.progress_figure(run, n=2).axes) == 2
    table = G.study_comparison({"64x64": run})
    assert "study 128x128" in table.index and table.loc["64x64 (ours, last 20 it.)", "iterations"] == 4


def test_time_budget_stops_and_checkpoints(crops_dir: Path, tmp_path: Path) -> None:
    run = G.train_gan(crops_dir, tmp_path / "t", replace(TINY, max_iters=1000, max_minutes=0.0), progress=False,
                      verbose=False)
    assert run.state["stop_reason"] == "max_minutes" and run.state["iteration"] == 0
    assert (tmp_path / "t" / "checkpoint.pt").is_file() and (tmp_path / "t" / "generator.pt").is_file()


def test_failure_monitor_warns_once_with_advice() -> None:
    mon = G.FailureMonitor(patience=3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert mon.step(0, 0.995, 0.001) is None
        assert mon.step(1, 0.5, 0.4) is None  # the streak breaks
        msgs = [mon.step(i, 0.999, 0.002) for i in range(2, 8)]
        assert msgs[2] is not None and "learning rate" in msgs[2] and msgs[3:] == [None] * 3
        assert mon.samples(10, 0.5, 0.6) is None
        assert "mode collapse" in mon.samples(20, 0.01, 0.6)
    assert [w.category for w in caught] == [G.TrainingFailureWarning] * 2


# ---------------------------------------------------------------------------
# Generation
# ---------------------------------------------------------------------------


def test_recalibrated_eval_mode_matches_batch_statistics() -> None:
    torch.manual_seed(0)
    netG = G.Generator(64, nz=16, ngf=8)
    netG.apply(G.weights_init)
    z = torch.randn(256, 16)
    with torch.no_grad():
        batch_mode = netG.train()(z)
        stale = netG.eval()(z)  # default running statistics (mean 0, var 1)
        G.recalibrate_bn(netG, batches=8, batch_size=128, seed=1)
        calibrated = netG(z)
    assert not netG.training
    assert (calibrated - batch_mode).abs().mean() < 0.25 * (stale - batch_mode).abs().mean()


def test_generate_is_seeded_and_respects_classes(crops_dir: Path, tmp_path: Path) -> None:
    G.train_gan(crops_dir, tmp_path / "g", replace(TINY, max_iters=2), progress=False, verbose=False)
    netG = G.load_generator(tmp_path / "g")
    assert netG.class_names == ("upper", "lower", "full") and not netG.training
    a = G.generate(netG, 4, classes="lower", seed=3)
    assert torch.equal(a, G.generate(netG, 4, classes="lower", seed=3))
    assert not torch.equal(a, G.generate(netG, 4, classes="upper", seed=3))
    with pytest.raises(G.GanError, match="not \\['hat'\\]"):
        G.generate(netG, 1, classes=["hat"])
    u8 = G.to_uint8(a)
    assert u8.shape == (4, 64, 64, 3) and u8.dtype == np.uint8
    uncond = G.build_generator(replace(TINY, conditional=False))
    with pytest.raises(G.GanError, match="unconditional"):
        G.generate(uncond, 2, classes="upper")


def test_cli_train_resume_and_generate(crops_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run = tmp_path / "cli"
    base = ["train-gan", str(crops_dir), "--size", "64", "--out", str(run), "--batch-size", "4"]
    assert main(base + ["--iters", "1"]) == 0
    assert main(base + ["--iters", "2", "--resume"]) == 0
    assert json.loads((run / "state.json").read_text())["iteration"] == 2
    assert main(base + ["--iters", "2"]) == 2  # refuses to overwrite
    assert "--resume" in capsys.readouterr().err
    out = tmp_path / "designs"
    assert main(["generate", str(run), "--n", "3", "--out", str(out), "--classes", "full"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["design_0000_full.png", "design_0001_full.png",
                                                     "design_0002_full.png", "grid.png"]
