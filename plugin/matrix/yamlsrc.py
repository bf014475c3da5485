"""YAML documents that remember the line of every value, so errors can point at it."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import yaml


@dataclass
class YamlDoc:
    file: str
    data: object
    lines: dict[tuple, int] = field(default_factory=dict)

    def line(self, path: tuple) -> int | None:
        """The line of `path`, or of its nearest ancestor that has one."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get(())


def path_text(path: tuple) -> str:
    """A YAML path as admins read it: `triggers[2].when.field`."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class _Loader(yaml.SafeLoader):
    """YAML 1.2 booleans: only true/false. Otherwise `on:` (a communication key) and a Norway
    region code `NO` would silently become booleans."""


class _FastLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """The same, on libyaml's parser when the wheel has it; errors are re-read with _Loader,
    whose messages are clearer."""


for _loader in (_Loader, _FastLoader):
    _loader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    _loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                                  list("tTfF"))


class YamlSyntaxError(Exception):
    def __init__(self, file: str, line: int | None, message: str):
        self.file, self.line, self.message = file, line, message
        super().__init__(message)


def load_yaml(file: str, text: str) -> YamlDoc:
    """Parse one YAML document; raise YamlSyntaxError with the line of the mistake."""
    try:
        node = yaml.compose(text, Loader=_FastLoader)
        data = yaml.load(text, Loader=_FastLoader)
    except yaml.YAMLError:
        node, data = _parse_slowly(file, text)
    doc = YamlDoc(file, data)
    if node is not None:
        _index(node, (), doc.lines)
    return doc


def _parse_slowly(file: str, text: str):
    try:
        return yaml.compose(text, Loader=_Loader), yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = str(exc.problem or exc)
        if exc.context and exc.context_mark and exc.problem_mark and exc.context_mark.line != exc.problem_mark.line:
            # An unclosed { or [ is noticed lines later; the opening line is where to look.
            mark = exc.context_mark
            message = f"{exc.context} started here: {message} on line {exc.problem_mark.line + 1}"
        raise YamlSyntaxError(file, mark.line + 1 if mark else None, message) from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(file, None, str(exc)) from None


def duplicate_keys(text: str) -> list[tuple[tuple, int]]:
    """(path, line) of every key repeated in its mapping; YAML would silently keep the last one."""
    node = yaml.compose(text, Loader=_FastLoader)
    found: list[tuple[tuple, int]] = []
    if node is not None:
        _find_duplicates(node, (), found)
    return found


def _find_duplicates(node: yaml.Node, path: tuple, found: list) -> None:
    if isinstance(node, yaml.MappingNode):
        seen = set()
        for key_node, value_node in node.value:
            if key_node.value in seen:
                found.append((path + (key_node.value,), key_node.start_mark.line + 1))
            seen.add(key_node.value)
            _find_duplicates(value_node, path + (key_node.value,), found)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _find_duplicates(item, path + (index,), found)


def _index(node: yaml.Node, path: tuple, lines: dict) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            child = path + (key_node.value,)
            _index(value_node, child, lines)
            lines[child] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _index(item, path + (index,), lines)
