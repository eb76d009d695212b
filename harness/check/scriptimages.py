"""Which images a shell script (their ``validar-echo-server.sh``) starts with ``docker run`` or
``docker create``, read from its text, so that they can be made present (offline stand-ins) before
it runs. A reading, not a shell: an image named through a variable is not known before it runs.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

# `docker run` options that take no value; any other option without `=` takes the next argument.
_RUN_FLAGS = frozenset(
    {
        "--rm",
        "--detach",
        "--interactive",
        "--tty",
        "--init",
        "--privileged",
        "--read-only",
        "--publish-all",
        "--no-healthcheck",
        "--oom-kill-disable",
        "--quiet",
        "--help",
        "--disable-content-trust",
        "--sig-proxy",
    }
)
_SHORT_RUN_FLAGS = re.compile(r"-[dtiPq]+")
_COMMAND_SEPARATORS = re.compile(r"\$\(|`|&&|\|\||[;|()]")
_SUBSTITUTIONS = re.compile(r"\$\(([^()]*)\)|`([^`]*)`")


def images_run_by(script: str) -> list[str]:
    """The images the ``docker run`` / ``docker create`` lines of a shell script name, in order; an
    image given through a variable or a command substitution is not known before it runs."""
    found: list[str] = []
    lines = script.replace("\\\n", " ").splitlines()
    # a command substitution inside quotes (`R="$(docker run ...)"`) is a command of its own
    substituted = [inner for line in lines for inner in _SUBSTITUTIONS.findall(line)]
    for line in lines + [part for inner in substituted for part in inner if part]:
        # `R=$(docker run ...)`, `a && docker run ...`: every command of the line starts a word
        line = _COMMAND_SEPARATORS.sub(" ", line)
        try:
            words = shlex.split(line, comments=True)
        except ValueError:  # an unbalanced quote: a line this reading cannot follow
            continue
        for index, word in enumerate(words):
            if Path(word).name != "docker":
                continue
            rest = words[index + 1 :]
            if rest[:1] == ["container"]:
                rest = rest[1:]
            if rest[:1] not in (["run"], ["create"]):
                continue
            position = 1
            while position < len(rest) and rest[position].startswith("-"):
                option = rest[position]
                takes_value = "=" not in option and option not in _RUN_FLAGS
                takes_value = takes_value and not _SHORT_RUN_FLAGS.fullmatch(option)
                position += 2 if takes_value else 1
            if position == len(rest):
                continue
            image = rest[position]
            if not any(mark in image for mark in "$`") and image not in found:
                found.append(image)
    return found
