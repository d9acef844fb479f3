"""Trend signals: Wilson intervals, lift / PMI, NMF styles, the attribute predictor, forecast backtests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from fashionlib.trends import attributes as at
from fashionlib.trends import catalogue, cooccurrence, prevalence, styles
from fashionlib.trends import forecast as fc
from fashionlib.trends import synthetic_table as st

# ---------------------------------------------------------------------------
# Prevalence
# ---------------------------------------------------------------------------


def test_wilson_interval_matches_known_values() -> None:
    # Closed form (Wilson 1927) for 5 of 10 and 0 of 20 at 95%: oracle values computed by hand.
    z = 1.959963984540054
    for k, n in [(5, 10), (0, 20), (81, 263)]:
        p = k / n
        centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
        half = z / (1 + z**2 / n) * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
        lo, hi = prevalence.wilson_interval(k, n)
        assert lo == pytest.approx(centre - half, abs=1e-12)
        assert hi == pytest.approx(centre + half, abs=1e-12)
    lo, hi = prevalence.wilson_interval(5, 10)
    assert (round(float(lo), 4), round(float(hi), 4)) == (0.2366, 0.7634)
    lo, hi = prevalence.wilson_interval(0, 20)
    assert float(lo) == pytest.approx(0.0, abs=1e-12) and float(hi) == pytest.approx(0.1611, abs=1e-4)
    lo, hi = prevalence.wilson_interval([1, 0], [4, 0])  # an empty group has no interval
    assert np.isfinite(lo[0]) and np.isnan(lo[1]) and np.isnan(hi[1])
    with pytest.raises(catalogue.TrendsInputError):
        prevalence.wilson_interval(3, 2)


def _hand_table() -> catalogue.AttributeTable:
    # 8 images, attributes a b c d. a and b always together (4 images); c in half of them; d alone.
    X = np.array([
        [1, 1, 1, 0], [1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 0, 0],
        [0, 0, 1, 1], [0, 0, 0, 1], [0, 0, 1, 0], [0, 0, 0, 0],
    ])
    groups = {"type_name": ["upper"] * 4 + ["lower"] * 4, "category_name": ["Tee"] * 4 + ["Jeans"] * 4}
    return catalogue.from_arrays(X, ["a", "b", "c", "d"], ["texture", "shape", "texture", "shape"], groups)


def test_prevalence_counts_shares_and_catalogue_row() -> None:
    table = _hand_table()
    prev = prevalence.prevalence(table, "type_name").set_index(["type_name", "attribute"])
    assert prev.loc[("upper", "a"), "share"] == 1.0 and prev.loc[("lower", "a"), "share"] == 0.0
    assert prev.loc[("all", "c"), "positives"] == 4 and prev.loc[("all", "c"), "share"] == 0.5
    row = prev.loc[("lower", "d")]
    lo, hi = prevalence.wilson_interval(2, 4)
    assert (row["ci_low"], row["ci_high"]) == (pytest.approx(float(lo)), pytest.approx(float(hi)))
    ou = prevalence.over_under(prevalence.prevalence(table, "category_name"), "category_name", "Jeans", n=1,
                               min_positives=1)
    assert ou.set_index("direction").loc["over", "attribute"] == "d"
    assert ou.set_index("direction").loc["under", "attribute"] in {"a", "b"}
    with pytest.raises(catalogue.TrendsInputError, match="no group 'Coat'"):
        prevalence.over_under(prev.reset_index(), "type_name", "Coat")


def test_positives_csr_chunks_equal_one_pass() -> None:
    rng = np.random.default_rng(0)
    labels = rng.choice(np.array([-1, 0, 1], dtype=np.int8), size=(1003, 17), p=[0.8, 0.05, 0.15])
    X = catalogue.positives_csr(labels, chunk_rows=100)
    assert X.shape == labels.shape and X.dtype == np.uint8
    np.testing.assert_array_equal(X.toarray(), (labels == 1).astype(np.uint8))


# ---------------------------------------------------------------------------
# Co-occurrence
# ---------------------------------------------------------------------------


def test_lift_and_pmi_on_a_hand_made_matrix() -> None:
    table = _hand_table()
    frame = cooccurrence.pair_table(table, min_count=1).set_index(["a", "b"])
    # a & b: n=8, n_a=n_b=n_ab=4 -> lift = 8*4/(4*4) = 2, PMI = 1, NPMI = 1 / -log2(0.5) = 1.
    assert frame.loc[("a", "b"), "lift"] == pytest.approx(2.0)
    assert frame.loc[("a", "b"), "pmi"] == pytest.approx(1.0)
    assert frame.loc[("a", "b"), "npmi"] == pytest.approx(1.0)
    # a & c: n_ac = 2, n_a = 4, n_c = 4 -> lift 1 (independent), PMI 0.
    assert frame.loc[("a", "c"), "lift"] == pytest.approx(1.0)
    assert frame.loc[("a", "c"), "pmi"] == pytest.approx(0.0)
    # c & d: n_cd = 1, n_c = 4, n_d = 2 -> lift = 8 / 8 = 1; a & d never together: left out at min_count 1.
    assert frame.loc[("c", "d"), "lift"] == pytest.approx(1.0)
    assert ("a", "d") not in frame.index
    assert frame.index[0] == ("a", "b")  # sorted by PMI
    typed = cooccurrence.pair_table(table, min_count=1, types=("texture", "shape"))
    assert set(typed["type_a"]) == {"texture"} and set(typed["type_b"]) == {"shape"}
    # Dense oracle for the sparse product.
    dense = table.X.toarray().astype(int)
    np.testing.assert_array_equal(cooccurrence.cooccurrence(table), dense.T @ dense)


# ---------------------------------------------------------------------------
# Styles
# ---------------------------------------------------------------------------


def _planted(k: int = 4, per: int = 5, n: int = 600, seed: int = 0) -> tuple[catalogue.AttributeTable, np.ndarray]:
    """Return a table whose images each draw attributes from one of k disjoint blocks (plus 2% noise)."""
    rng = np.random.default_rng(seed)
    K = k * per
    H = np.zeros((k, K))
    for s in range(k):
        H[s, s * per : (s + 1) * per] = 1
    style = rng.integers(0, k, n)
    X = (rng.random((n, K)) < 0.7 * H[style]) | (rng.random((n, K)) < 0.02)
    return catalogue.from_arrays(X.astype(np.int8), [f"attr{j}" for j in range(K)], ["style"] * K), H


def test_nmf_recovers_planted_styles_and_choose_k_finds_their_number() -> None:
    table, H = _planted()
    fitted = styles.fit_styles(table, 4)
    assert styles.match_styles(fitted.H, H) > 0.95
    assert styles.match_styles(np.random.default_rng(1).random((4, H.shape[1])), H) < 0.8  # the measure can fail
    k, frame = styles.choose_k(table, range(2, 8), n_boot=3)
    assert k == 4, frame
    assert frame["relative_error"].is_monotonic_decreasing
    # Typical images of a style come from its block.
    typical = styles.typical_images(fitted, 5)
    block = np.argmax(fitted.H, axis=1) // 5
    for s, idx in typical.items():
        rows = table.X[idx].toarray()
        assert rows[:, block[s] * 5 : block[s] * 5 + 5].sum() >= 0.6 * rows.sum()


# ---------------------------------------------------------------------------
# Attribute predictor
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample_crops(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, catalogue.AttributeTable]:
    """Return (crop folder, attribute table) of a 600-image synthetic sample with ground-truth-box crops."""
    from fashionlib import deepfashion
    from fashionlib.crops import CropConfig, build_crops
    from fashionlib.synthetic import ensure_sample

    base = tmp_path_factory.mktemp("trends")
    root = ensure_sample(base / "DeepFashion", n_images=600, seed=0)
    ds = deepfashion.load(root, landmarks=False)
    im = ds.images
    boxes = pd.DataFrame({
        "split": im["split"].astype(str), "image_id": np.arange(1, len(im) + 1), "source_image": im["image_name"],
        "category_id": im["category_type"].astype(int), "box_x": im["x_1"], "box_y": im["y_1"],
        "box_w": im["x_2"] - im["x_1"], "box_h": im["y_2"] - im["y_1"], "score": 1.0,
        "deepfashion_category": im["category_label"].astype(int),
    })
    out = base / "crops"
    build_crops(boxes, ds.image_root, out, CropConfig(sizes=(64,), min_size=8), progress=False)
    return out, catalogue.from_deepfashion(ds)


def test_attribute_slots_follow_the_labels_and_leave_out_other_garments(sample_crops) -> None:
    from fashionlib.crops import CLASS_NAMES, load_crops
    from fashionlib.trends import asked

    crops_dir, table = sample_crops
    crops = load_crops(crops_dir, "train", 64)
    classes = [CLASS_NAMES[int(c)] for c in crops.labels]
    values = ("floral|floral print", "plaid")
    slots = asked.attribute_slots(crops.manifest, classes, table, values)
    rows = table.images.reset_index().set_index("image_name").loc[crops.manifest["source_image"], "index"].to_numpy()
    dense = np.asarray(table.X[rows].todense()) > 0
    floral = dense[:, table.column("floral")] | dense[:, table.column("floral print")]
    plaid = dense[:, table.column("plaid")]
    assert ((slots == 0) == floral).all() and ((slots == 1) == (plaid & ~floral)).all()
    assert ((slots == 2) == (~floral & ~plaid)).all() and (slots == 0).any() and (slots == 1).any()
    wrong = [{"upper": "lower", "lower": "full", "full": "upper"}[c] for c in classes]
    assert (asked.attribute_slots(crops.manifest, wrong, table, values) == -1).all()  # labels describe another garment
    with pytest.raises(catalogue.TrendsInputError, match="unknown attribute 'tartan'"):
        asked.attribute_slots(crops.manifest, classes, table, ("tartan",))


def test_topk_recall_on_a_hand_made_ranking() -> None:
    targets = np.array([[1, 0, 0, 1], [0, 1, 0, 0], [1, 0, 0, 0]])
    scores = np.array([[0.9, 0.1, 0.2, 0.05], [0.1, 0.8, 0.3, 0.0], [0.2, 0.1, 0.9, 0.0]])
    r = at.topk_recall(scores, targets, ["texture", "texture", "shape", "shape"], ks=(1, 2))
    # top-1: attr0 found in 1 of 2 images, attr1 in 1 of 1, attr3 in 0 of 1 (attr2 has no positive).
    assert r.loc["texture", "top-1 recall %"] == pytest.approx(75.0)
    assert r.loc["shape", "top-1 recall %"] == pytest.approx(0.0)
    assert r.loc["all", "top-2 recall %"] == pytest.approx(100 * (1.0 + 1.0 + 0.0) / 3)
    with pytest.raises(catalogue.TrendsInputError, match="same shape"):
        at.topk_recall(scores[:, :3], targets, ["texture"] * 3)


def test_predictor_beats_frequency_baseline_on_held_out_crops(sample_crops, tmp_path: Path) -> None:
    crops_dir, table = sample_crops
    pred = at.ensure_attribute_predictor(crops_dir, table, tmp_path, epochs=10, batch_size=32, progress=False)
    recall = pred.recall
    for k in (3, 5):
        col = f"top-{k} recall %"
        assert recall.loc["all", (col, "CNN")] > recall.loc["all", (col, "frequency")] + 5, recall
    assert pred.history[-1] < pred.history[0]
    # Cached: the second call loads the same weights instead of training.
    again = at.ensure_attribute_predictor(crops_dir, table, tmp_path, epochs=10, batch_size=32, progress=False)
    assert again.path == tmp_path / at.MODEL_FILE
    for a, b in zip(pred.model.state_dict().values(), again.model.state_dict().values()):
        assert torch.equal(a, b)

    # Both image conventions give the same probabilities.
    from fashionlib.crops import load_crops

    crops = load_crops(crops_dir, "val", 64)
    u8 = np.asarray(crops.images[:16])
    as_float = torch.from_numpy(u8).permute(0, 3, 1, 2).float() / 127.5 - 1
    np.testing.assert_allclose(at.predict_proba(pred, u8), at.predict_proba(pred, as_float), atol=1e-5)
    with pytest.raises(catalogue.TrendsInputError, match="uint8"):
        at.predict_proba(pred, u8.astype(np.float32))

    profile = at.attribute_profile(pred, u8)
    assert list(profile.index) == pred.names and profile["mean_probability"].between(0, 1).all()
    classes = np.array(["upper", "lower", "full"])[crops.labels[:16] - 1]
    same = at.compare_profiles(pred, u8, classes, u8, classes)
    assert np.allclose(same["gap"], 0)  # the same images on both sides: no gap

    # Asked attribute: images the labels call 'denim' are recognised as denim far above its base rate.
    denim = table.column("denim")
    rows = table.images.reset_index().set_index("image_name").loc[crops.manifest["source_image"], "index"].to_numpy()
    has = np.asarray(table.X[rows][:, denim].todense()).ravel() > 0
    asked = at.asked_attribute_share(pred, np.asarray(crops.images)[has], "denim")
    assert asked["share recognised"].iloc[0] > asked["base rate (training labels)"].iloc[0] + 0.2, asked
    with pytest.raises(catalogue.TrendsInputError, match="does not know attribute 'tartan'"):
        at.asked_attribute_share(pred, u8, "tartan")


# ---------------------------------------------------------------------------
# Forecasting
# ---------------------------------------------------------------------------


def test_exponential_smoothing_ranks_first_on_trend_plus_season() -> None:
    table = st.synthetic_share_table(["a", "b", "c"], weeks=156, slope_max=0.15, amp_max=0.3, noise_sd=0.02, seed=3)
    assert (table["source"] == "synthetic").all()
    bt = fc.backtest(table, horizon=26, season=52)
    summary = bt.summary()
    assert summary.index[0] == "exp-smoothing", summary
    assert summary.loc["exp-smoothing", "MAE"] < 0.7 * summary.loc["naive-last", "MAE"]
    assert summary.attrs["note"] == "SYNTHETIC data"
    mean, lo, hi = bt.forecasts[("a",)]["exp-smoothing"]
    assert mean.shape == (26,) and (lo <= mean).all() and (mean <= hi).all()


def test_naive_methods_and_metrics_on_known_series() -> None:
    y = np.arange(1.0, 105.0)  # 104 periods
    mean, lo, hi = fc.naive_last(y, 3)
    np.testing.assert_array_equal(mean, [104, 104, 104])
    mean, _, _ = fc.seasonal_naive(y, 3, 52)
    np.testing.assert_array_equal(mean, [53, 54, 55])
    assert fc.mae([1, 2], [2, 4]) == pytest.approx(1.5)
    assert fc.mape([1, 2, 0], [2, 4, 9]) == pytest.approx(100.0)  # the zero actual is skipped


@pytest.mark.parametrize("change, match", [
    (lambda t: t.drop(columns="share"), r"missing column 'share' \(expected date, attribute, share; found date, attribute"),
    (lambda t: t.rename(columns={"attribute": "attr"}), "missing column 'attribute'"),
    (lambda t: t.assign(date=t["date"].astype(str).where(t.index != 4, "last week")), "column 'date' row 5: .*'last week'"),
    (lambda t: t.assign(share=t["share"].where(t.index != 2, 1.7)), r"column 'share' row 3: expected a number in \[0, 1\]"),
    (lambda t: pd.concat([t, t.iloc[:1]]), "a second share"),
])
def test_malformed_table_gives_one_clear_line(change, match, tmp_path: Path) -> None:
    table = st.synthetic_share_table(["a"], weeks=120)
    path = tmp_path / "shares.csv"
    change(table).to_csv(path, index=False)
    with pytest.raises(fc.ForecastTableError, match=match) as info:
        fc.backtest(fc.read_share_table(path))
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_grouped_table_and_short_series(tmp_path: Path) -> None:
    table = st.synthetic_share_table(["a", "b"], groups=["Paris", "Seoul"], weeks=130)
    bt = fc.backtest(table, group="group")
    assert set(bt.scores["series"]) == {"a/Paris", "a/Seoul", "b/Paris", "b/Seoul"}
    with pytest.raises(fc.ForecastTableError, match="missing column 'city'"):
        fc.backtest(table, group="city")
    with pytest.raises(fc.ForecastTableError, match="needs more than horizon \\+ season = 78"):
        fc.backtest(st.synthetic_share_table(["a"], weeks=60))
    path = st.write_synthetic_table(tmp_path, weeks=120)
    assert path.name.startswith("synthetic_") and (pd.read_csv(path)["source"] == "synthetic").all()
