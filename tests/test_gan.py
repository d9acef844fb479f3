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
    ck = torch.load(run_dir / "checkpoints" / "last.pt", map_location="cpu", weights_only=False)
    out = {f"{m}.{k}": v for m in ("G", "D", "G_ema") for k, v in ck.get(m, {}).items()}
    for name in ("optG", "optD"):
        for pid, st in ck[name]["state"].items():
            out |= {f"{name}.{pid}.{k}": v for k, v in st.items() if torch.is_tensor(v)}
    return out


SMALL_DATA_TINY = G.recipe_config("small-data", ngf=8, ndf=8, batch_size=8, max_iters=4, log_every=2, grid_every=2,
                                   ckpt_every=2, n_fixed=6)
# Every switch on (spectral norm, hinge, projection, DiffAugment, EMA): each carries state a resume must restore.
ALL_SWITCHES_TINY = replace(SMALL_DATA_TINY, discriminator="sn", loss="hinge", d_cond="projection",
                            diffaugment="color,translation,cutout", ema_decay=0.999)


@pytest.mark.parametrize("config", [TINY, SMALL_DATA_TINY, ALL_SWITCHES_TINY], ids=["study", "small-data", "switches"])
def test_resume_gives_bit_identical_weights(crops_dir: Path, tmp_path: Path, config: G.GanConfig) -> None:
    straight = G.train_gan(crops_dir, tmp_path / "straight", config, progress=False, verbose=False)
    half = replace(config, max_iters=2)
    G.train_gan(crops_dir, tmp_path / "resumed", half, progress=False, verbose=False)
    resumed = G.train_gan(crops_dir, tmp_path / "resumed", config, resume=True, progress=False, verbose=False)
    assert straight.state["iteration"] == resumed.state["iteration"] == 4
    a, b = _weights(tmp_path / "straight"), _weights(tmp_path / "resumed")
    assert a.keys() == b.keys() and len(a) > 20
    for k in a:
        assert torch.equal(a[k], b[k]), k
    cols = ["iter", "Loss_D", "Loss_G", "D_x", "D_G_z1", "D_G_z2"]
    assert straight.metrics[cols].equals(resumed.metrics[cols])
    assert [p.name for p in straight.grids()] == [p.name for p in resumed.grids()]


def test_averaged_and_raw_generators_of_an_ema_run(crops_dir: Path, tmp_path: Path) -> None:
    """An EMA run yields its average by default and, on request, the trained G of the same checkpoint."""
    config = replace(SMALL_DATA_TINY, ema_decay=0.9)
    G.train_gan(crops_dir, tmp_path / "ema", config, progress=False, verbose=False)
    averaged = G.load_generator(tmp_path / "ema")
    raw = G.load_generator(tmp_path / "ema", averaged=False)
    trained = torch.load(tmp_path / "ema" / "checkpoints" / "last.pt", weights_only=False)["G"]
    params = dict(raw.named_parameters())
    assert all(torch.equal(params[k], trained[k]) for k in params)
    assert not all(torch.equal(a, b) for a, b in zip(averaged.parameters(), raw.parameters()))
    assert not raw.training and raw.iteration == averaged.iteration == 4
    name, bn = next((n, m) for n, m in raw.named_modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert not torch.equal(bn.running_mean, trained[f"{name}.running_mean"])  # recalibrated, as generator.pt is


def test_run_folder_contents_and_study_log_line(crops_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run = G.train_gan(crops_dir, tmp_path / "run", TINY, progress=False)
    lines = [ln for ln in capsys.readouterr().out.splitlines() if "Loss_D" in ln]
    assert len(lines) == 2
    import re

    assert re.fullmatch(r"\[\d+\]\[\d+/4\]\tLoss_D: \d+\.\d{4}\tLoss_G: \d+\.\d{4}\tD\(x\): \d\.\d{4}\t"
                        r"D\(G\(z\)\): \d\.\d{4} / \d\.\d{4}", lines[-1])
    for name in ("config.yaml", "metrics.jsonl", "checkpoints/last.pt", "generator.pt", "status.json", "summary.json"):
        assert (run.run_dir / name).is_file(), name
    assert [p.name for p in run.grids()] == ["iter_000000.png", "iter_000002.png", "iter_000004.png"]
    m = run.metrics
    assert list(m["iter"]) == [0, 1, 2, 3]
    assert ((m["D_x"] > 0) & (m["D_x"] < 1)).all() and (m["Loss_D"] > 0).all()
    status = json.loads((run.run_dir / "status.json").read_text())  # readable without loading weights
    assert status["status"] == "finished" and status["iteration"] == 4
    assert run.finished and run.state["stop_reason"] == "max_iters" and run.state["images_seen"] == 32
    ck = torch.load(run.run_dir / "checkpoints" / "last.pt", weights_only=False)
    assert {"G", "D", "optG", "optD", "iteration", "rng", "elapsed_s"} <= set(ck)
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
    assert (tmp_path / "t" / "checkpoints" / "last.pt").is_file() and (tmp_path / "t" / "generator.pt").is_file()


def test_time_budget_counts_across_resumes(crops_dir: Path, tmp_path: Path) -> None:
    # One rule for both trainers: minutes already trained count against max_minutes after a resume.
    G.train_gan(crops_dir, tmp_path / "t", replace(TINY, max_iters=2), progress=False, verbose=False)
    # Exactly what was used, from the checkpoint (status.json rounds to milliseconds, which can leave a sliver).
    budget = torch.load(tmp_path / "t" / "checkpoints" / "last.pt", weights_only=False)["elapsed_s"] / 60
    run = G.train_gan(crops_dir, tmp_path / "t", replace(TINY, max_iters=1000, max_minutes=budget), resume=True,
                      progress=False, verbose=False)
    assert run.state["stop_reason"] == "max_minutes" and run.state["iteration"] == 2


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
    assert json.loads((run / "status.json").read_text())["iteration"] == 2
    assert main(base + ["--iters", "2"]) == 2  # refuses to overwrite
    assert "--resume" in capsys.readouterr().err
    out = tmp_path / "designs"
    assert main(["generate", str(run), "--n", "4", "--out", str(out), "--classes", "full", "upper"]) == 0
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert files == ["designs.csv", "full/0000.png", "full/0002.png", "upper/0001.png", "upper/0003.png"]
    import pandas as pd

    table = pd.read_csv(out / "designs.csv")
    assert list(table.columns) == ["file", "class", "seed"] and list(table["seed"]) == [0, 1, 2, 3]
    # Each row regenerates its design: the seed is the noise of that one design.
    netG = G.load_generator(run)
    z = torch.randn(1, netG.nz, generator=torch.Generator().manual_seed(2))
    again = G.to_uint8(G.generate(netG, classes="full", z=z))[0]
    from PIL import Image

    assert np.array_equal(np.asarray(Image.open(out / "full" / "0002.png")), again)
    assert main(["generate", str(run), "--n", "1", "--out", str(out / "designs.csv")]) == 2  # a file, not a folder


# ---------------------------------------------------------------------------
# The small-data recipe's ingredients
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("size", [64, 128])
def test_small_data_models_shapes_and_parts(size: int) -> None:
    netG = G.ResizeGenerator(size, nz=16, ngf=4, num_classes=3)
    netD = G.SNDiscriminator(size, ndf=4, num_classes=3)
    y = torch.tensor([0, 2])
    x = netG(torch.randn(2, 16), y)
    assert x.shape == (2, 3, size, size) and x.abs().max() <= 1
    assert netD(x, y).shape == (2,)
    # Resize-convolution: no transposed convolution anywhere, nearest-neighbour upsampling instead.
    assert not any(isinstance(m, nn.ConvTranspose2d) for m in netG.modules())
    assert sum(isinstance(m, nn.Upsample) for m in netG.modules()) == (4 if size == 64 else 5)
    # Spectral norm on every weight layer of D, and no batch norm there.
    layers = [m for m in netD.modules() if isinstance(m, (nn.Conv2d, nn.Linear, nn.Embedding))]
    assert layers and all(nn.utils.parametrize.is_parametrized(m, "weight") for m in layers)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in netD.modules())
    table = G.architecture_table(netG)
    assert table["output"].iloc[-1] == f"3 x {size} x {size}"


def test_spectral_norm_bounds_the_largest_singular_value() -> None:
    torch.manual_seed(0)
    netD = G.SNDiscriminator(64, ndf=8, num_classes=0)
    netD.train()
    for _ in range(20):  # power iterations converge as D is used
        netD(torch.randn(4, 3, 64, 64))
    conv = netD.main[2]
    w = conv.weight.reshape(conv.weight.shape[0], -1)
    assert abs(torch.linalg.matrix_norm(w, ord=2).item() - 1.0) < 0.05


def test_class_conditioning_reaches_generator_and_discriminator() -> None:
    torch.manual_seed(0)
    netG = G.ResizeGenerator(64, nz=16, ngf=4, num_classes=3, cond="cbn").eval()
    with torch.no_grad():  # make the class scales differ (they start equal: plain batch norm)
        for m in netG.modules():
            if isinstance(m, G.models.ConditionalBatchNorm2d):
                m.gamma.weight.normal_(1.0, 0.5)
    z = torch.randn(1, 16)
    assert not torch.equal(netG(z, torch.tensor([0])), netG(z, torch.tensor([1])))
    assert torch.allclose(netG(z, torch.tensor([2])), netG(z, torch.tensor([[0.0, 0.0, 1.0]])), atol=1e-6)
    netD = G.SNDiscriminator(64, ndf=4, num_classes=3, cond="projection").eval()
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        netD.embed.parametrizations.weight.original.normal_()
        assert netD(x, torch.tensor([0])) != netD(x, torch.tensor([1]))
    with pytest.raises(G.GanError, match="conditional"):
        netD(x)


def test_diffaugment_policies_and_gradients() -> None:
    torch.manual_seed(0)
    x = torch.rand(16, 3, 32, 32) * 2 - 1
    x.requires_grad_(True)
    # Translation moves content and fills with zeros (never wraps around).
    shifted = G.augment.translation(x)
    assert shifted.shape == x.shape
    ones = G.augment.translation(torch.ones(64, 1, 32, 32))
    assert ones.min() == 0 and ones.max() == 1 and (ones == 0).any(dim=(1, 2, 3)).float().mean() > 0.5
    # Cutout zeroes a square of at most half the side.
    cut = G.augment.cutout(torch.ones(64, 1, 32, 32))
    zeros = (cut == 0).sum(dim=(1, 2, 3))
    assert zeros.max() <= 16 * 16 and (zeros > 0).all()
    # Colour changes brightness, saturation and contrast per image, not per pixel.
    col = G.augment.color(torch.zeros(4, 3, 8, 8))
    assert torch.allclose(col, col[:, :, :1, :1].expand_as(col))
    out = G.diff_augment(x, "color,translation,cutout")
    out.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0  # G's gradient flows through the augmentation
    assert G.diff_augment(x, "") is x
    with pytest.raises(ValueError, match="rotate"):
        G.diff_augment(x, "color,rotate")


def test_losses_follow_their_definitions() -> None:
    real, fake = torch.tensor([2.0, 0.5]), torch.tensor([-2.0, 0.0])
    # Hinge: real logits above +1 and fake below -1 cost nothing.
    assert torch.isclose(G.d_loss("hinge", real, fake), torch.tensor((0.0 + 0.5) / 2 + (0.0 + 1.0) / 2))
    assert torch.isclose(G.g_loss("hinge", fake), torch.tensor(1.0))
    # BCE: -log sigmoid(real) - log(1 - sigmoid(fake)).
    expected = -torch.log(torch.sigmoid(real)).mean() - torch.log(1 - torch.sigmoid(fake)).mean()
    assert torch.isclose(G.d_loss("bce", real, fake), expected)


def test_gan_step_updates_both_players_and_leaves_d_trainable() -> None:
    torch.manual_seed(0)
    netG, netD = G.build_models(SMALL_DATA_TINY)
    optG, optD = (torch.optim.Adam(m.parameters(), 1e-3) for m in (netG, netD))
    g0 = [p.detach().clone() for p in netG.parameters()]
    # Weights only: with the hinge loss D's output bias gets -1 + 1 = 0 gradient while every logit is in (-1, 1).
    d0 = [p.detach().clone() for n, p in netD.named_parameters() if "weight" in n]
    real = torch.rand(8, 3, 64, 64) * 2 - 1
    stats = G.gan_step(netG, netD, optG, optD, real, torch.arange(8) % 3, nz=100, loss="hinge",
                       augment=lambda t: G.diff_augment(t, "color,translation,cutout"))
    assert set(stats) == {"Loss_D", "Loss_G", "D_x", "D_G_z1", "D_G_z2"}
    assert all(not torch.equal(a, b) for a, b in zip(g0, netG.parameters()))
    assert all(not torch.equal(a, b) for a, b in zip(d0, (p for n, p in netD.named_parameters() if "weight" in n)))
    assert all(p.requires_grad for p in netD.parameters())


def test_ema_update_is_a_moving_average() -> None:
    a, b = nn.Linear(2, 2), nn.Linear(2, 2)
    before = a.weight.detach().clone()
    G.ema_update(a, b, decay=0.9)
    assert torch.allclose(a.weight, 0.9 * before + 0.1 * b.weight)


def test_recipes_and_config_validation() -> None:
    study, small = G.recipe_config("study"), G.recipe_config("small-data")
    assert (study.generator, study.loss, study.diffaugment, study.ema_decay) == ("dcgan", "bce", "", 0.0)
    assert (small.generator, small.discriminator, small.loss, small.g_cond, small.d_cond, small.batch_size,
            small.ema_decay) == ("resize", "dcgan", "bce", "cbn", "planes", 16, 0.999)
    assert G.GanConfig.from_dict(small.to_dict()) == small
    with pytest.raises(G.GanError, match=r"'lr' expects float, found '1e-3' \(str\)"):
        G.GanConfig.from_dict({"lr": "1e-3"}, source="my.yaml")
    with pytest.raises(G.GanError, match="unknown"):
        G.GanConfig.from_dict({"learning_rate": 1e-3})
    with pytest.raises(G.GanError, match="loss must be one of bce, hinge"):
        G.recipe_config("study", loss="wasserstein")
    with pytest.raises(G.GanError, match="recipe must be one of"):
        G.recipe_config("big-data")


def test_sample_profile_budget_is_updates_not_minutes() -> None:
    """The course's runs stop after a fixed number of updates, so they reproduce on a slower or faster machine."""
    from fashionlib.config import get_profile

    sample = replace(get_profile("sample"), fast=False)
    for recipe, batch in (("study", 8), ("small-data", 16)):
        config = G.default_config(sample, 64, recipe)
        assert (config.max_iters, config.max_minutes, config.batch_size) == (G.SAMPLE_UPDATES[recipe], None, batch)
    assert G.default_config(sample, 128, "small-data").max_iters == G.SAMPLE_UPDATES_128
    assert G.default_config(sample, 64, "study", max_minutes=10.0).max_minutes == 10.0  # a cap stays possible


def test_ensure_gan_never_deletes_a_run(crops_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from fashionlib.config import get_profile

    profile = replace(get_profile("sample"), run_dir=tmp_path, fast=True)
    a = G.ensure_gan(profile, 64, config=replace(TINY, max_iters=4, log_every=1), crops_dir=crops_dir,
                     progress=False)
    b = G.ensure_gan(profile, 64, config=replace(TINY, max_iters=2, lr=1e-4), crops_dir=crops_dir, progress=False)
    assert a.run_dir != b.run_dir and (a.run_dir / "generator.pt").is_file()  # a changed setting: a new folder
    capsys.readouterr()
    again = G.ensure_gan(profile, 64, config=replace(TINY, max_iters=4, log_every=1), crops_dir=crops_dir,
                         progress=False)
    assert again.run_dir == a.run_dir and again.state["iteration"] == 4  # the same settings: reused
    # A reused run says so and shows the end of its log, not all of it (notebooks reuse runs of thousands of lines).
    said = capsys.readouterr().out.splitlines()
    assert said[0].startswith("found a finished run") and said[1:] == G.log_lines(again)[-3:] != G.log_lines(again)
    longer = G.ensure_gan(profile, 64, config=replace(TINY, max_iters=5, log_every=1), crops_dir=crops_dir,
                          progress=False)
    assert longer.run_dir == a.run_dir and longer.state["iteration"] == 5  # a longer budget: resumed


def test_kill_9_and_resume_gives_the_uninterrupted_weights(crops_dir: Path, tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    base = [sys.executable, "-m", "fashionlib", "train-gan", str(crops_dir), "--recipe", "small-data",
            "--batch-size", "4", "--iters", "16", "--ckpt-every", "4", "--device", "cpu"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(base + ["--out", str(tmp_path / "straight")], check=True, env=env, capture_output=True)
    killed = tmp_path / "killed"
    proc = subprocess.Popen(base + ["--out", str(killed)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (killed / "status.json").is_file() and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)  # after the first checkpoint, mid-way through the next steps
    proc.wait()
    assert json.loads((killed / "status.json").read_text())["status"] == "running"
    subprocess.run(base + ["--out", str(killed), "--resume"], check=True, env=env, capture_output=True)
    a, b = _weights(tmp_path / "straight"), _weights(killed)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    iters = [json.loads(line)["iter"] for line in (killed / "metrics.jsonl").read_text().splitlines()]
    assert iters == list(range(16))  # no iteration missing or logged twice


def test_notebook_06_quotes_the_stored_ablation_result() -> None:
    import sys

    import nbformat
    import pandas as pd

    root = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root / "benchmarks"))
    import gan_ablation

    nb = nbformat.read(str(root / "notebooks" / "06_train_dcgan.ipynb"), 4)
    cell = next(c for c in nb.cells if gan_ablation.TABLE_TAG in c.metadata.get("tags", []))
    stored = root / "benchmarks" / "results" / "gan_ablation.csv"
    assert stored.is_file(), "run `make bench-gan-ablation` to store the ablation result"
    table = pd.read_csv(stored)
    assert cell.source.endswith(gan_ablation.markdown_table(table))
    # Rows merged from a stored result and a fresh report come back in the table's order whatever order they had.
    for seed in range(3):
        assert gan_ablation.in_display_order(table.sample(frac=1, random_state=seed)).equals(table)


# ---------------------------------------------------------------------------
# Conditioning on an attribute as well as the garment type
# ---------------------------------------------------------------------------


def test_condition_vectors_are_half_class_half_attribute() -> None:
    v = G.condition_vectors(torch.tensor([0, 2]), torch.tensor([1, -1]), 3, 4)
    assert v.shape == (2, 7)
    torch.testing.assert_close(v.sum(1), torch.ones(2))
    assert v[0].tolist() == [0.5, 0, 0, 0, 0.5, 0, 0]
    assert v[1, :3].tolist() == [0, 0, 0.5] and torch.allclose(v[1, 3:], torch.full((4,), 0.125))  # "any"


def test_attribute_config_checks_and_needs_labels(crops_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(G.GanError, match="d_cond planes"):
        G.recipe_config("study", attributes=("floral",), d_cond="projection", discriminator="sn")
    config = replace(TINY, attributes=("floral", "plaid"))
    assert config.num_classes == 3 + 3 and config.attribute_slots == 3
    with pytest.raises(G.GanError, match="needs attribute_labels"):
        G.train_gan(crops_dir, tmp_path / "a", config, progress=False, verbose=False)


def test_attribute_gan_trains_and_the_asked_attribute_reaches_the_generator(crops_dir: Path, tmp_path: Path) -> None:
    from fashionlib.crops import load_crops

    config = replace(TINY, generator="resize", g_cond="cbn", attributes=("floral", "plaid"))
    n = len(load_crops(crops_dir, "train", 64).labels)
    slots = np.arange(n) % 4 - 1  # -1 (unknown: left out), 0, 1, 2 (none)
    run = G.train_gan(crops_dir, tmp_path / "a", config, progress=False, verbose=False, attribute_labels=slots)
    assert run.state["train_crops"] == int((slots >= 0).sum())
    netG = G.load_generator(run.run_dir)
    a = G.generate(netG, 4, classes="upper", attribute="floral", seed=1)
    b = G.generate(netG, 4, classes="upper", attribute="plaid", seed=1)
    assert not torch.allclose(a, b)  # same noise, another attribute: another design
    with pytest.raises(G.GanError, match="knows attributes"):
        G.generate(netG, 2, classes="upper", attribute="denim")
