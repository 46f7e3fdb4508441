"""``opengap schema [--out FILE]``: the JSON Schema of scenario files."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "write the JSON Schema of scenario files (for editors and validators)"
DESCRIPTION = ("Write the JSON Schema of scenario TOML files: every table and field with its "
               "type, bounds and a description ending in its unit. Editors validate TOML with "
               "it (e.g. taplo / Even Better TOML: '#:schema ./scenario.schema.json' on the "
               "first line). A file that extends another may omit what it inherits: the "
               "schema describes a resolved scenario plus extends, include and "
               "inherit_events.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=None, metavar="FILE",
                        help="write here (default: print to stdout)")


def scenario_json_schema() -> dict:
    """The JSON Schema of a scenario file: the pydantic schema of
    :class:`sim.inputs.scenario.Scenario` plus the file-level keys ``extends``, ``include``
    and ``inherit_events``; a file may leave out what it inherits, so nothing is required."""
    from sim.inputs.scenario import Scenario

    schema = Scenario.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "opengap scenario"
    schema["description"] = ("An opengap scenario file (TOML). Values are validated with "
                             "these bounds when the scenario is loaded.")
    props = schema["properties"]
    props["extends"] = {"type": "string", "description": "scenario this one inherits from: a "
                        "file next to this one or a shipped scenario's name (baseline) [name]"}
    props["include"] = {"type": "array", "items": {"type": "string"},
                        "description": "parameter fragments merged under this file's values, "
                        "paths relative to this file [paths]"}
    props["inherit_events"] = {"type": "boolean", "description": "false: keep the parent's "
                               "parameters but not its events [flag]"}
    # A file that extends another may leave out what it inherits.
    schema.pop("required", None)
    for definition in schema.get("$defs", {}).values():
        if "properties" in definition and definition.get("title") in (
                "Time", "Population", "Capability", "Compute", "Funding", "Market", "Policy"):
            definition.pop("required", None)
    return schema


def run(args: argparse.Namespace) -> int:
    import json

    from sim.files import write_text_atomic

    text = json.dumps(scenario_json_schema(), indent=2) + "\n"
    if args.out is None:
        print(text, end="")
    else:
        write_text_atomic(args.out, text)
        print(f"wrote the scenario JSON Schema to {args.out}")
    return 0
