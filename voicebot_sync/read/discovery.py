"""Discovery: which files below the given paths are definition files, and why others are not read.

Regular ``*.yaml``/``*.yml`` files (any letter case) below each directory are read;
hidden entries and editor leftovers are skipped and reported as notes; symlinks are
followed while they stay inside the given directory or the current directory's tree;
loops, FIFOs, devices and unreadable entries are problems, never exceptions, never opened.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Sequence

from ..errors import Problem
from ..text.escaping import visible
from ..text.escaping import clip as _clip
from .yamlfile import not_regular as _not_regular

SUFFIXES = (".yaml", ".yml")  # matched in any letter case
_SWAP_SUFFIXES = (".swp", ".swo", ".swx")


def _printable(name: str) -> str:
    """A file name as shown in a message: undecodable bytes as \\xNN, controls and bidi as \\uXXXX."""
    if name.isprintable():  # the fast, usual case
        return name
    try:
        name = name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeError:
        name = name.encode("ascii", "backslashreplace").decode("ascii")
    return visible(name)


def display_path(path: Path | str) -> str:
    """Relative to the current directory when under it: what a person would type (shown printable)."""
    try:
        relative = os.path.relpath(path)
    except (ValueError, OSError):  # another drive on Windows; the current directory is gone
        return _printable(str(path))
    outside = relative == os.pardir or relative.startswith(os.pardir + os.sep)
    return _printable(str(os.path.abspath(path)) if outside else relative)


def _inside(real: str, base: str | None) -> bool:
    """Whether the real path ``real`` is ``base`` or below it."""
    if base is None:
        return False
    return real == base or real.startswith(base.rstrip(os.sep) + os.sep)


def _reason(exc: BaseException) -> str:
    """One short sentence for an OS error (no traceback, no repr)."""
    if isinstance(exc, OSError) and exc.errno == errno.ELOOP:
        return "symlink loop: not followed"
    return visible(getattr(exc, "strerror", None) or exc)


def _is_definition_name(name: str) -> bool:
    return name.lower().endswith(SUFFIXES)


def _skip_reason(entry: os.DirEntry) -> str | None:
    """Why a directory entry is skipped by name alone (None: not skipped; "": skipped silently)."""
    name = entry.name
    lower = name.lower()
    looks = ".yaml" in lower or ".yml" in lower
    if (name.startswith(".#") or name.endswith("~") or lower.endswith(_SWAP_SUFFIXES)
            or (len(name) > 1 and name.startswith("#") and name.endswith("#"))):
        return "editor leftover" if looks else ""
    if name.startswith("."):
        try:
            if entry.is_dir(follow_symlinks=False):
                return "hidden directory"
        except OSError:
            pass
        return "hidden file" if looks else ""
    return None


class _Discovery:
    """The state of one ``discover`` run: every definition file found, problems, notes."""

    def __init__(self) -> None:
        self.candidates: list[tuple[bool, str, str, tuple[int, int]]] = []  # (via symlink, display, path, identity)
        self.problems: list[Problem] = []
        self.notes: list[str] = []
        self.seen_dirs: dict[tuple[int, int], str] = {}
        try:
            self.repo: str | None = os.path.realpath(os.getcwd())
        except OSError:
            self.repo = None

    def given(self, given: str) -> None:
        try:
            st = os.stat(given)
        except FileNotFoundError:
            self.problems.append(Problem(_printable(str(given)), 0, "no such file or directory"))
            return
        except (OSError, ValueError) as exc:
            self.problems.append(Problem(_printable(str(given)), 0, _reason(exc)))
            return
        display = display_path(given)
        if stat.S_ISDIR(st.st_mode):
            self.tree(given, display, st)
        elif stat.S_ISREG(st.st_mode):
            self.candidates.append((False, display, given, (st.st_dev, st.st_ino)))
        else:
            self.problems.append(Problem(display, 0, _not_regular(st.st_mode)))

    def tree(self, root: str, root_display: str, root_stat: os.stat_result) -> None:
        identity = (root_stat.st_dev, root_stat.st_ino)
        if identity in self.seen_dirs:
            if self.seen_dirs[identity] != root_display:
                self.notes.append(f"{root_display}: skipped (same directory as {self.seen_dirs[identity]})")
            return
        self.seen_dirs[identity] = root_display
        real_root = os.path.realpath(root)
        # (path, display, real path, device, identities of the directories above and itself)
        stack = [(root, root_display, real_root, root_stat.st_dev, frozenset([identity]))]
        # Directories reached through a symlink are walked last, so that a directory reached both
        # ways is read under its own path and the link is the one noted as skipped.
        linked: list[tuple] = []
        while stack or linked:
            if not stack:
                child = self.subdirectory(*linked.pop(0))
                if child is not None:
                    stack.append(child)
                continue
            dirpath, dir_display, real_dir, dev, ancestors = stack.pop()
            try:
                with os.scandir(dirpath) as listing:
                    entries = sorted(listing, key=lambda e: e.name)
            except OSError as exc:
                self.problems.append(Problem(dir_display, 0, f"cannot list directory: {_reason(exc)}"))
                continue
            for entry in entries:
                name = _printable(entry.name)
                display = name if dir_display == os.curdir else os.path.join(dir_display, name)
                try:
                    child = self.entry(entry, display, root_display, real_root, real_dir, dev, ancestors)
                except (OSError, ValueError) as exc:  # vanished, unreadable, ...: a problem, never an exception
                    self.problems.append(Problem(display, 0, _reason(exc)))
                    continue
                if child is None:
                    continue
                if child[0] == "link":
                    linked.append(child[1:])
                else:
                    child = self.subdirectory(*child)
                    if child is not None:
                        stack.append(child)

    def entry(self, entry: os.DirEntry, display: str, root_display: str, real_root: str, real_dir: str,
              dev: int, ancestors: frozenset):
        """Record one directory entry; a subdirectory to walk is returned (("link", ...) when reached by a symlink)."""
        skip = _skip_reason(entry)
        if skip is not None:
            if skip:
                self.notes.append(f"{display}: skipped ({skip})")
            return None
        is_yaml = _is_definition_name(entry.name)
        if entry.is_symlink():
            return self.link(entry, display, root_display, real_root, real_dir, ancestors, is_yaml)
        if entry.is_dir(follow_symlinks=False):
            st = entry.stat(follow_symlinks=False)
            if (st.st_dev, st.st_ino) in ancestors:  # a bind mount of a directory above
                self.problems.append(Problem(display, 0, "directory loop: not followed"))
                return None
            return entry.path, display, os.path.join(real_dir, entry.name), st, ancestors
        if not is_yaml:
            return None
        if entry.is_file(follow_symlinks=False):  # d_type: no system call for a regular file
            self.candidates.append((False, display, entry.path, (dev, entry.inode())))
            return None
        st = entry.stat(follow_symlinks=False)
        if stat.S_ISREG(st.st_mode):
            self.candidates.append((False, display, entry.path, (st.st_dev, st.st_ino)))
        else:
            self.problems.append(Problem(display, 0, _not_regular(st.st_mode)))
        return None


    def link(self, entry: os.DirEntry, display: str, root_display: str, real_root: str, real_dir: str,
             ancestors: frozenset, is_yaml: bool):
        """A symbolic link: followed inside the repository (a directory to walk is returned as ("link", ...)),
        reported when it is broken, a loop, or leaves the repository."""
        try:
            st = os.stat(entry.path)
        except FileNotFoundError:
            if is_yaml:
                self.problems.append(Problem(display, 0, f"broken symlink (to {_clip(os.readlink(entry.path), 80)})"))
            return None
        except OSError as exc:
            if exc.errno != errno.ELOOP:
                raise
            if is_yaml:
                self.problems.append(Problem(display, 0, "symlink loop: not followed"))
            else:
                self.notes.append(f"{display}: skipped (symlink loop)")
            return None
        if not stat.S_ISDIR(st.st_mode) and not is_yaml:
            return None
        real = os.path.realpath(entry.path)
        if not _inside(real, real_root) and not _inside(real, self.repo):
            self.problems.append(Problem(
                display, 0, f"symlink leaves {root_display} and the repository (to {_clip(real, 80)}): not followed"))
            return None
        identity = (st.st_dev, st.st_ino)
        if stat.S_ISDIR(st.st_mode):
            if identity in ancestors or _inside(real_dir, real):
                self.problems.append(Problem(
                    display, 0, f"symlink loop (to {_clip(real, 80)}, which contains it): not followed"))
                return None
            return "link", entry.path, display, real, st, ancestors
        if not stat.S_ISREG(st.st_mode):
            self.problems.append(Problem(display, 0, _not_regular(st.st_mode)))
            return None
        self.candidates.append((True, display, entry.path, identity))
        return None

    def subdirectory(self, path: str, display: str, real: str, st: os.stat_result, ancestors: frozenset):
        identity = (st.st_dev, st.st_ino)
        if identity in self.seen_dirs:
            self.notes.append(f"{display}: skipped (same directory as {self.seen_dirs[identity]})")
            return None
        self.seen_dirs[identity] = display
        return path, display, real, st.st_dev, ancestors | {identity}

    def files(self) -> list[tuple[str, str]]:
        """(display, path) of each file once, sorted; a file reached twice is noted, preferring a non-link path."""
        chosen: dict[tuple[int, int], str] = {}
        files = []
        for _, display, path, identity in sorted(self.candidates, key=lambda c: (c[0], c[1])):
            first = chosen.setdefault(identity, display)
            if first != display:
                self.notes.append(f"{display}: skipped (same file as {first})")
            else:
                files.append((display, path))
        # The same display can be found twice (a path given twice): keep one.
        return sorted(dict(files).items())


def _discover(paths: Sequence[str]) -> tuple[list[tuple[str, str]], list[Problem], list[str]]:
    """(display path, path) of every definition file below ``paths``, the problems, and notes on skipped entries."""
    run = _Discovery()
    for given in paths:
        run.given(os.fspath(given))
    files = run.files()
    return files, run.problems, sorted(set(run.notes))


def discover(paths: Sequence[str]) -> tuple[list[Path], list[Problem]]:
    """Definition files below ``paths``, sorted, and the problems found (notes: ``discover_with_notes``)."""
    files, problems, _ = _discover(paths)
    return [Path(path) for _, path in files], problems


def discover_with_notes(paths: Sequence[str]) -> tuple[list[Path], list[Problem], list[str]]:
    """Like ``discover``, with one note per skipped entry ("PATH: skipped (hidden file)")."""
    files, problems, notes = _discover(paths)
    return [Path(path) for _, path in files], problems, notes
