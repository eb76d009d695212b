"""The system under test: a repository in the course's layout, read but never modified.

Each check works in a scratch copy of the tree it checks: ``--sut-ref`` when given, else the
exercise's branch (``ej1`` ... ``ej8``: the local branch, else a remote-tracking one such as
``origin/ej5``, which is all a fresh ``git clone`` has), else the checked-out tree (uncommitted
changes included). A branch or ref is taken with ``git archive`` (nothing is written into the
repository, not even a worktree entry); the checked-out tree is copied. The scratch copy is removed
when its ``with`` block ends.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from harness.images import REPO_ROOT

EXERCISES = tuple(f"ej{number}" for number in range(1, 9))
DATA_DIRECTORY = ".data"
GIT_TIMEOUT = 60
# Left out of a copy of the checked-out tree: version control, environments, caches, outputs.
_NOT_COPIED = (
    ".git",
    ".venv",
    "venv",
    "build",
    "__pycache__",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    ".hypothesis",
    "*.egg-info",
    DATA_DIRECTORY,
)


class SutError(RuntimeError):
    """The repository cannot be read as a system under test (no such path, ref...)."""


def _git(root: Path, *arguments: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", "-C", str(root), *arguments], capture_output=True, check=False, timeout=GIT_TIMEOUT)


@dataclass(frozen=True)
class Source:
    """Where one exercise's tree comes from: a git ref, or the checked-out tree (``ref`` None)."""

    ref: str | None

    def describe(self) -> str:
        if self.ref is None:
            return "the checked-out tree"
        return f"ref {self.ref.removeprefix('refs/heads/').removeprefix('refs/remotes/')}"


@dataclass(frozen=True)
class Sut:
    """A repository in the course layout; ``Sut()`` is this repository (its checked-out tree)."""

    root: Path = REPO_ROOT
    ref: str | None = None
    _branches: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def at(cls, path: Path | str, ref: str | None = None) -> Sut:
        root = Path(path).expanduser().resolve()
        if not root.is_dir():
            raise SutError(f"--sut {path}: no such directory")
        toplevel = _git(root, "rev-parse", "--show-toplevel")
        # A folder inside another repository (a fixture) is a plain tree: its refs are not its own.
        is_git = toplevel.returncode == 0 and Path(toplevel.stdout.decode().strip()).resolve() == root
        if ref is not None:
            if not is_git:
                raise SutError(f"--sut-ref {ref}: {root} is not a git repository")
            if _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{tree}}").returncode != 0:
                raise SutError(f"--sut-ref {ref}: no such ref in {root}")
        return cls(root=root, ref=ref, _branches=exercise_branches(root) if is_git else {})

    @property
    def name(self) -> str:
        return self.root.name

    def source(self, exercise: str) -> Source:
        """``ref`` when given, else the exercise's branch if the repository has one, else the
        checked-out tree."""
        if self.ref is not None:
            return Source(self.ref)
        return Source(self._branches.get(exercise))

    @contextlib.contextmanager
    def scratch(self, exercise: str, parent: Path | None = None) -> Iterator[Path]:
        """A throwaway copy of the exercise's tree with an empty ``.data/``; removed afterwards."""
        directory = Path(tempfile.mkdtemp(prefix=f"tp0-{exercise}-", dir=parent))
        tree = directory / "tree"
        try:
            source = self.source(exercise)
            if source.ref is None:
                copy_tree(self.root, tree)
            else:
                self._extract(source.ref, tree)
            _empty_data_directory(tree / DATA_DIRECTORY)
            yield tree
        finally:
            shutil.rmtree(directory, ignore_errors=True)

    def _extract(self, ref: str, tree: Path) -> None:
        archived = _git(self.root, "archive", "--format=tar", ref)
        if archived.returncode != 0:
            raise SutError(f"git archive {ref} failed: {archived.stderr.decode(errors='replace').strip()}")
        tree.mkdir(parents=True)
        with tarfile.open(fileobj=io.BytesIO(archived.stdout)) as archive:
            archive.extractall(tree, filter="tar")


def exercise_branches(root: Path) -> dict[str, str]:
    """Each exercise's branch in ``root`` as a full ref name (a tag ``ej5`` is not the branch): the
    local ``refs/heads/ejN``, else a remote-tracking ``refs/remotes/REMOTE/ejN`` (``origin`` before
    the others, then by name)."""
    listed = _git(root, "for-each-ref", "--format=%(refname)", "refs/heads", "refs/remotes")
    if listed.returncode != 0:
        raise SutError(f"git for-each-ref failed in {root}: {listed.stderr.decode(errors='replace').strip()}")
    branches: dict[str, str] = {}
    remotes_of: dict[str, list[str]] = {}
    for refname in listed.stdout.decode(errors="replace").split():
        if refname.startswith("refs/heads/") and refname.removeprefix("refs/heads/") in EXERCISES:
            branches[refname.removeprefix("refs/heads/")] = refname
        elif refname.startswith("refs/remotes/"):
            remote, _, name = refname.removeprefix("refs/remotes/").partition("/")
            if name in EXERCISES:
                remotes_of.setdefault(name, []).append(remote)
    for exercise, remotes in remotes_of.items():
        remote = min(remotes, key=lambda name: (name != "origin", name))
        branches.setdefault(exercise, f"refs/remotes/{remote}/{exercise}")
    return dict(sorted(branches.items()))


def copy_tree(source: Path, target: Path) -> Path:
    """A copy of a checked-out tree without version control, environments, caches nor ``.data/``."""
    shutil.copytree(source, target, symlinks=True, ignore=shutil.ignore_patterns(*_NOT_COPIED))
    return target


def _empty_data_directory(data: Path) -> None:
    """``.data/`` without agency files or a store: each check writes its own."""
    if data.is_dir():
        for entry in data.iterdir():
            if entry.name.startswith("agency-") or entry.is_dir():
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    data.mkdir(parents=True, exist_ok=True)


def tree_digest(tree: Path) -> str:
    """A hash of every file of ``tree`` but ``.data/`` (what an image built from it depends on)."""
    digest = hashlib.sha256()
    for path in sorted(tree.rglob("*")):
        relative = path.relative_to(tree)
        if relative.parts[0] == DATA_DIRECTORY or not (path.is_file() or path.is_symlink()):
            continue
        content = str(path.readlink()).encode() if path.is_symlink() else path.read_bytes()
        mode = b"x" if path.stat(follow_symlinks=False).st_mode & 0o111 else b"-"
        digest.update(relative.as_posix().encode() + b"\0" + mode + len(content).to_bytes(8, "big") + content)
    return digest.hexdigest()[:12]
