"""detectron2 engine: config translation, dataset registration, a short training run into the shared run layout.

Tests that need detectron2 skip with the reason shown when it is not installed (`make detectron2`).
"""

from __future__ import annotations

import json
import subprocess
import sys
from types import SimpleNamespace

import pytest

import fashionlib.detection.d2 as d2
from fashionlib.detection import load_detector, study_config
from fashionlib.detection.config import sample_config

REASON = "detectron2 is not installed: run `make detectron2` (tests of the detectron2 engine skipped)"


@pytest.fixture(scope="module")
def detectron2():
    return pytest.importorskip("detectron2", reason=REASON)


def test_import_fashionlib_does_not_import_detectron2():
    code = ("import sys, fashionlib, fashionlib.detection, fashionlib.detection.d2, fashionlib.cli; "
            "fashionlib.cli.build_parser(); print('detectron2' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_missing_detectron2_is_one_clear_line(monkeypatch, tmp_path, capsys):
    from fashionlib.cli import main

    monkeypatch.setattr(d2, "available", lambda: False)
    with pytest.raises(d2.Detectron2MissingError, match=r"detectron2 is not installed: run `make detectron2`"):
        d2.to_d2_config(sample_config())
    rc = main(["train-detector", "--engine", "detectron2", "--config", "faster_rcnn_sample", "--coco", str(tmp_path),
               "--images", str(tmp_path), "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and err == ["fashionlib train-detector: error: detectron2 is not installed: run `make detectron2`"]


def test_every_translated_setting_is_commented():
    rows = d2.translation(study_config())
    assert len({r.key for r in rows}) == len(rows)
    assert all(r.comment.strip() for r in rows)


def test_study_config_in_detectron2_terms(detectron2, tmp_path):
    cfg = d2.to_d2_config(study_config())
    M = cfg.MODEL
    # RPN: top-N per FPN level before NMS, per image after, train and test
    assert (M.RPN.PRE_NMS_TOPK_TRAIN, M.RPN.POST_NMS_TOPK_TRAIN) == (2000, 2000)
    assert (M.RPN.PRE_NMS_TOPK_TEST, M.RPN.POST_NMS_TOPK_TEST) == (1000, 1000)
    assert M.RPN.NMS_THRESH == 0.7 and list(M.RPN.IOU_THRESHOLDS) == [0.3, 0.7] and list(M.RPN.IOU_LABELS) == [0, -1, 1]
    assert (M.RPN.BATCH_SIZE_PER_IMAGE, M.RPN.POSITIVE_FRACTION) == (256, 0.5)
    assert list(M.RPN.IN_FEATURES) == ["p2", "p3", "p4", "p5", "p6"]
    assert [list(s) for s in M.ANCHOR_GENERATOR.SIZES] == [[32], [64], [128], [256], [512]]
    assert [list(a) for a in M.ANCHOR_GENERATOR.ASPECT_RATIOS] == [[0.5, 1.0, 2.0]]
    # RoIAlign 7x7, sampling ratio 2, unaligned as Detectron; the 2-MLP head of 1024
    box = M.ROI_BOX_HEAD
    assert (box.POOLER_RESOLUTION, box.POOLER_SAMPLING_RATIO, box.POOLER_TYPE) == (7, 2, "ROIAlign")
    assert (box.NAME, box.NUM_CONV, box.NUM_FC, box.FC_DIM) == ("FastRCNNConvFCHead", 0, 2, 1024)
    assert list(M.ROI_HEADS.IN_FEATURES) == ["p2", "p3", "p4", "p5"]
    # 512 RoIs per image, a quarter foreground, 3 classes; test: score 0.05, NMS 0.5, 100 per image
    assert (M.ROI_HEADS.BATCH_SIZE_PER_IMAGE, M.ROI_HEADS.POSITIVE_FRACTION, M.ROI_HEADS.NUM_CLASSES) == (512, 0.25, 3)
    assert list(M.ROI_HEADS.IOU_THRESHOLDS) == [0.5] and list(M.ROI_HEADS.IOU_LABELS) == [0, 1]
    assert (M.ROI_HEADS.SCORE_THRESH_TEST, M.ROI_HEADS.NMS_THRESH_TEST, cfg.TEST.DETECTIONS_PER_IMAGE) == (0.05, 0.5, 100)
    # backbone: R-50, FrozenBN, stem + res2 frozen, FPN 256 on res2-res5
    assert (M.RESNETS.DEPTH, M.RESNETS.NORM, M.BACKBONE.FREEZE_AT, M.FPN.OUT_CHANNELS) == (50, "FrozenBN", 2, 256)
    assert list(M.FPN.IN_FEATURES) == ["res2", "res3", "res4", "res5"]
    assert M.PIXEL_MEAN == pytest.approx([123.675, 116.28, 103.53]) and cfg.INPUT.FORMAT == "RGB"
    assert M.PIXEL_STD == pytest.approx([58.395, 57.12, 57.375])
    # scale 800, max 1333, flips
    assert tuple(cfg.INPUT.MIN_SIZE_TRAIN) == (800,) and cfg.INPUT.MAX_SIZE_TRAIN == 1333
    assert (cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST, cfg.INPUT.RANDOM_FLIP) == (800, 1333, "horizontal")
    # solver: LR 0.0025 at 2 images, steps 240k/320k of 360k, warm-up 500 from 1/3, Detectron's bias settings
    S = cfg.SOLVER
    assert (S.BASE_LR, S.IMS_PER_BATCH, S.MOMENTUM, S.WEIGHT_DECAY) == (0.0025, 2, 0.9, 0.0001)
    assert list(S.STEPS) == [240000, 320000] and S.MAX_ITER == 360000 and S.GAMMA == 0.1
    assert (S.WARMUP_ITERS, S.WARMUP_METHOD) == (500, "linear") and S.WARMUP_FACTOR == pytest.approx(1 / 3)
    assert (S.BIAS_LR_FACTOR, S.WEIGHT_DECAY_BIAS, S.CLIP_GRADIENTS.ENABLED) == (2.0, 0.0, False)
    assert (S.CHECKPOINT_PERIOD, cfg.TEST.EVAL_PERIOD, cfg.SEED) == (5000, 20000, 0)
    # the commented YAML written beside a run loads back through detectron2's type-checked merge, value for value
    path = tmp_path / "detectron2.yaml"
    path.write_text(d2.d2_yaml(study_config()))
    loaded = d2.load_d2_config(path)
    for row in d2.translation(study_config()):
        node, theirs = cfg, loaded
        for part in row.key.split("."):
            node, theirs = node[part], theirs[part]
        assert theirs == node or list(theirs) == list(node), row.key


def test_sample_config_in_detectron2_terms(detectron2):
    cfg = d2.to_d2_config(sample_config())
    M, S = cfg.MODEL, cfg.SOLVER
    assert list(M.RPN.IN_FEATURES) == ["p3", "p4", "p5", "p6"] and list(M.ROI_HEADS.IN_FEATURES) == ["p3", "p4", "p5"]
    assert (M.RPN.PRE_NMS_TOPK_TRAIN, M.RPN.POST_NMS_TOPK_TRAIN, M.RPN.PRE_NMS_TOPK_TEST, M.RPN.POST_NMS_TOPK_TEST) \
        == (500, 250, 300, 150)
    assert (M.ROI_HEADS.BATCH_SIZE_PER_IMAGE, M.ROI_BOX_HEAD.FC_DIM, M.FPN.OUT_CHANNELS) == (64, 256, 64)
    assert (M.RESNETS.NORM, M.BACKBONE.FREEZE_AT, cfg.FASHIONLIB.BACKBONE) == ("BN", 0, "small")
    assert (S.BASE_LR, S.IMS_PER_BATCH, S.MAX_ITER, list(S.STEPS)) == (0.04, 8, 900, [675, 810])
    assert (S.CLIP_GRADIENTS.ENABLED, S.CLIP_GRADIENTS.CLIP_TYPE, S.CLIP_GRADIENTS.CLIP_VALUE) == (True, "full_model", 10.0)
    assert (cfg.FASHIONLIB.MAX_MINUTES, cfg.FASHIONLIB.TIME_SCHEDULE, cfg.DATALOADER.NUM_WORKERS) == (10.0, True, 0)


def test_registration_is_idempotent(detectron2, tiny_data, tmp_path):
    from detectron2.data import DatasetCatalog, MetadataCatalog

    coco, root = tiny_data
    first = d2.register_datasets(coco, root)
    assert d2.register_datasets(coco, root) == first == {"train": "fashionlib_train", "val": "fashionlib_val"}
    assert len(DatasetCatalog.get("fashionlib_val")) == len(json.loads((coco / "val.json").read_text())["images"])
    other = tmp_path / "coco"
    other.mkdir()
    (other / "val.json").write_text((coco / "val.json").read_text())
    d2.register_datasets(other, root, ("val",))  # another folder under the same name replaces the entry
    assert MetadataCatalog.get("fashionlib_val").json_file == str((other / "val.json").resolve())
    d2.register_datasets(coco, root)
    with pytest.raises(FileNotFoundError, match="missing.json not found"):
        d2.register_datasets(coco, root, ("missing",))


@pytest.fixture(scope="module")
def d2_run(detectron2, tiny_data, tmp_path_factory):
    """A tiny detectron2 run trained in two sessions: stopped at iteration 4, then resumed to the end (8)."""
    from detection_helpers import tiny_config

    coco, root = tiny_data
    out = tmp_path_factory.mktemp("d2") / "det"
    first = d2.train(tiny_config(), coco_dir=coco, image_root=root, out_dir=out, stop_at=4, progress=False)
    second = d2.train(tiny_config(), coco_dir=coco, image_root=root, out_dir=out, resume=True, progress=False)
    return out, first, second


def test_training_writes_the_shared_run_layout(d2_run, tiny_data):
    run, first, second = d2_run
    assert (first.status, first.iteration, second.status, second.iteration) == ("stopped", 4, "finished", 8)
    for name in ("config.yaml", "detectron2.yaml", "metrics.jsonl", "status.json", "model_final.pt",
                 "checkpoints/last.pt", "checkpoints/d2_last.pth", "detections_val.json", "eval_val.json",
                 "figures/training.png"):
        assert (run / name).is_file(), name
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    train_iters = [r["iter"] for r in rows if r["kind"] == "train"]
    assert train_iters == list(range(1, 9))  # the resumed session continues the log without gaps or repeats
    assert {"loss_classifier", "loss_box_reg", "loss_objectness", "loss_rpn_box_reg", "lr"} <= set(rows[0])
    val = [r for r in rows if r["kind"] == "val"]
    assert [r["iter"] for r in val] == [3, 6] and {"val_loss", "AP", "AP50"} <= set(val[0])
    assert rows[-1]["kind"] == "final"
    status = json.loads((run / "status.json").read_text())
    assert (status["iteration"], status["status"]) == (8, "finished")
    coco, _ = tiny_data
    val_ids = {im["id"] for im in json.loads((coco / "val.json").read_text())["images"]}
    dets = json.loads((run / "detections_val.json").read_text())
    assert dets and {tuple(sorted(d)) for d in dets} == {("bbox", "category_id", "image_id", "score")}
    assert {d["image_id"] for d in dets} <= val_ids and {d["category_id"] for d in dets} <= {1, 2, 3}
    assert json.loads((run / "eval_val.json").read_text())["stats"]["AP"] == rows[-1]["AP"]


def test_resume_refuses_another_config_and_overwrite_is_required(d2_run, tiny_data):
    from detection_helpers import tiny_config

    from fashionlib.detection import ResumeError, RunExistsError

    run, _, _ = d2_run
    coco, root = tiny_data
    with pytest.raises(RunExistsError):
        d2.train(tiny_config(), coco_dir=coco, image_root=root, out_dir=run, progress=False)
    other = tiny_config()
    other.model.representation_size = 64
    with pytest.raises(ResumeError, match="config differs"):
        d2.train(other, coco_dir=coco, image_root=root, out_dir=run, resume=True, progress=False)


def test_converted_weights_compute_the_same_network(d2_run):
    """last.pt / model_final.pt hold detectron2's weights under torchvision's names: layer for layer the same maths."""
    import torch
    from detectron2.checkpoint import DetectionCheckpointer
    from detectron2.modeling import build_model

    run, _, _ = d2_run
    tv, cfg = load_detector(run, device="cpu")
    assert cfg.name == "tiny" and not tv.training
    net = build_model(d2.load_d2_config(run / "detectron2.yaml")).eval()
    DetectionCheckpointer(net).load(str(run / "checkpoints" / "d2_last.pth"))
    with torch.no_grad():
        x = torch.randn(2, 3, 64, 96)
        ours, theirs = list(tv.backbone(x).values()), list(net.backbone(x).values())
        assert len(ours) == len(theirs) == 3 and all(torch.equal(a, b) for a, b in zip(ours, theirs))
        logits, deltas = tv.rpn.head(ours)
        objectness, anchor_deltas = net.proposal_generator.rpn_head(theirs)
        assert all(torch.allclose(a, b) for a, b in zip(logits + deltas, objectness + anchor_deltas))
        pooled = torch.randn(5, 16, 7, 7)
        cls_tv, box_tv = tv.roi_heads.box_predictor(tv.roi_heads.box_head(pooled))
        cls_d2, box_d2 = net.roi_heads.box_predictor(net.roi_heads.box_head(pooled))
        assert torch.allclose(cls_tv[:, 0], cls_d2[:, -1]) and torch.allclose(cls_tv[:, 1:], cls_d2[:, :-1])
        assert torch.allclose(box_tv[:, 4:], box_d2)  # background first in torchvision, last in detectron2


def test_evaluate_detector_on_a_detectron2_run_agrees(d2_run):
    """`fashionlib evaluate-detector` (torchvision inference on the converted weights) gives detectron2's AP."""
    from fashionlib.detection.evaluate import evaluate_run

    run, _, _ = d2_run
    d2_stats = json.loads((run / "eval_val.json").read_text())["stats"]
    tv = evaluate_run(run, "val", device="cpu", progress=False)
    # the only difference: torchvision rounds its base anchors to whole pixels, detectron2 does not
    assert tv["stats"]["AP"] == pytest.approx(d2_stats["AP"], abs=0.05)
    assert tv["stats"]["AP50"] == pytest.approx(d2_stats["AP50"], abs=0.05)


def test_fast_roi_align_keeps_detectron2_pooler_outputs_and_gradients(detectron2):
    import torch
    from detectron2.modeling import build_model
    from detectron2.structures import Boxes

    from fashionlib.detection.d2.modeling import FastROIAlign, use_fast_roi_align

    torch.manual_seed(0)
    pooler = build_model(d2.to_d2_config(sample_config())).roi_heads.box_pooler
    feats = [torch.randn(2, 64, 32 // 2**i, 48 // 2**i, requires_grad=True) for i in range(3)]
    boxes = [Boxes(torch.tensor([[10.0, 20, 100, 200], [0, 0, 50, 30]])), Boxes(torch.tensor([[5.0, 5, 250, 120]]))]

    def run():
        for f in feats:
            f.grad = None
        out = pooler(feats, boxes)
        (out * torch.arange(out.numel()).view_as(out).sin()).sum().backward()
        return out.detach(), [f.grad.clone() for f in feats]

    before, grads_before = run()
    model = SimpleNamespace(roi_heads=SimpleNamespace(box_pooler=pooler))  # all use_fast_roi_align looks at
    assert use_fast_roi_align(model) == 3
    assert all(isinstance(p, FastROIAlign) for p in pooler.level_poolers)
    after, grads_after = run()
    assert torch.equal(before, after)
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(grads_before, grads_after))


def test_detectron2_launch_trains_on_two_processes(detectron2, tiny_data, tmp_path, capsys):
    """`--engine detectron2 --num-gpus 2`: detectron2's launch starts 2 gloo processes; rank 0 alone writes the run."""
    import os

    import yaml
    from detection_helpers import tiny_config

    from fashionlib.cli import main

    coco, root = tiny_data
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_config(checkpoint_every=4, num_threads=1).to_dict()))
    out = tmp_path / "det"
    args = ["train-detector", "--engine", "detectron2", "--num-gpus", "2", "--config", str(config), "--coco",
            str(coco), "--images", str(root), "--device", "cpu", "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "fashionlib", *args], capture_output=True, text=True, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("finished at iteration 8") == 1  # rank 0 reports, once
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    # a second writer would repeat rows: every iteration, validation and the final evaluation appear once
    assert [r["iter"] for r in rows if r["kind"] == "train"] == list(range(1, 9))
    assert [r["iter"] for r in rows if r["kind"] == "val"] == [3, 6]
    assert [r["kind"] for r in rows].count("final") == 1
    assert json.loads((out / "status.json").read_text())["status"] == "finished"
    for name in ("model_final.pt", "checkpoints/d2_last.pth", "detections_val.json", "eval_val.json"):
        assert (out / name).is_file(), name
    # the launching process checks the folder first: a user's mistake is one line, before any worker starts
    capsys.readouterr()
    assert main(args) == 2
    assert "already holds a detector run" in capsys.readouterr().err
    assert main([*args[:2], "torchvision", *args[3:]]) == 2
    assert "torchrun" in capsys.readouterr().err
    assert main([*args, "--overwrite", "--num-machines", "2"]) == 2
    assert "--dist-url" in capsys.readouterr().err
