"""What users see stays byte-identical: generated modules, CLI outputs and a corpus of random
programs against the goldens recorded by tools/record_goldens.py (which says how to re-record
them when a change is meant to alter what users see)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.goldens import cli_commands, cli_outputs, corpus_digests, module_outputs

GOLDEN = Path(__file__).resolve().parent / "golden"


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
