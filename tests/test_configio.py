"""Typed configs: every config value is checked at load time, with one line naming file, key, type and value."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from fashionlib import configio
from fashionlib.cli import main
from fashionlib.configio import ConfigError
from fashionlib.detection import config as D
from fashionlib.detection.engine import TrainResult


@dataclass(frozen=True)
class Inner:
    size: int = 64
    ratio: float | None = None


@dataclass(frozen=True)
class Example:  # the shapes of GanConfig: int, float, bool, str, tuple[str, ...], float | None, nested
    iters: int
    lr: float = 2e-4
    conditional: bool = True
    name: str = "dcgan"
    classes: tuple[str, ...] = ("upper", "lower", "full")
    budget: float | None = None
    steps: list[int] = field(default_factory=lambda: [1, 2])
    inner: Inner = field(default_factory=Inner)


def test_validate_builds_the_dataclass_with_deliberate_conversions_only() -> None:
    cfg = configio.validate(Example, {"iters": 5, "lr": "1e-3", "classes": ["upper"], "budget": 3,
                                      "inner": {"ratio": 0.5}}, source="gan.yaml")
    assert cfg == Example(iters=5, lr=0.001, classes=("upper",), budget=3.0, inner=Inner(ratio=0.5))
    assert isinstance(cfg.classes, tuple) and isinstance(cfg.budget, float)
    assert configio.validate(Example, {"iters": 1, "budget": None}).budget is None


@pytest.mark.parametrize(("values", "message"), [
    ({"iters": "5"}, "gan.yaml: iters: expected int, found '5' (str)"),
    ({"iters": 1.5}, "gan.yaml: iters: expected int, found 1.5 (float)"),
    ({"iters": True}, "gan.yaml: iters: expected int, found True (bool)"),
    ({"iters": 1, "lr": "fast"}, "gan.yaml: lr: expected float, found 'fast' (str)"),
    ({"iters": 1, "conditional": "yes"}, "gan.yaml: conditional: expected bool, found 'yes' (str)"),
    ({"iters": 1, "name": 3}, "gan.yaml: name: expected str, found 3 (int)"),
    ({"iters": 1, "classes": "upper"}, "gan.yaml: classes: expected tuple[str, ...], found 'upper' (str)"),
    ({"iters": 1, "classes": ["upper", 2]}, "gan.yaml: classes[1]: expected str, found 2 (int)"),
    ({"iters": 1, "budget": "soon"}, "gan.yaml: budget: expected float | None, found 'soon' (str)"),
    ({"iters": 1, "inner": {"size": "big"}}, "gan.yaml: inner.size: expected int, found 'big' (str)"),
    ({"iters": 1, "inner": 3}, "gan.yaml: inner: expected a mapping of key: value, found 3 (int)"),
    ({"iters": 1, "itres": 2}, "gan.yaml: unknown key itres; known keys: budget, classes, conditional,"),
    ({"lr": 0.1}, "gan.yaml: missing key iters (int)"),
])
def test_validate_names_file_key_type_and_value(values: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        configio.validate(Example, values, source="gan.yaml")
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


def test_overrides_are_read_as_yaml_and_merged() -> None:
    update = configio.parse_overrides(["solver.base_lr=0.01", "solver.steps=[5, 8]", "train.max_minutes=null",
                                       "name=x"])
    assert update == {"solver": {"base_lr": 0.01, "steps": [5, 8]}, "train": {"max_minutes": None}, "name": "x"}
    assert configio.merge({"solver": {"base_lr": 1, "gamma": 2}}, update)["solver"] == {
        "base_lr": 0.01, "gamma": 2, "steps": [5, 8]}
    for bad in ("solver.base_lr", "=3", "solver..x=1", "a.b=[1"):
        with pytest.raises(ConfigError, match="command line"):
            configio.parse_overrides([bad])


def test_detector_yaml_values_are_type_checked_at_load(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("name: mine\nsolver:\n  base_lr: 1e-3\n  momentum: high\n")
    with pytest.raises(ConfigError, match=r"mine\.yaml: solver\.momentum: expected float, found 'high' \(str\)$"):
        D.load_config(path)
    path.write_text("name: mine\nsolver:\n  base_lr: 1e-3   # PyYAML: a string\n  steps: [10, 20.5]\n")
    with pytest.raises(ConfigError, match=r"solver\.steps\[1\]: expected int, found 20\.5"):
        D.load_config(path)
    path.write_text("name: mine\nsolver:\n  base_lr: 1e-3\n")
    assert D.load_config(path).solver.base_lr == 0.001  # accepted deliberately (YAML 1.1 reads it as a string)
    path.write_text("name: mine\nsolver:\n  base_lr: [0.1\n")
    with pytest.raises(ConfigError, match=r"mine\.yaml: line \d+: not valid YAML"):
        D.load_config(path)
    path.write_text("- a list\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        D.load_config(path)


def test_detector_overrides_apply_and_are_checked() -> None:
    cfg = D.load_config("faster_rcnn_sample", ["solver.base_lr=0.01", "train.num_workers=0", "model.widths=[8, 16, 32, 64]"])
    assert cfg.solver.base_lr == 0.01 and cfg.model.widths == [8, 16, 32, 64]
    assert cfg.solver.max_iter == D.sample_config().solver.max_iter  # everything else as in the file
    with pytest.raises(ConfigError, match=r"^override: solver\.base_lr: expected float, found 'abc' \(str\)$"):
        D.load_config("faster_rcnn_sample", ["solver.base_lr=abc"])
    with pytest.raises(ConfigError, match="unknown key solver.lr"):
        D.load_config("faster_rcnn_sample", ["solver.lr=0.1"])
    with pytest.raises(ConfigError, match="anchor_sizes has 2 sizes"):  # the range checks run on overrides too
        D.load_config("faster_rcnn_sample", ["model.anchor_sizes=[32, 64]"])


def test_keep_freed_memory_is_opt_in() -> None:
    assert D.TrainConfig().keep_freed_memory is False
    assert D.study_config().train.keep_freed_memory is False
    assert D.sample_config().train.keep_freed_memory is False


def test_train_detector_command_takes_overrides_and_the_memory_flag(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import fashionlib.detection as det

    seen = []

    def fake_train(cfg: D.DetectorConfig, **kwargs: object) -> TrainResult:
        seen.append(cfg)
        return TrainResult(run_dir=Path(kwargs["out_dir"]), status="finished", iteration=0, elapsed_s=0.0)

    monkeypatch.setattr(det, "train", fake_train)
    common = ["train-detector", "--config", "faster_rcnn_sample", "--coco", str(tmp_path), "--images", str(tmp_path),
              "--out", str(tmp_path / "run")]
    assert main([*common, "solver.base_lr=0.01", "--keep-freed-memory"]) == 0
    assert main(common) == 0
    assert seen[0].solver.base_lr == 0.01 and seen[0].train.keep_freed_memory is True
    assert seen[1].solver.base_lr == D.sample_config().solver.base_lr and seen[1].train.keep_freed_memory is False
    capsys.readouterr()
    assert main([*common, "solver.base_lr=abc"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "fashionlib train-detector: error: override: solver.base_lr: expected float, found 'abc' (str)"
    assert len(seen) == 2  # nothing trained


def test_profile_settings_are_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fashionlib.config import Profile, ProfileError, get_profile

    monkeypatch.setenv("FASHIONLIB_FAST", "ture")
    with pytest.raises(ProfileError, match="FASHIONLIB_FAST: expected 1 or 0 .*found 'ture'"):
        get_profile("sample", home=tmp_path)
    monkeypatch.setenv("FASHIONLIB_FAST", "off")
    assert get_profile("sample", home=tmp_path).fast is False
    prof = Profile(name="sample", data_root=str(tmp_path), run_dir=str(tmp_path / "r"), fast=True, device="cpu")
    assert prof.coco_dir == tmp_path / "r" / "coco"
    with pytest.raises(ConfigError, match=r"profile: seed: expected int, found '0' \(str\)"):
        Profile(name="sample", data_root=tmp_path, run_dir=tmp_path, fast=True, device="cpu", seed="0")  # type: ignore[arg-type]
