"""The analyzer registry is the one list: the schema and the README agree with it."""

import re

import pytest
import yaml
from conftest import REPO

from hcxai.core.io import InputError
from hcxai.explain.analyzers import ANALYZERS, PAPER_ORDER, resolve

SCHEMA = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())


def test_schema_enums_list_the_registry_in_paper_order():
    assert SCHEMA["properties"]["analyzers"]["items"]["enum"] == PAPER_ORDER
    assert SCHEMA["properties"]["analyzer_params"]["propertyNames"]["enum"] == PAPER_ORDER


def readme_analyzer_rows() -> dict[str, list[str]]:
    """The README's analyzer table: config name -> its cells."""
    rows = {}
    for line in (REPO / "README.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        match = re.fullmatch(r"`(\w+)`", cells[0]) if line.strip().startswith("| `") else None
        if match and match.group(1) in ANALYZERS:
            rows[match.group(1)] = cells
    return rows


def test_readme_table_has_every_analyzer_with_its_method_and_defaults():
    rows = readme_analyzer_rows()
    assert list(rows) == PAPER_ORDER
    for name, cells in rows.items():
        analyzer = ANALYZERS[name]
        assert f"`{analyzer.method}`" in cells[2], name
        for key, value in analyzer.defaults.items():
            assert f"{key}: {yaml.safe_dump(value).splitlines()[0]}" in cells[3], (name, key)


def test_defaults_and_overrides_merge():
    spec = resolve("smoothgrad", {"augment_by_n": 8})
    assert spec.params == {"noise_scale": 0.1, "augment_by_n": 8, "postprocess": "square"}
    assert resolve("lrp", {"variant": "lrp.epsilon", "epsilon": 0.1}).method == "lrp.epsilon"


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("occlusion", {}, "'occlusion' is unknown"),
        ("smoothgrad", {"sigma": 0.2}, "unknown parameter(s) ['sigma']"),
        ("smoothgrad", {"noise_scale": -1}, "noise_scale must be a number >= 0"),
        ("gradient", {"postprocess": "cube"}, "postprocess must be one of"),
        ("lrp", {"variant": "lrp.nonsense"}, "must be one of the iNNvestigate LRP rules"),
        ("lrp", {"canonize": "yes"}, "canonize must be true"),
        ("deep_taylor", {"canonize": 1}, "canonize must be true"),
        ("integrated_gradients", {"steps": 0}, "positive integer"),
        ("integrated_gradients", {"steps": True}, "positive integer"),
        ("integrated_gradients", {"reference": "white"}, "'black'"),
    ],
)
def test_bad_analyzer_settings_fail_before_work(name, params, message):
    with pytest.raises(InputError) as error:
        resolve(name, params)
    assert message in str(error.value)
