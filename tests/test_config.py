"""Profile resolution: one place decides sample vs full."""

from __future__ import annotations

from pathlib import Path

import pytest

from fashionlib.config import ProfileError, get_profile


def test_default_is_sample(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("DEEPFASHION_ROOT", "FASHIONLIB_PROFILE", "FASHIONLIB_RUNS"):
        monkeypatch.delenv(var, raising=False)
    prof = get_profile(home=tmp_path)
    assert prof.name == "sample"
    assert prof.data_root == (tmp_path / "data" / "sample" / "DeepFashion").resolve()
    assert prof.run_dir == (tmp_path / "runs" / "sample").resolve()
    assert prof.coco_dir == prof.run_dir / "coco"


def test_real_data_selects_full(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FASHIONLIB_PROFILE", raising=False)
    real = tmp_path / "elsewhere"
    (real / "Anno").mkdir(parents=True)
    monkeypatch.setenv("DEEPFASHION_ROOT", str(real))
    prof = get_profile(home=tmp_path)
    assert prof.name == "full" and prof.data_root == real.resolve()
    monkeypatch.delenv("DEEPFASHION_ROOT")
    (tmp_path / "data" / "DeepFashion" / "Anno").mkdir(parents=True)
    assert get_profile(home=tmp_path).name == "full"
    monkeypatch.setenv("FASHIONLIB_PROFILE", "sample")
    assert get_profile(home=tmp_path).name == "sample"


def test_full_without_data_and_unknown_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEEPFASHION_ROOT", raising=False)
    with pytest.raises(ProfileError, match="DEEPFASHION_ROOT"):
        get_profile("full", home=tmp_path)
    with pytest.raises(ProfileError, match="unknown profile"):
        get_profile("medium", home=tmp_path)


def test_fast_flag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FASHIONLIB_FAST", "1")
    assert get_profile("sample", home=tmp_path).fast
    monkeypatch.setenv("FASHIONLIB_FAST", "0")
    assert not get_profile("sample", home=tmp_path).fast
