"""Reading the ``FROM`` lines of a Dockerfile the way Docker does: parser directives, line
continuations, global ``ARG`` defaults (overridden by build args) substituted, ``--platform=``
flags skipped; which images it needs from outside (not ``scratch``, not an earlier stage)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class FromLine:
    image: str  # after substitution, as written (no implicit :latest)
    stage: str | None  # the `AS name`, lower-cased as Docker does
    line: int  # 1-based line of the FROM instruction


_VARIABLE = re.compile(r"\\\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([-+])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")
_DIRECTIVE = re.compile(r"#\s*([A-Za-z]+)\s*=\s*(\S+)\s*$")


def substitute(text: str, variables: Mapping[str, str]) -> str:
    """Docker's ``$X``, ``${X}``, ``${X:-default}``, ``${X:+alternative}``; unset is empty."""

    def value(match: re.Match[str]) -> str:
        if match.group(0) == "\\$":
            return "$"
        name = match.group(1) or match.group(4)
        current = variables.get(name, "")
        if match.group(2) == "-":
            return current or substitute(match.group(3), variables)
        if match.group(2) == "+":
            return substitute(match.group(3), variables) if current else ""
        return current

    return _VARIABLE.sub(value, text)


def _instructions(text: str) -> Iterable[tuple[int, str]]:
    """(line number, instruction) with continuations joined and comments dropped."""
    lines = text.splitlines()
    escape = parser_directives(text).get("escape", "\\")
    if escape not in ("\\", "`"):
        escape = "\\"
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(lines, 1):
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and pending):
            continue  # comments and blank lines may sit inside a continuation
        if not pending:
            start = number
        if stripped.endswith(escape):
            pending.append(stripped[:-1])
            continue
        pending.append(stripped)
        joined = " ".join(part for part in pending if part).strip()
        pending = []
        if joined:
            yield start, joined
    if pending:
        yield start, " ".join(pending).strip()


def parse_from_lines(text: str, build_args: Mapping[str, str] | None = None) -> list[FromLine]:
    """Every FROM of a Dockerfile, with global ARG defaults (overridden by ``build_args``) substituted."""
    overrides = dict(build_args or {})
    global_args: dict[str, str] = {}
    found: list[FromLine] = []
    for number, instruction in _instructions(text):
        keyword, _, rest = instruction.partition(" ")
        keyword = keyword.upper()
        if keyword == "ARG" and not found:
            for declaration in rest.split():
                name, has_default, default = declaration.partition("=")
                if name in overrides:
                    global_args[name] = overrides[name]
                elif has_default:
                    global_args[name] = substitute(default.strip("\"'"), global_args)
                else:
                    global_args.setdefault(name, "")
        elif keyword == "FROM":
            words = [word for word in rest.split() if not word.startswith("--")]
            if not words:
                raise ValueError(f"line {number}: FROM without an image")
            stage = None
            if len(words) >= 3 and words[1].upper() == "AS":
                stage = words[2].lower()
            elif len(words) != 1:
                raise ValueError(f"line {number}: cannot read {instruction!r}")
            image = substitute(words[0], global_args)
            if not image:
                raise ValueError(f"line {number}: FROM {words[0]} is empty (no value for its ARG)")
            found.append(FromLine(image=image, stage=stage, line=number))
    return found


def parser_directives(text: str) -> dict[str, str]:
    """The parser directives at the top of a Dockerfile (``# escape=``` ``, ``# syntax=...``), by
    lower-case name; they end at the first line that is not one."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        directive = _DIRECTIVE.match(line.strip())
        if directive is None:
            break
        found.setdefault(directive.group(1).lower(), directive.group(2))
    return found


def syntax_frontend(text: str) -> str | None:
    """The image a ``# syntax=`` parser directive names (a BuildKit frontend), if the file has one."""
    return parser_directives(text).get("syntax")


def normalise(image: str) -> str:
    """The name Docker stores: an image without tag or digest gets ``:latest``."""
    if "@" in image:
        return image
    last = image.rsplit("/", 1)[-1]
    return image if ":" in last else f"{image}:latest"


def external_images(text: str, build_args: Mapping[str, str] | None = None) -> list[str]:
    """The images a Dockerfile needs from outside: not ``scratch``, not an earlier stage; in order."""
    stages: set[str] = set()
    names: list[str] = []
    for entry in parse_from_lines(text, build_args):
        if entry.image.lower() not in stages and entry.image.lower() != "scratch":
            name = normalise(entry.image)
            if name not in names:
                names.append(name)
        if entry.stage:
            stages.add(entry.stage)
    return names
