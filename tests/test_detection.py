"""Tests for fashionlib.detection on tiny datasets made here (no sample data, no downloads)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
import torch
from detection_helpers import tiny_config
from torchvision.models.detection.transform import GeneralizedRCNNTransform
from torchvision.ops import MultiScaleRoIAlign

from fashionlib.detection import (
    ConfigError,
    ResumeError,
    RunExistsError,
    WeightsNotFoundError,
    build_model,
    coco_evaluate,
    evaluate_run,
    load_config,
    load_detector,
    load_run_config,
    study_config,
    train,
)
from fashionlib.detection.config import config_path, fast_version, from_dict, with_schedule
from fashionlib.detection.data import CocoDetection, TrainBatchSampler, collate, load_image
from fashionlib.detection.engine import fixed_steps, lr_factor, train_one_iter
from fashionlib.detection.roi_align import FastMultiScaleRoIAlign

# --- config ---------------------------------------------------------------------------------------


def test_config_files_load_and_carry_the_study_settings() -> None:
    cfg = study_config()
    assert (cfg.model.backbone, cfg.model.num_classes, cfg.model.roi_output_size, cfg.model.roi_sampling_ratio) == (
        "resnet50", 4, 7, 2)
    assert (cfg.solver.base_lr, cfg.solver.momentum, cfg.solver.weight_decay) == (0.0025, 0.9, 0.0001)
    assert (cfg.solver.steps, cfg.solver.max_iter, cfg.solver.gamma) == ([240000, 320000], 360000, 0.1)
    assert (cfg.input.min_size, cfg.input.max_size, cfg.roi_heads.batch_size_per_image) == (800, 1333, 512)
    assert (cfg.rpn.pre_nms_top_n_train, cfg.rpn.pre_nms_top_n_test, cfg.rpn.post_nms_top_n_test) == (2000, 1000, 1000)
    assert cfg.roi_heads.nms_thresh == 0.5
    sample = load_config("faster_rcnn_sample")
    assert sample.model.weights == "none" and sample.input.min_size < 800


def test_every_line_of_the_study_config_says_what_it_carries() -> None:
    text = config_path("faster_rcnn_R50_FPN_deepfashion3").read_text()
    body = [ln for ln in text.splitlines() if re.match(r"^  [a-z_]+: ", ln)]
    assert body and all("#" in ln for ln in body)


def test_config_rejects_unknown_keys_and_inconsistent_anchors() -> None:
    with pytest.raises(ConfigError, match="unknown key model.backbon"):
        from_dict({"model": {"backbon": "resnet50"}})
    with pytest.raises(ConfigError, match="anchor_sizes has 2 sizes but the FPN has 5 levels"):
        from_dict({"model": {"anchor_sizes": [32, 64]}})
    with pytest.raises(ConfigError, match="frozen BatchNorm with random weights"):
        from_dict({"model": {"weights": "none", "norm": "frozen_bn", "trainable_layers": 5}})


def test_schedule_scaling_and_lr_factor() -> None:
    cfg = with_schedule(study_config(), 36)
    assert cfg.solver.steps == [24, 32] and cfg.solver.max_iter == 36
    s = study_config().solver
    assert lr_factor(s, 0) == pytest.approx(1 / 3, rel=1e-5)
    assert lr_factor(s, 500) == 1.0
    assert lr_factor(s, 240000) == pytest.approx(0.1)
    assert lr_factor(s, 359999) == pytest.approx(0.01)
    fast = fast_version(study_config())
    assert fast.solver.max_iter == study_config().train.fast_max_iter and fast.model == study_config().model


# --- weights ----------------------------------------------------------------------------------------


def test_missing_weights_raise_a_clear_error_instead_of_random_init(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty hub cache
    cfg = study_config()
    with pytest.raises(WeightsNotFoundError) as err:
        build_model(cfg)
    msg = str(err.value)
    assert "resnet50-0676ba61.pth" in msg and str(tmp_path / "hub" / "checkpoints") in msg
    assert "model.weights_path" in msg and "model.download: true" in msg and "weights: none" in msg
    cfg.model.weights = "coco"
    with pytest.raises(WeightsNotFoundError, match="fasterrcnn_resnet50_fpn_coco"):
        build_model(cfg)
    cfg.model.weights_path = str(tmp_path / "nowhere.pth")
    with pytest.raises(WeightsNotFoundError, match="does not exist"):
        build_model(cfg)


def test_weights_in_the_hub_cache_are_loaded(tmp_path: Path, monkeypatch) -> None:
    import torchvision

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    ref = torchvision.models.resnet18()
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    torch.save(ref.state_dict(), tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth")
    cfg = from_dict({"model": {"backbone": "resnet18", "weights": "imagenet", "trainable_layers": 3}})
    model = build_model(cfg)
    assert torch.equal(model.backbone.body.layer3[0].conv1.weight, ref.layer3[0].conv1.weight)
    assert not model.backbone.body.layer1[0].conv1.weight.requires_grad  # frozen like Detectron's FREEZE_AT
    assert model.backbone.body.layer2[0].conv1.weight.requires_grad


# --- data -------------------------------------------------------------------------------------------


def test_prepared_images_and_boxes_match_torchvision_transform(tiny_data: tuple[Path, Path]) -> None:
    coco, root = tiny_data
    cfg = tiny_config()
    ds = CocoDetection(coco / "train.json", root, cfg.input)
    stock = GeneralizedRCNNTransform(cfg.input.min_size, cfg.input.max_size, cfg.input.pixel_mean, cfg.input.pixel_std)
    stock.train()
    for i in range(3):
        image, target = ds[i]
        raw = load_image(ds.image_path(i))
        boxes = torch.from_numpy(ds.records[i].boxes)
        ref_list, ref_t = stock([raw], [{"boxes": boxes, "labels": target["labels"]}])
        h, w = image.shape[-2:]
        assert torch.equal(ref_list.tensors[0, :, :h, :w], image)
        assert torch.equal(ref_t[0]["boxes"], target["boxes"])


def test_flip_mirrors_image_and_boxes(tiny_data: tuple[Path, Path]) -> None:
    coco, root = tiny_data
    ds = CocoDetection(coco / "train.json", root, tiny_config().input)
    plain, t_plain = ds[0]
    flipped, t_flip = ds[(0, True)]
    width = plain.shape[-1]
    assert torch.allclose(flipped, plain.flip(-1), atol=1e-5)
    assert torch.allclose(t_flip["boxes"][:, [2, 0]], width - t_plain["boxes"][:, [0, 2]], atol=1e-4)


def test_batch_sampler_resumes_mid_stream_and_keeps_aspect_groups() -> None:
    groups = torch.tensor([0, 1] * 9).numpy()
    full = TrainBatchSampler(groups, 4, seed=3, hflip_prob=0.5)
    late = TrainBatchSampler(groups, 4, seed=3, hflip_prob=0.5, start_iter=5)
    head = [b for _, b in zip(range(12), iter(full))]
    tail = [b for _, b in zip(range(7), iter(late))]
    assert head[5:] == tail
    assert all(len({groups[i] for i, _ in batch}) == 1 for batch in head)
    assert {flip for batch in head for _, flip in batch} == {True, False}


def test_prepared_model_gives_the_stock_models_losses(tiny_data: tuple[Path, Path]) -> None:
    coco, root = tiny_data
    cfg = tiny_config()
    torch.manual_seed(0)
    stock = build_model(cfg, stock_transform=True, fast_roi_align=False)
    ours = build_model(cfg)
    ours.load_state_dict(stock.state_dict())
    ds = CocoDetection(coco / "train.json", root, cfg.input)
    images, targets = collate([ds[i] for i in range(4)])
    raw = [load_image(ds.image_path(i)) for i in range(4)]
    raw_t = [{"boxes": torch.from_numpy(ds.records[i].boxes), "labels": targets[i]["labels"]} for i in range(4)]
    torch.manual_seed(7)
    ref = stock(raw, raw_t)
    torch.manual_seed(7)
    got = ours(images, targets)
    for name in ref:
        assert got[name].item() == pytest.approx(ref[name].item(), rel=1e-5, abs=1e-6), name


def test_fast_roi_align_matches_torchvision_outputs_and_gradients() -> None:
    torch.manual_seed(0)
    feats = {str(i): torch.randn(2, 8, 40 // 2**i, 56 // 2**i) for i in range(3)}
    boxes = []
    for _ in range(2):
        xy = torch.rand(40, 2) * torch.tensor([200.0, 140.0])
        boxes.append(torch.cat([xy, xy + torch.rand(40, 2) * 120 + 1], 1))
    shapes = [(160, 224)] * 2
    outs, grads = [], []
    for cls in (MultiScaleRoIAlign, FastMultiScaleRoIAlign):
        f = {k: v.clone().requires_grad_() for k, v in feats.items()}
        out = cls(list(feats), 7, 2)(f, boxes, shapes)
        g = torch.randn(out.shape, generator=torch.Generator().manual_seed(1))
        grads.append(torch.autograd.grad(out, list(f.values()), g))
        outs.append(out)
    assert torch.equal(outs[0], outs[1])
    for a, b in zip(*grads):
        assert torch.allclose(a, b, atol=1e-5)


# --- training ---------------------------------------------------------------------------------------


def test_resume_gives_bit_identical_weights(tiny_data: tuple[Path, Path], tmp_path: Path) -> None:
    coco, root = tiny_data
    cfg = tiny_config(channels_last=True)
    kw = {"coco_dir": coco, "image_root": root, "progress": False, "final_eval": False}
    straight = train(cfg, out_dir=tmp_path / "a", **kw)
    half = train(cfg, out_dir=tmp_path / "b", stop_at=4, **kw)
    assert (straight.status, half.status, half.iteration) == ("finished", "stopped", 4)
    resumed = train(cfg, out_dir=tmp_path / "b", resume=True, **kw)
    assert resumed.iteration == straight.iteration == cfg.solver.max_iter
    a = torch.load(tmp_path / "a/checkpoints/last.pt", weights_only=False)
    b = torch.load(tmp_path / "b/checkpoints/last.pt", weights_only=False)
    assert a["model"].keys() == b["model"].keys()
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert all(torch.equal(x["momentum_buffer"], y["momentum_buffer"])
               for x, y in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values()))

    def rows(run: Path) -> list[dict]:
        return [{k: v for k, v in json.loads(line).items() if k != "sec_per_iter"}
                for line in (run / "metrics.jsonl").read_text().splitlines()]

    assert rows(tmp_path / "a") == rows(tmp_path / "b")  # periodic validation included, once each


def test_loss_goes_down(tiny_data: tuple[Path, Path], tmp_path: Path) -> None:
    coco, root = tiny_data
    cfg = with_schedule(tiny_config(eval_every=0), 30)
    train(cfg, coco_dir=coco, image_root=root, out_dir=tmp_path / "run", progress=False, final_eval=False)
    losses = [r["loss"] for r in map(json.loads, (tmp_path / "run/metrics.jsonl").read_text().splitlines())
              if r["kind"] == "train"]
    assert len(losses) == 30
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < 0.7 * first, (first, last)


def test_end_of_training_evaluation_matches_a_later_one(tiny_data: tuple[Path, Path], tmp_path: Path) -> None:
    # Training batches differ from the evaluation batch size; the final evaluation must still report what
    # evaluate-detector (notebook 04, the CLI) reports later, or the two notebooks disagree.
    coco, root = tiny_data
    cfg = tiny_config(eval_every=0)
    cfg.solver.ims_per_batch = 3
    result = train(cfg, coco_dir=coco, image_root=root, out_dir=tmp_path / "run", progress=False)
    later = evaluate_run(tmp_path / "run", "val", progress=False)
    assert result.final_eval["stats"] == later["stats"]


def test_run_folder_guards(tiny_data: tuple[Path, Path], trained_run: Path) -> None:
    coco, root = tiny_data
    with pytest.raises(RunExistsError, match="--resume"):
        train(tiny_config(), coco_dir=coco, image_root=root, out_dir=trained_run, progress=False)
    changed = tiny_config()
    changed.model.fpn_channels = 32  # the network differs: a resume cannot load these weights
    with pytest.raises(ResumeError, match=r"model.fpn_channels: 16 -> 32"):
        train(changed, coco_dir=coco, image_root=root, out_dir=trained_run, resume=True, progress=False)
    with pytest.raises(ResumeError, match="does not exist"):
        train(tiny_config(), coco_dir=coco, image_root=root, out_dir=trained_run / "none", resume=True, progress=False)


def test_time_budget_stops_and_checkpoints(tiny_data: tuple[Path, Path], tmp_path: Path) -> None:
    coco, root = tiny_data
    result = train(tiny_config(), coco_dir=coco, image_root=root, out_dir=tmp_path / "r", max_minutes=0.0005,
                   progress=False, final_eval=False)
    assert result.status == "time_budget" and result.iteration < tiny_config().solver.max_iter
    state = torch.load(tmp_path / "r/checkpoints/last.pt", weights_only=False)
    assert state["status"] == "time_budget" and state["iteration"] == result.iteration
    assert (tmp_path / "r/config.yaml").read_text().count("max_minutes: 0.0005") == 1


def test_run_folder_contents(trained_run: Path) -> None:
    for name in ("config.yaml", "metrics.jsonl", "status.json", "checkpoints/last.pt", "model_final.pt",
                 "detections_val.json", "eval_val.json", "figures/training.png"):
        assert (trained_run / name).is_file(), name
    cfg_text = (trained_run / "config.yaml").read_text()
    assert "coco_dir:" in cfg_text and "image_root:" in cfg_text
    dets = json.loads((trained_run / "detections_val.json").read_text())
    assert dets and set(dets[0]) == {"image_id", "category_id", "bbox", "score"}
    assert all(d["category_id"] in (1, 2, 3) and len(d["bbox"]) == 4 for d in dets)
    ev = json.loads((trained_run / "eval_val.json").read_text())
    assert len(ev["stats"]) == 12 and set(ev["per_class"]) == {"upper", "lower", "full"}
    kinds = {json.loads(line)["kind"] for line in (trained_run / "metrics.jsonl").read_text().splitlines()}
    assert kinds == {"train", "val", "final"}


def _metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def _all_finite(state: dict) -> bool:
    return all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())


def test_train_one_iter_refuses_a_non_finite_loss_before_touching_the_weights(tiny_data: tuple[Path, Path]) -> None:
    coco, root = tiny_data
    cfg = tiny_config()
    model = build_model(cfg).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    scaler = torch.amp.GradScaler("cuda", enabled=False)
    batch = collate([CocoDetection(coco / "train.json", root, cfg.input)[i] for i in range(2)])
    losses = train_one_iter(model, batch, opt, scaler, clip_grad_norm=1.0)
    assert set(losses) == {"loss_classifier", "loss_box_reg", "loss_objectness", "loss_rpn_box_reg"}
    assert all(not v.requires_grad and torch.isfinite(v) for v in losses.values())
    with torch.no_grad():
        model.roi_heads.box_predictor.cls_score.bias.fill_(float("nan"))
    before = {k: v.clone() for k, v in model.named_parameters()}  # (BatchNorm statistics move in any forward)
    with pytest.raises(FloatingPointError, match="loss is nan"):
        train_one_iter(model, batch, opt, scaler)
    assert all(torch.allclose(before[k], v, rtol=0, atol=0, equal_nan=True) for k, v in model.named_parameters())


def test_a_diverging_run_keeps_its_last_good_checkpoint_and_resumes_with_a_new_solver(
    tiny_data: tuple[Path, Path], tmp_path: Path
) -> None:
    coco, root = tiny_data
    cfg = tiny_config(checkpoint_every=3, eval_every=0)
    cfg.solver.max_iter, cfg.solver.steps, cfg.solver.gamma = 12, [7], 1e8  # the LR explodes at iteration 8
    kw = {"coco_dir": coco, "image_root": root, "out_dir": tmp_path / "run", "progress": False, "final_eval": False}
    with pytest.raises(FloatingPointError, match=r"last good checkpoint \(iteration 6\) is kept"):
        train(cfg, **kw)
    state = torch.load(tmp_path / "run/checkpoints/last.pt", weights_only=False)
    assert state["iteration"] == 6 and _all_finite(state["model"])
    assert json.loads((tmp_path / "run/status.json").read_text())["iteration"] == 6
    fixed = cfg.copy()
    fixed.solver.gamma, fixed.solver.clip_grad_norm = 0.1, 5.0
    result = train(fixed, resume=True, **kw)
    assert (result.status, result.iteration) == ("finished", 12)
    rows = _metrics(tmp_path / "run")
    assert [r["iter"] for r in rows if r["kind"] == "train"] == list(range(1, 13))
    resume = [r for r in rows if r["kind"] == "resume"]
    assert resume == [{"kind": "resume", "iter": 6, "changes": {"solver.clip_grad_norm": [None, 5.0],
                                                               "solver.gamma": [1e8, 0.1]}}]
    assert [r["lr"] for r in rows if r["kind"] == "train"][7] == pytest.approx(0.02 * 0.1)
    assert "gamma: 0.1" in (tmp_path / "run/config.yaml").read_text()
    final = torch.load(tmp_path / "run/model_final.pt", weights_only=False)
    assert _all_finite(final)


def test_resume_with_a_lower_lr_scales_every_param_group(tiny_data: tuple[Path, Path], tmp_path: Path) -> None:
    coco, root = tiny_data
    cfg = tiny_config(eval_every=0)
    cfg.solver.bias_lr_factor = 2.0  # two param groups with different LRs
    kw = {"coco_dir": coco, "image_root": root, "out_dir": tmp_path / "run", "progress": False, "final_eval": False}
    train(cfg, stop_at=4, **kw)
    lower = cfg.copy()
    lower.solver.base_lr = cfg.solver.base_lr / 4
    train(lower, resume=True, **kw)
    state = torch.load(tmp_path / "run/checkpoints/last.pt", weights_only=False)
    lrs = sorted({g["lr"] for g in state["optimizer"]["param_groups"]})
    factor = lr_factor(lower.solver, lower.solver.max_iter)
    assert lrs == pytest.approx([0.005 * factor, 0.01 * factor])
    assert [r["lr"] for r in _metrics(tmp_path / "run") if r["kind"] == "train"][4] == pytest.approx(0.005)


def test_time_budget_counts_total_training_time_across_resumes(tiny_data: tuple[Path, Path], tmp_path: Path) -> None:
    coco, root = tiny_data
    kw = {"coco_dir": coco, "image_root": root, "out_dir": tmp_path / "run", "progress": False, "final_eval": False}
    first = train(tiny_config(eval_every=0), stop_at=4, **kw)
    # A budget already spent by the first session: the resumed run stops at once instead of restarting the clock.
    again = train(tiny_config(eval_every=0), resume=True, max_minutes=first.elapsed_s / 60 / 2, **kw)
    assert (again.status, again.iteration) == ("time_budget", 4)
    assert again.elapsed_s >= first.elapsed_s
    status = json.loads((tmp_path / "run/status.json").read_text())
    assert status["status"] == "time_budget" and status["elapsed_s"] >= round(first.elapsed_s, 3)
    done = train(tiny_config(eval_every=0), resume=True, max_minutes=60, **kw)
    assert (done.status, done.iteration) == ("finished", 8) and done.elapsed_s > first.elapsed_s


def test_fixed_steps_move_the_lr_steps_to_their_share_of_the_predicted_iterations() -> None:
    s = with_schedule(study_config(), 900).solver  # steps 600, 800 of 900
    assert fixed_steps(s, 75, sec_per_iter=0.5, remaining_s=10_000) == s.steps  # all 900 fit: unchanged
    assert fixed_steps(s, 75, sec_per_iter=1.0, remaining_s=375) == [300, 400]  # 450 fit: half of each step
    assert fixed_steps(s, 75, sec_per_iter=1.0, remaining_s=0) == [76, 76]  # never in the past


def test_time_schedule_is_fixed_once_recorded_and_resumes_exactly(tiny_data: tuple[Path, Path], tmp_path: Path,
                                                                   monkeypatch) -> None:
    import fashionlib.detection.engine as engine

    coco, root = tiny_data
    cfg = tiny_config(eval_every=0, time_schedule=True, max_minutes=30)
    cfg.solver.steps = [7]
    seen = []

    def fake_fixed_steps(solver, iteration, sec_per_iter, remaining_s):  # the speed differs per machine and load
        seen.append((iteration, sec_per_iter > 0, remaining_s > 0))
        return [4]

    monkeypatch.setattr(engine, "fixed_steps", fake_fixed_steps)
    kw = {"coco_dir": coco, "image_root": root, "progress": False, "final_eval": False}
    train(cfg, out_dir=tmp_path / "b", stop_at=3, **kw)
    assert seen == [(2, True, True)]  # fixed once, at the end of warm-up (2 iterations)
    text = (tmp_path / "b/config.yaml").read_text()
    assert "steps: [4]" in text and "# solver.steps fixed at iteration 2" in text and "(planned: [7])" in text
    train(cfg, out_dir=tmp_path / "b", resume=True, **kw)
    assert len(seen) == 1  # resuming keeps the fixed schedule instead of measuring again
    rows = _metrics(tmp_path / "b")
    assert [r["kind"] for r in rows].count("schedule") == 1 and not [r for r in rows if r["kind"] == "resume"]
    assert [r["lr"] for r in rows if r["kind"] == "train"][3:5] == pytest.approx([0.02, 0.002])
    # The recorded config alone reproduces the run bit for bit: the LR no longer depends on the clock.
    recorded = load_run_config(tmp_path / "b")
    recorded.train.time_schedule = False
    train(recorded, out_dir=tmp_path / "a", **kw)
    a = torch.load(tmp_path / "a/checkpoints/last.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "b/checkpoints/last.pt", weights_only=False)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_sigkill_at_a_random_moment_then_resume_is_bit_identical(tiny_data: tuple[Path, Path], tmp_path: Path) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("kill_resume", Path(__file__).parents[1] / "benchmarks/kill_resume.py")
    kr = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("kill_resume", kr)  # dataclasses look their module up there
    spec.loader.exec_module(sys.modules["kill_resume"])
    kr = sys.modules["kill_resume"]
    coco, root = tiny_data
    config_file = tmp_path / "kill.yaml"
    config_file.write_text(kr.detector_config_text(max_iter=40, checkpoint_every=5, eval_every=15))
    for attempt in range(3):  # a kill drawn after the run already ended tests nothing: draw again
        seed = int.from_bytes(__import__("os").urandom(2), "little")  # a new kill moment every run, printed on failure
        [row] = kr.check_trainer(kr.detector_trainer(coco, root, config_file), tmp_path / str(attempt), kills=1, seed=seed)
        assert row["tensors_identical"] and row["metrics_ok"], (seed, row)
        if row["killed"]:
            break
    assert row["killed"], "the run ended before the kill three times; nothing was tested"


# --- evaluation and prediction ---------------------------------------------------------------------


def test_coco_evaluate_with_pycocotools(tiny_data: tuple[Path, Path]) -> None:
    coco, _ = tiny_data
    gt = json.loads((coco / "val.json").read_text())
    perfect = [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 1.0}
               for a in gt["annotations"]]
    res = coco_evaluate(coco / "val.json", perfect)
    assert res["stats"]["AP"] == pytest.approx(1.0) and res["stats"]["AP50"] == pytest.approx(1.0)
    # All boxes here are under 32x32 pixels: COCO reports -1 (nothing to measure) for medium and large.
    assert res["stats"]["APm"] == -1 and res["stats"]["APl"] == -1
    shifted = [dict(d, bbox=[d["bbox"][0] + d["bbox"][2] * 0.3, *d["bbox"][1:]]) for d in perfect]
    worse = coco_evaluate(coco / "val.json", shifted)
    assert worse["stats"]["AP75"] < 0.5 and worse["stats"]["AP50"] == pytest.approx(1.0)
    wrong_class = [dict(d, category_id=d["category_id"] % 3 + 1) for d in perfect]
    assert coco_evaluate(coco / "val.json", wrong_class)["stats"]["AP"] == pytest.approx(0.0)
    assert coco_evaluate(coco / "val.json", [])["stats"]["AP"] == 0.0
    assert len(res["pr_curves"]["recall"]) == 101
    assert res["summary"].count("Average Precision") == 6 and res["summary"].count("Average Recall") == 6


def test_coco_evaluate_filters_detections_in_linear_time(tiny_data: tuple[Path, Path]) -> None:
    # 200,000 detections against 50,000 requested image ids: building the id set once per call takes
    # milliseconds; once per detection (the old code) took minutes.
    import time

    coco, _ = tiny_data
    ids = list(range(10**6, 10**6 + 50_000))
    dets = [{"image_id": 5 * 10**6 + i, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5} for i in range(200_000)]
    start = time.perf_counter()
    res = coco_evaluate(coco / "val.json", dets, image_ids=ids)
    assert time.perf_counter() - start < 5.0
    assert res["num_detections"] == 0 and res["num_images"] == 50_000


def test_class_agnostic_nms_drops_a_garment_boxed_twice_under_two_classes() -> None:
    from fashionlib.detection import class_agnostic_nms

    dets = [{"image_id": 1, "category_id": 3, "bbox": [10, 10, 100, 200], "score": 0.9},  # a dress as "full"
            {"image_id": 1, "category_id": 1, "bbox": [12, 10, 98, 196], "score": 0.7},  # ...and again as "upper"
            {"image_id": 1, "category_id": 2, "bbox": [10, 150, 100, 60], "score": 0.6},  # a skirt overlapping a bit
            {"image_id": 2, "category_id": 1, "bbox": [12, 10, 98, 196], "score": 0.5}]  # another image
    kept = class_agnostic_nms(dets, iou_thresh=0.7)
    assert kept == [dets[0], dets[2], dets[3]]


def test_status_json_is_readable_without_torch_and_final_weights_stand_apart(trained_run: Path) -> None:
    from fashionlib.detection import read_status
    from fashionlib.runio import read_run_status

    status = read_run_status(trained_run)
    assert status == {"iteration": 8, "status": "finished", "elapsed_s": status["elapsed_s"],
                      "checkpoint": "checkpoints/last.pt"}
    assert read_status(trained_run)["config"]["name"] == "tiny"
    final = torch.load(trained_run / "model_final.pt", weights_only=True)
    last = torch.load(trained_run / "checkpoints/last.pt", weights_only=False)["model"]
    assert final.keys() == last.keys() and all(torch.equal(final[k], last[k]) for k in final)


def test_evaluate_subset_and_load_detector(trained_run: Path) -> None:
    res = evaluate_run(trained_run, "val", max_images=3, progress=False)
    assert res["subset"] and res["num_images"] == 3
    gt = json.loads(Path(load_run_config(trained_run).data.coco_dir, "val.json").read_text())
    first3 = sorted(img["id"] for img in gt["images"])[:3]
    dets = json.loads((trained_run / "detections_val.json").read_text())
    assert {d["image_id"] for d in dets} == set(first3)  # every one of the 3 images, and no other
    model, cfg = load_detector(trained_run, device="cpu")
    assert not model.training and cfg.name == "tiny"
    evaluate_run(trained_run, "val", progress=False)  # restore the full-split files for other tests


def test_cli_train_evaluate_predict(tiny_data: tuple[Path, Path], tmp_path: Path, capsys) -> None:
    from fashionlib.cli import main

    coco, root = tiny_data
    cfg_file = tmp_path / "tiny.yaml"
    cfg_file.write_text(tiny_config().to_yaml())
    run = tmp_path / "cli_run"
    assert main(["train-detector", "--config", str(cfg_file), "--coco", str(coco), "--images", str(root),
                 "--out", str(run), "--max-iter", "4"]) == 0
    assert "finished at iteration 4" in capsys.readouterr().out
    assert main(["train-detector", "--config", str(cfg_file), "--coco", str(coco), "--images", str(root),
                 "--out", str(run)]) == 2  # refuses to overwrite
    assert main(["evaluate-detector", str(run), "--split", "test"]) == 0
    out = capsys.readouterr().out
    assert "Average Precision" in out and (run / "detections_test.json").is_file()
    assert main(["predict", str(run), str(root / "img"), "--out", str(tmp_path / "pred"), "--score-thresh", "0"]) == 0
    preds = json.loads((tmp_path / "pred" / "predictions.json").read_text())
    assert len(preds) == len(list((root / "img").glob("*.jpg")))
    assert len(list((tmp_path / "pred").glob("*.png"))) == len(preds)


def test_resuming_a_detectron2_run_with_this_engine_names_the_engine(trained_run: Path, tiny_data, tmp_path: Path) -> None:
    import shutil

    from detection_helpers import tiny_config

    from fashionlib.detection import ResumeError, train

    run = tmp_path / "d2run"
    shutil.copytree(trained_run, run)
    state = torch.load(run / "checkpoints" / "last.pt", weights_only=False)
    state["engine"] = "detectron2"
    torch.save(state, run / "checkpoints" / "last.pt")
    coco, root = tiny_data
    with pytest.raises(ResumeError, match="trained by the detectron2 engine; resume it with --engine detectron2"):
        train(tiny_config(), coco_dir=coco, image_root=root, out_dir=run, resume=True, progress=False)


def test_train_detector_moves_a_run_of_another_config_aside(trained_run, tiny_data, tmp_path, monkeypatch):
    """The notebooks' helper never trains over a run of another config: it renames the folder, deletes nothing."""
    import shutil
    from types import SimpleNamespace

    from detection_helpers import tiny_config

    import fashionlib.coco
    import fashionlib.detection as det

    coco, root = tiny_data
    run = tmp_path / "detector"
    shutil.copytree(trained_run, run)
    before = sorted(p.relative_to(run) for p in run.rglob("*"))
    calls = []
    monkeypatch.setattr(fashionlib.coco, "ensure_coco", lambda profile: coco)
    monkeypatch.setattr(det, "train",
                        lambda cfg, **kw: calls.append(kw) or det.TrainResult(kw["out_dir"], 8, "finished", 0.0))
    profile = SimpleNamespace(fast=False, detector_dir=run, data_root=root, device="cpu")
    other = tiny_config()
    other.model.representation_size = 64
    det.train_detector(profile, other, progress=False, verbose=False)
    kept = list(tmp_path.glob("detector.replaced-*"))
    assert len(kept) == 1 and sorted(p.relative_to(kept[0]) for p in kept[0].rglob("*")) == before
    assert calls and calls[0]["out_dir"] == run and not run.exists()  # the new run starts in an empty folder
    # the same config is reused, not moved
    shutil.copytree(kept[0], run)
    result = det.train_detector(profile, tiny_config(), progress=False, verbose=False)
    assert result.reused and len(calls) == 1 and len(list(tmp_path.glob("detector.replaced-*"))) == 1
