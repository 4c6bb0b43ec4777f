"""The catalogue of result files names real rules and real schemas, and builds every
per-model path from the model keys."""

import re

import pytest
from conftest import REPO

from hcxai.core.catalogue import MODEL, RESULTS, columns, writer
from hcxai.core.keys import MODEL_KEYS


def rule_names() -> set[str]:
    text = "\n".join(p.read_text() for p in (REPO / "workflow/rules").glob("*.smk"))
    return set(re.findall(r"^\s*rule (\w+):", text, re.M)) | set(
        re.findall(r"^use rule \w+ as (\w+)", text, re.M)
    )


def test_every_file_is_written_by_a_rule_of_the_workflow():
    rules = rule_names()
    assert {writer(name) for name in RESULTS} <= rules, {writer(n) for n in RESULTS} - rules


@pytest.mark.parametrize("name", [n for n, entry in RESULTS.items() if entry.columns])
def test_every_declared_schema_resolves_to_column_names(name):
    names = columns(name)
    assert names and all(isinstance(c, str) for c in names)


def test_per_model_paths_carry_every_model_key_in_order():
    assert "/".join(f"{{{key}}}" for key in MODEL_KEYS) == MODEL
    per_model = [entry.path for entry in RESULTS.values() if "{backbone}" in entry.path]
    assert len(per_model) > 10
    assert all(MODEL in path for path in per_model)


def test_the_rules_spell_no_result_path_out():
    """Paths come from the catalogue (`result(...)`), not string literals, so each is
    written once; logs and benchmarks are the rules' own records."""
    for path in (REPO / "workflow/rules").glob("*.smk"):
        literals = re.findall(r'"(results/[^"]*)"', path.read_text())
        assert all(p.startswith("results/benchmarks/") for p in literals), (path.name, literals)
