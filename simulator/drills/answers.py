"""Answers files: a scripted drill run in YAML, checked against `simulator/answers.schema.json`
with errors that name the file, line and path, and written back out for `--solution`."""
from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import jsonschema
import yaml

from plugin.matrix.yamlsrc import YamlSyntaxError, load_yaml, path_text

from ..scenarios import Scenario, ScenarioError, parse_offset
from .actions import DRAFT_ACTIONS, Action, Team
from .scoring import _action_json

SCHEMA_FILE = Path(__file__).parent.parent / "answers.schema.json"


@cache
def schema() -> dict:
    return json.loads(SCHEMA_FILE.read_text())


def load_answers(path: str | Path) -> tuple[Team, list[Action]]:
    """Read and validate an answers file; raise ScenarioError listing every problem."""
    path = Path(path)
    try:
        doc = load_yaml(str(path), path.read_text(encoding="utf-8"))
    except YamlSyntaxError as exc:
        raise ScenarioError([f"{path}:{exc.line or '?'}: {exc.message}"]) from None
    except OSError as exc:
        raise ScenarioError([f"{path}: cannot read it ({exc.strerror})"]) from None
    errors = sorted(jsonschema.Draft202012Validator(schema()).iter_errors(doc.data),
                    key=lambda e: doc.line(tuple(e.absolute_path)) or 0)
    if errors:
        raise ScenarioError([f"{path}:{doc.line(tuple(e.absolute_path)) or '?'}: "
                             f"{path_text(tuple(e.absolute_path)) or '(top)'}: {e.message}" for e in errors])
    return Team(dict(doc.data.get("trainees") or {})), [action_of(raw) for raw in doc.data["actions"]]


def action_of(raw: dict) -> Action:
    values = {k: (str(v) if k == "ticket" else v) for k, v in raw.items() if k != "at"}
    return Action(at=parse_offset(raw["at"]), ticket=values.pop("ticket", ""), **values)


def answers_yaml(scenario: Scenario, actions: list[Action], team: Team, heading: str) -> str:
    """An answers file that replays `actions`; `heading` becomes its comment."""
    data = {"scenario": scenario.path.name, "trainees": team.roles or {team.default: "solo"},
            "actions": [_plain(action, scenario, team) for action in actions]}
    comment = "".join(f"# {line}\n" for line in heading.splitlines())
    return comment + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=120)


def _plain(action: Action, scenario: Scenario, team: Team) -> dict:
    data = _action_json(action)
    if data.get("ticket") == scenario.main:
        del data["ticket"]
    if team.solo:
        data.pop("by", None)
    if action.do in DRAFT_ACTIONS:      # the draft's own: filled in again when the file is played
        data.pop("channel", None)
        data.pop("template", None)
    return data
