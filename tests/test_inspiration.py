"""Design metrics (Frechet distance, diversity, novelty), latent walks, the explorer, Inception FID guard."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from test_crops import make_crop_folder

from fashionlib import gan as G
from fashionlib import inspiration as I

pytestmark = pytest.mark.filterwarnings("ignore::fashionlib.gan.TrainingFailureWarning")

@pytest.fixture(scope="module")
def crops_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_crop_folder(tmp_path_factory.mktemp("insp"), 12)


# ---------------------------------------------------------------------------
# Frechet distance and friends (against independent oracles)
# ---------------------------------------------------------------------------


def _fd_oracle(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray) -> float:
    # Tr((S1 S2)^(1/2)) = sum of sqrt of the (real, non-negative) eigenvalues of S1 S2.
    eig = np.linalg.eigvals(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.sqrt(np.clip(eig, 0, None)).sum())


def test_frechet_distance_matches_closed_forms() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(400, 5))
    b = rng.normal(size=(300, 5)) * 2 + 1
    expected = _fd_oracle(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))
    assert I.frechet_distance(a, b) == pytest.approx(expected, rel=1e-6)
    # 1-D: (m1 - m2)^2 + (s1 - s2)^2 with the sample statistics.
    x, y = rng.normal(3, 2, size=(500, 1)), rng.normal(-1, 0.5, size=(500, 1))
    closed = (x.mean() - y.mean()) ** 2 + (x.std(ddof=1) - y.std(ddof=1)) ** 2
    assert I.frechet_distance(x, y) == pytest.approx(closed, rel=1e-9)
    assert I.frechet_distance(a, a) == pytest.approx(0, abs=1e-8)
    with pytest.raises(ValueError, match="equal dimension"):
        I.frechet_distance(a, b[:, :3])


def test_diversity_and_nearest_neighbours() -> None:
    assert I.diversity(np.zeros((5, 3))) == 0
    assert I.diversity(np.array([[0.0, 0.0], [3.0, 4.0]])) == pytest.approx(5.0)
    rng = np.random.default_rng(1)
    q, r = rng.normal(size=(7, 4)), rng.normal(size=(30, 4))
    d, idx = I.nearest_neighbours(q, r, k=3)
    brute = np.linalg.norm(q[:, None] - r[None], axis=2)
    assert np.array_equal(idx, np.argsort(brute, axis=1)[:, :3])
    assert np.allclose(d, np.sort(brute, axis=1)[:, :3])


def test_pixel_gaussian_fits_per_pixel_statistics() -> None:
    rng = np.random.default_rng(2)
    train = np.clip(rng.normal(120, 20, size=(500, 4, 4, 3)), 0, 255).astype(np.uint8)
    train[:, 0, 0, 0] = 30  # a constant pixel stays constant
    s = I.pixel_gaussian(train, 2000, seed=0)
    assert s.shape == (2000, 4, 4, 3) and s.dtype == np.uint8
    assert (s[:, 0, 0, 0] == 30).all()
    assert abs(s[:, 1, 1, 1].mean() - train[:, 1, 1, 1].mean()) < 2
    assert abs(s[:, 1, 1, 1].std() - train[:, 1, 1, 1].std()) < 2


# ---------------------------------------------------------------------------
# Latent space helpers
# ---------------------------------------------------------------------------


def test_slerp_and_interpolate() -> None:
    g = torch.Generator().manual_seed(0)
    z0, z1 = torch.randn(2, 100, generator=g)
    path = I.interpolate(z0, z1, steps=5)
    assert path.shape == (5, 100)
    assert torch.allclose(path[0], z0, atol=1e-5) and torch.allclose(path[-1], z1, atol=1e-5)
    mid = I.slerp(z0, z1, 0.5)
    # Spherical interpolation keeps a typical norm; linear shrinks it in the middle.
    lin = I.interpolate(z0, z1, steps=3, method="linear")[1]
    assert abs(mid.norm() - (z0.norm() + z1.norm()) / 2) < 0.05 * z0.norm()
    assert lin.norm() < 0.85 * mid.norm()
    with pytest.raises(ValueError, match="slerp"):
        I.interpolate(z0, z1, method="cubic")


def test_latent_directions_are_orthonormal() -> None:
    d = I.latent_directions(100, 6, seed=3)
    assert d.shape == (6, 100)
    assert torch.allclose(d @ d.T, torch.eye(6), atol=1e-5)
    assert torch.equal(d, I.latent_directions(100, 6, seed=3))


# ---------------------------------------------------------------------------
# Classifier, metrics, novelty, explorer (on a tiny crop set)
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def feature_net(crops_dir: Path) -> I.FeatureNet:
    return I.ensure_feature_net(crops_dir, epochs=6, progress=False)


def test_feature_net_learns_the_classes_and_is_cached(crops_dir: Path, feature_net: I.FeatureNet) -> None:
    # Classes differ by colour in the fixture: the held-out crops must be classified almost perfectly.
    assert feature_net.val_accuracy >= 0.9
    assert feature_net.val_category_accuracy is not None  # the fixture has DeepFashion categories
    again = I.ensure_feature_net(crops_dir, epochs=6, progress=False)
    assert again.path == crops_dir / I.FEATURE_NET and again.val_accuracy == feature_net.val_accuracy
    from fashionlib.crops import load_crops

    imgs = load_crops(crops_dir, "val", 64).images
    assert np.allclose(I.embed(feature_net, imgs), I.embed(again, imgs))
    assert I.embed(feature_net, imgs).shape == (len(imgs), feature_net.model.feature_dim)


def test_precision_recall_against_hand_made_sets() -> None:
    real = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    # Each real point's 1st-nearest-neighbour radius is 1 (the grid spacing).
    assert np.allclose(I.knn_radii(real, 1), 1.0)
    inside, far = np.array([[0.5, 0.5], [0.2, 0.1]]), np.array([[5.0, 5.0], [6.0, 5.0]])
    p, r = I.precision_recall(real, np.concatenate([inside, far]), k=1)
    assert p == 0.5  # two of four designs fall inside the real balls
    p_far, r_far = I.precision_recall(real, far, k=1)
    assert p_far == 0.0 and r_far == 0.0  # blobs far away: neither good nor covering
    assert I.precision_recall(real, real.copy(), k=1) == (1.0, 1.0)
    # Collapse: every design on one real point -> perfect precision, and no recall: identical designs give each
    # other balls of radius 0, so they cover no real crop at all.
    p_c, r_c = I.precision_recall(real, np.repeat(real[:1], 4, axis=0) + 1e-3, k=1)
    assert p_c == 1.0 and r_c == 0.0


def test_scores_tables_and_bars(crops_dir: Path, feature_net: I.FeatureNet, tmp_path: Path) -> None:
    cfg = G.GanConfig(size=64, ngf=8, ndf=8, batch_size=8, max_iters=3, log_every=3, grid_every=3, ckpt_every=3,
                      n_fixed=6)
    run = G.train_gan(crops_dir, tmp_path / "run", cfg, progress=False, verbose=False)
    netG = run.generator()
    table = I.compare_designs({"study recipe": netG, "small-data recipe": netG}, crops_dir, feature_net)
    assert list(table.index) == ["study recipe", "small-data recipe", "untrained generator (same init)",
                                 "real train crops (reference)"]
    fd = table[I.FD_NAME].astype(float)
    assert np.isfinite(fd).all() and fd.idxmin() == "real train crops (reference)"
    # Real crops are classified as their own class far more often than a 3-iteration generator's designs.
    agree = table["class agreement"].astype(float)
    assert agree["real train crops (reference)"] >= 0.9 and agree["real train crops (reference)"] > agree.iloc[0]
    bars = I.recipe_bars(table, "study recipe", "small-data recipe")
    assert list(bars["passed"]) == [False, bool(agree.iloc[1] >= 0.7), False, False]  # same generator: not better

    import matplotlib

    matplotlib.use("Agg")
    assert len(I.designs_by_class(netG, per_class=2).axes) == 6
    assert len(I.interpolation_figure(netG, rows=2, steps=3).axes) == 6
    assert len(I.class_morph_figure(netG, steps=3).axes) == 9
    with pytest.raises(G.GanError, match="conditional"):
        I.class_morph_figure(G.build_generator(replace(cfg, conditional=False)))
    change = I.sweep_change(netG, pairs=8, k=2)
    assert change.index[0] == "two random designs (reference)" and (change["mean |pixel change|"] >= 0).all()
    assert change.loc["two random designs (reference)", "vs two random designs"] == 1.0


def test_novelty_judges_only_designs_inside_the_real_manifold(crops_dir: Path, feature_net: I.FeatureNet,
                                                              tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    cfg = G.GanConfig(size=64, ngf=8, ndf=8, batch_size=8, max_iters=1, log_every=1, grid_every=1, ckpt_every=1)
    run = G.train_gan(crops_dir, tmp_path / "run", cfg, progress=False, verbose=False)
    # A generator that only draws one flat grey square never passes the precision test: nothing is called new.
    class Grey(torch.nn.Module):
        nz, num_classes, class_names, size = 100, 3, ("upper", "lower", "full"), 64

        def __init__(self) -> None:
            super().__init__()
            self.weight = torch.nn.Parameter(torch.zeros(1))

        def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
            return torch.zeros(len(z), 3, 64, 64) + 0 * self.weight

    run.generator = lambda device="cpu": Grey()  # type: ignore[method-assign]
    with pytest.raises(G.GanError, match="precision test"):
        I.novelty_figure(run, crops_dir, feature_net, n=2, k=3)


def test_latent_explorer_redraws_on_slider_change(crops_dir: Path, tmp_path: Path) -> None:
    import ipywidgets as widgets

    netG = G.build_generator(G.GanConfig(size=64, ngf=8, ndf=8))
    box = I.latent_explorer(netG, k=3, show_static=False)
    assert isinstance(box, widgets.HBox)
    controls, image = box.children
    before = image.value
    assert before[:8] == b"\x89PNG\r\n\x1a\n"
    slider = [w for w in controls.children if getattr(w, "description", "") == "slider 2"][0]
    slider.value = 2.0
    assert image.value != before
    cls = [w for w in controls.children if isinstance(w, widgets.Dropdown)][0]
    changed = image.value
    cls.value = "full"
    assert image.value != changed


# ---------------------------------------------------------------------------
# Inception FID: never downloads
# ---------------------------------------------------------------------------


def test_inception_fid_needs_local_weights(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(I.INCEPTION_ENV, str(tmp_path / "missing.pth"))
    assert I.find_inception_weights() is None
    with pytest.raises(I.InceptionWeightsMissing, match="Colab"):
        I.inception_frechet_distance(np.zeros((2, 8, 8, 3), np.uint8), np.zeros((2, 8, 8, 3), np.uint8))
    monkeypatch.delenv(I.INCEPTION_ENV)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    assert I.find_inception_weights() is None


def test_inception_fid_runs_with_a_local_weights_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=False)
    path = tmp_path / "inception_v3_google-test.pth"
    torch.save(model.state_dict(), path)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    (tmp_path / "checkpoints").mkdir()
    path.rename(tmp_path / "checkpoints" / path.name)
    assert I.find_inception_weights() == tmp_path / "checkpoints" / path.name
    rng = np.random.default_rng(0)
    a = rng.integers(0, 255, size=(3, 32, 32, 3), dtype=np.uint8)
    feats = I.inception_features(I.inception_model(), a)
    assert feats.shape == (3, 2048)
    assert I.inception_frechet_distance(a, a) == pytest.approx(0, abs=1e-3)


def test_classifier_is_scored_on_confirmed_labels_only(tmp_path: Path) -> None:
    import pandas as pd

    crops_dir = make_crop_folder(tmp_path, 12)
    manifest = pd.read_csv(crops_dir / "manifest.csv")
    # A detector that got a third of the held-out crops wrong: their labels are shifted to another class, and,
    # as boxes_from_detections does, they carry no DeepFashion category (the annotation does not confirm them).
    wrong = (manifest["split"] != "train") & (manifest["index"] % 3 == 0)
    manifest.loc[wrong, "category_id"] = manifest.loc[wrong, "category_id"] % 3 + 1
    manifest.loc[wrong, "deepfashion_category"] = 0
    manifest.to_csv(crops_dir / "manifest.csv", index=False)
    net = I.train_feature_net(crops_dir, epochs=6, progress=False)
    assert net.val_accuracy >= 0.9  # the confirmed crops: classes differ by colour in the fixture
    assert net.val_accuracy_all_labels is not None and net.val_accuracy_all_labels < net.val_accuracy - 0.2
    assert "held-out type accuracy vs detector labels" in net.summary().columns
