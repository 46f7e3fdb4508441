"""``opengap outcomes``, ``opengap schema`` and ``opengap completion`` (issue 19)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from sim.cli.main import main
from sim.inputs.packaged import scenarios_dir
from sim.measures import registry


def test_outcomes_lists_every_measure_with_its_unit(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["outcomes"]) == 0
    out = capsys.readouterr().out
    for m in registry.unique():
        line = next(x for x in out.splitlines() if x.split(" ")[0].split("[")[0] == m.name)
        assert f"[{m.unit}]" in line
    assert main(["outcomes", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["name"] for r in rows} == set(registry.names())


def _properties(schema: dict) -> list[tuple[str, dict]]:
    found = [(f"<root>.{k}", v) for k, v in schema["properties"].items()]
    for name, definition in schema.get("$defs", {}).items():
        found += [(f"{name}.{k}", v) for k, v in definition.get("properties", {}).items()]
    return found


def test_schema_describes_every_field_and_validates_shipped_scenarios(tmp_path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    out = tmp_path / "scenario.schema.json"
    assert main(["schema", "--out", str(out)]) == 0
    schema = json.loads(out.read_text())
    missing = [name for name, prop in _properties(schema)
               if name.split(".")[-1] != "kind" and not prop.get("description")]
    assert not missing, missing
    assert len(_properties(schema)) > 100
    validator = jsonschema.Draft202012Validator(schema)
    for path in sorted(scenarios_dir().glob("*.toml")):
        data = tomllib.loads(path.read_text())
        errors = [e.message for e in validator.iter_errors(data)]
        assert not errors, (path.name, errors[:3])
    bad = {"extends": "baseline", "name": "x", "funding": {"raise_base_probability": "high"}}
    assert list(validator.iter_errors(bad))
    assert list(validator.iter_errors({"capability": {"no_such_field": 1}}))


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_completion_covers_commands_and_options(shell: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("shtab")
    assert main(["completion", shell]) == 0
    script = capsys.readouterr().out
    for word in ("sweep", "discover", "outcomes", "--seeds", "--workers"):
        assert word in script
