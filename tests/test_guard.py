"""The CI speed guard's verdicts (benchmarks/guard.py), with the timing replaced by fixed ratios."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest

from .conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
guard = importlib.import_module("guard")


@pytest.fixture
def recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "guard.json"
    path.write_text(json.dumps({"W1": 1.0, "W4": 1.1}))
    monkeypatch.setattr(guard, "RECORD", path)
    return path


def test_guard_passes_within_25_percent_of_the_record(recorded, monkeypatch, capsys) -> None:
    monkeypatch.setattr(guard, "measure", lambda: {"W1": 1.24, "W4": 1.3})
    assert guard.main([]) == 0
    assert "W1 1.24 (recorded 1.00, limit 1.25)" in capsys.readouterr().out


def test_guard_fails_when_a_ratio_falls_behind(recorded, monkeypatch, capsys) -> None:
    monkeypatch.setattr(guard, "measure", lambda: {"W1": 1.0, "W4": 1.5})
    assert guard.main([]) == 1
    out = capsys.readouterr().out
    assert out.count("guard attempt") == guard.ATTEMPTS
    assert "W4 fell more than 25% behind" in out


def test_guard_takes_the_best_of_its_attempts(recorded, monkeypatch) -> None:
    runs = iter([{"W1": 2.0, "W4": 1.0}, {"W1": 1.1, "W4": 3.0}])
    monkeypatch.setattr(guard, "measure", lambda: next(runs))
    assert guard.main([]) == 0


def test_recorded_ratios_are_in_the_repository() -> None:
    data = json.loads((ROOT / "benchmarks" / "guard.json").read_text())
    assert set(data) == {"W1", "W4"} and all(v > 0 for v in data.values())
