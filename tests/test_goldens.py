"""What users see stays byte-identical: generated modules, CLI outputs and a corpus of random
programs against the goldens recorded by tools/record_goldens.py (which says how to re-record
them when a change is meant to alter what users see)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

import ad_compiler
from tests.goldens import (
    cli_commands,
    cli_outputs,
    corpus_digests,
    load_numpy_scalars,
    module_outputs,
    numpy_scalars,
)

GOLDEN = Path(__file__).resolve().parent / "golden"


@pytest.fixture(autouse=True)
def recorded_numpy():
    """numpy's functions give, for the scalars the goldens met, the values they gave when the
    goldens were recorded: the comparison holds whatever SIMD kernels this CPU gives numpy."""
    with numpy_scalars(load_numpy_scalars()) as table:
        yield table


def test_recorded_numpy_values_reach_adcs_constant_folding(recorded_numpy) -> None:
    """The replay can fail: a recorded value is the one adc folds, and corpus program 883 (which
    folds numpy's exp of a constant: an ulp apart from glibc's exp with AVX-512) depends on it."""
    text = "from numpy import exp\n\n\ndef f(x):\n    return x * exp(0.5)\n"
    with numpy_scalars({"exp": {(0.5).hex(): (2.0).hex()}}):
        assert ad_compiler.compile_source(text, "t.py").f(3.0) == 6.0
    entry = CORPUS[883]
    golden = {"all": entry["all"], "none": entry["none"]}
    assert "from numpy import exp" in entry["source"] and corpus_digests(entry["source"]) == golden
    ulp_up = {
        arg: math.nextafter(float.fromhex(value), math.inf).hex()
        for arg, value in recorded_numpy["exp"].items()
    }
    with numpy_scalars({"exp": ulp_up}):
        assert corpus_digests(entry["source"]) != golden


def _golden(folder: str) -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted((GOLDEN / folder).iterdir())}


def test_generated_modules_are_byte_identical() -> None:
    expected = _golden("modules")
    actual = module_outputs()
    assert sorted(actual) == sorted(expected)
    changed = [name for name in expected if actual[name] != expected[name]]
    assert not changed, f"generated modules changed: {changed}"


def test_cli_outputs_are_byte_identical() -> None:
    expected = _golden("cli")
    assert sorted(cli_commands()) == sorted(expected)
    actual = cli_outputs()
    changed = [name for name in expected if actual[name] != expected[name]]
    assert not changed, f"CLI outputs changed: {changed}"


def test_the_cli_goldens_show_no_internal_error() -> None:
    for name, text in _golden("cli").items():
        assert "internal error" not in text and "Traceback" not in text, name


CORPUS = json.loads((GOLDEN / "corpus.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("start", range(0, len(CORPUS), 100))
def test_the_random_corpus_compiles_byte_identically(start: int) -> None:
    changed = []
    for k, entry in enumerate(CORPUS[start : start + 100], start):
        digests = corpus_digests(entry["source"])
        if digests != {"all": entry["all"], "none": entry["none"]}:
            changed.append(k)
    assert not changed, f"corpus programs compile differently: {changed}"


def test_the_corpus_holds_a_thousand_distinct_programs_most_of_which_compile() -> None:
    sources = [entry["source"] for entry in CORPUS]
    assert len(set(sources)) == len(sources) == 1000
    compiled = sum(entry["all"] != entry["none"] for entry in CORPUS)
    assert compiled > 500
