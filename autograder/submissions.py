"""Submission intake: from what students handed in to one notebook per student.

``collect(path, assignment)`` reads SUBMISSIONS in one of three shapes:

- nbgrader's layout, a folder ``<student>/<assignment>/<notebook>.ipynb``, with nbgrader's
  ``timestamp.txt`` beside the notebook when there is one (also inside a .zip, and under one
  wrapping folder such as ``submitted/``);
- a folder (searched recursively) or a .zip of files downloaded from a learning-management
  system, whose names say who submitted them. A regular expression with a named group
  ``student`` maps a name to a student id: the instructor's own, or one of ``LMS_PATTERNS``.
  By default canvas, moodle and blackboard are tried, in that order; ``plain`` matches almost
  any name, so it is used only when asked for.

Nothing is written to disk and no notebook is parsed: a submission holds the file's exact
bytes, so an empty or malformed notebook still reaches the grader. Naming problems go to
``Intake.unmatched``, one line per file; nothing is dropped silently (hidden files such as
``.DS_Store`` and macOS's ``__MACOSX/`` folders excepted).

When a student submitted several times the latest is kept and the others go to
``Intake.superseded``. The latest is the one with the latest submission time, when every one
has a time (nbgrader's ``timestamp.txt``, a Blackboard stamp, a ``timestamp`` group); else the
one with the highest attempt number, when every one has one (an ``attempt`` group; Canvas: the
second number of its names, the id of the upload, which grows with every upload, so a LATE
resubmission supersedes the first one); else, or on a tie, the file named ``<notebook>.ipynb``,
then the last in sorted file-name order. Every such choice is written to ``Intake.notes``.
"""
from __future__ import annotations

import hashlib
import os
import re
import stat
import unicodedata
import zipfile
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator
from zoneinfo import ZoneInfo

MAX_MEMBER_BYTES = 200 * 2**20  # a larger file is reported "too large", never read
MAX_TOTAL_BYTES = 2 * 2**30     # the most read in all from one SUBMISSIONS (zip bombs)

LMS_PATTERNS: dict[str, str] = {
    # smithjohn_12345_6789012_00_welcome.ipynb, smithjohn_LATE_12345_6789013_00_welcome-1.ipynb:
    # login, LATE if late, user id, upload id (grows with each upload), the student's file name.
    "canvas": r"(?:^|/)(?P<student>[^/_]+)_(?:(?P<late>LATE)_)?(?P<user>\d+)_(?P<attempt>\d+)_(?P<file>[^/]+)$",
    # John Smith_12345_assignsubmission_file_00_welcome.ipynb, or the same name as a folder that
    # holds the file (Moodle's "download submissions in folders"): full name, participant number.
    "moodle": r"(?:^|/)(?P<student>[^/]+?)_(?P<participant>\d+)_assignsubmission_file_/?(?P<file>[^/]+)$",
    # 00_welcome_jsmith_attempt_2026-11-20-23-59-01_00_welcome.ipynb: assignment title, username,
    # time of the attempt, the student's file name.
    "blackboard": (r"(?:^|/)(?P<title>[^/]+?)_(?P<student>[^/_]+)_attempt_"
                   r"(?P<timestamp>\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d)(?:_(?P<file>[^/]+)|\.[^/_]*)$"),
    # alice.ipynb, alice_00_welcome.ipynb: everything before the first underscore.
    "plain": r"(?:^|/)(?P<student>[^/_]+?)(?:_[^/]*)?\.ipynb$",
}
AUTO_PATTERNS = ("canvas", "moodle", "blackboard")  # tried in this order when no pattern is given

_ADVICE = ("pass --pattern with a regular expression whose group (?P<student>...) captures the student id, "
           "or --pattern plain for names <student>.ipynb and <student>_<anything>.ipynb")
_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S",
                 "%Y-%m-%d %H:%M:%S.%f%z", "%Y-%m-%d %H:%M:%S%z", "%Y-%m-%d %H:%M:%S.%f %z", "%Y-%m-%d %H:%M:%S %z",
                 "%Y-%m-%d-%H-%M-%S", "%Y-%m-%d_%H-%M-%S",
                 "%Y%m%d%H%M%S", "%Y%m%dT%H%M%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M")


@dataclass(frozen=True)
class Submission:
    """One student's notebook for the assignment, exactly as submitted."""

    student: str                # sanitised: letters, digits, '.', '_', '-'; never empty, never starts with '.'
    notebook: str               # the notebook's name as the assignment expects it, without .ipynb
    content: bytes              # the submitted file's bytes, unchanged
    origin: str                 # relative path in SUBMISSIONS, or "archive.zip:inner/path"
    timestamp: datetime | None  # submission time in UTC, when known
    sha256: str                 # hex digest of content
    late: bool = False          # the LMS marked it late (Canvas's LATE, a `late` group)


@dataclass
class Intake:
    """What ``collect`` found: the submissions to grade and everything it could not use."""

    submissions: list[Submission]   # one per student, sorted by student
    unmatched: list[str]            # "origin: reason" for every file or folder not used
    superseded: list[Submission]    # older submissions replaced by a later one of the same student
    notes: list[str] = field(default_factory=list)  # choices to check: which submission was kept, and why


class _Unreadable(Exception):
    """A file that is not read (too large, corrupt, encrypted); the message says why."""


@dataclass
class _File:
    path: str     # '/'-separated, relative to SUBMISSIONS
    origin: str
    size: int     # as the folder or the zip declares it
    ref: object   # what to read it from: a Path or a ZipInfo


@dataclass
class _Candidate:
    raw: str      # the student id as found, before sanitising
    file: _File
    content: bytes
    timestamp: datetime | None = None
    attempt: int | None = None
    late: bool = False


@dataclass
class _Tree:
    """The files and folders of SUBMISSIONS, a folder or an open zip, read within the size limits."""

    label: str                      # "" for a folder, "archive.zip:" for a zip
    files: list[_File]
    dirs: set[str]
    unmatched: list[str]
    archive: zipfile.ZipFile | None = None
    left: int = field(default_factory=lambda: MAX_TOTAL_BYTES)

    def read(self, f: _File, limit: int | None = None) -> bytes:
        """The bytes of ``f``; raises _Unreadable past MAX_MEMBER_BYTES (or ``limit``) or MAX_TOTAL_BYTES."""
        limit = MAX_MEMBER_BYTES if limit is None else limit
        too_large = f"too large (over {limit:,} bytes); not read"
        if f.size > limit:
            raise _Unreadable(too_large)
        try:
            if self.archive is None:
                with open(f.ref, "rb") as fh:
                    data = fh.read(min(limit, self.left) + 1)
            else:
                with self.archive.open(f.ref) as fh:  # bounded read: a lying header cannot make it read more
                    data = fh.read(min(limit, self.left) + 1)
        except (OSError, RuntimeError, NotImplementedError, EOFError, zipfile.BadZipFile, zlib.error) as err:
            raise _Unreadable(f"could not be read ({err})") from err
        if len(data) > limit:
            raise _Unreadable(too_large)
        if len(data) > self.left:
            raise _Unreadable(f"not read: the files read before it reach the limit of {MAX_TOTAL_BYTES:,} bytes "
                              "for one SUBMISSIONS; split it")
        self.left -= len(data)
        return data


def sanitise_student(raw: str) -> str:
    """The student id for ``raw``: accents dropped, then anything but letters, digits, '.', '_', '-' -> '_'.

    A leading '.' becomes '_' too, so an id is never '.', '..' or hidden. Empty only when ``raw`` is blank.
    """
    folded = "".join(c for c in unicodedata.normalize("NFKD", raw.strip()) if not unicodedata.combining(c))
    sid = re.sub(r"[^A-Za-z0-9._-]", "_", folded)
    return re.sub(r"^\.", "_", sid)


def parse_timestamp(text: str) -> datetime | None:
    """A submission time in UTC from nbgrader's ``timestamp.txt`` or an LMS name; None if unreadable.

    Accepts "2026-11-20 23:59:01.123456 UTC" (nbgrader), ISO 8601 with or without an offset or
    "Z", a trailing time-zone name ("... Europe/Paris") and "2026-11-20-23-59-01" (Blackboard).
    A time without a zone is taken as UTC.
    """
    text, zone = text.strip(), timezone.utc
    head, _, last = text.rpartition(" ")
    if head and last[:1].isalpha():
        zone = _zone(last)
        if zone is None:
            return None
        text = head.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1]
    for fmt in _TIME_FORMATS:
        try:
            when = datetime.strptime(text, fmt)
            break
        except ValueError:
            continue
    else:
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=zone)
    return when.astimezone(timezone.utc)


def _zone(name: str) -> timezone | ZoneInfo | None:
    if name.upper() in ("UTC", "GMT", "Z"):
        return timezone.utc
    try:
        return ZoneInfo(name)
    except (ValueError, OSError, KeyError):  # ZoneInfoNotFoundError is a KeyError
        return None


def collect(path: Path, assignment: str, notebook: str | None = None, pattern: str | None = None) -> Intake:
    """Read the submissions of ``assignment`` from ``path`` (a folder or a .zip); see the module's docstring.

    ``notebook`` is the notebook's name (default: ``assignment``). ``pattern`` is used for LMS
    downloads: a name in LMS_PATTERNS, or a regular expression with a group ``(?P<student>...)``
    (optional groups: ``timestamp``, ``attempt``, ``late``), searched in each file's name, then
    in its path. Raises FileNotFoundError if ``path`` does not exist, ValueError for a file that
    is not a zip or a pattern without a ``student`` group.
    """
    path = Path(path)
    if not assignment or assignment in (".", "..") or re.search(r"[/\\]", assignment):
        raise ValueError(f"The assignment {assignment!r} is not a folder name like '00_welcome'.")
    notebook = (notebook or assignment).removesuffix(".ipynb")
    if not notebook or re.search(r"[/\\]", notebook):
        raise ValueError(f"The notebook {notebook!r} is not a file name like '00_welcome' (without a folder).")
    matchers = _matchers(pattern)
    with _open(path) as tree:
        notes: list[str] = []
        base = _nbgrader_base(tree, assignment)
        if base is None:
            candidates = _from_names(tree, matchers, pattern)
        else:
            candidates = _from_nbgrader(tree, base, assignment, notebook)
            if pattern:
                notes.append(f"{path.name} is in nbgrader's layout <student>/{assignment}/{notebook}.ipynb: "
                             f"the pattern {pattern!r} was not used")
        return _choose(candidates, tree.unmatched, notes, notebook)


def _matchers(pattern: str | None) -> list[tuple[str, re.Pattern[str]]]:
    """(description, compiled regex) pairs to try in order, from ``pattern``."""
    if pattern is None:
        return [(f"the {name!r} pattern", re.compile(LMS_PATTERNS[name])) for name in AUTO_PATTERNS]
    if pattern in LMS_PATTERNS:
        return [(f"the {pattern!r} pattern", re.compile(LMS_PATTERNS[pattern]))]
    names = ", ".join(LMS_PATTERNS)
    try:
        regex = re.compile(pattern)
    except re.error as err:
        raise ValueError(f"The pattern {pattern!r} is neither a named pattern ({names}) "
                         f"nor a valid regular expression: {err}.") from None
    if "student" not in regex.groupindex:
        raise ValueError(f"The pattern {pattern!r} has no group named 'student': write the part of the file "
                         "name that identifies the student as (?P<student>...), e.g. "
                         r"'^hw1_(?P<student>[a-z0-9]+)\.ipynb$', " f"or use a named pattern ({names}).")
    return [(f"the pattern {pattern!r}", regex)]


@contextmanager
def _open(path: Path) -> Iterator[_Tree]:
    """The tree of a folder, or of a zip kept open while it is read."""
    if not path.exists():
        raise FileNotFoundError(f"No submissions at {path}: it does not exist. Pass the folder of submissions "
                                "(nbgrader's <student>/<assignment>/ or the files downloaded from the LMS) "
                                "or their .zip.")
    if path.is_dir():
        yield _folder_tree(path)
        return
    hint = ("pass the folder that holds it instead" if path.suffix.lower() == ".ipynb"
            else "pass a folder of submissions or the .zip downloaded from the LMS")
    if not path.is_file():
        raise ValueError(f"{path} is neither a folder nor a file; {hint}.")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as err:
        raise ValueError(f"{path} is not a zip archive ({err}); {hint}.") from None
    with archive:
        yield _zip_tree(archive, path.name)


def _hidden(part: str) -> bool:
    return part.startswith(".") or part == "__MACOSX"


def _folder_tree(root: Path) -> _Tree:
    tree = _Tree("", [], set(), [])
    for dirpath, dirnames, filenames in os.walk(root):  # does not follow links
        here = Path(dirpath)
        rel = here.relative_to(root).as_posix()
        prefix = "" if rel == "." else rel + "/"
        if prefix:
            tree.dirs.add(rel)
        for name in sorted(dirnames):
            if not _hidden(name) and (here / name).is_symlink():
                tree.unmatched.append(f"{prefix}{name}/: a symbolic link; not followed")
        dirnames[:] = sorted(d for d in dirnames if not _hidden(d) and not (here / d).is_symlink())
        for name in sorted(filenames):
            if _hidden(name):
                continue
            mode = (here / name).lstat()
            if stat.S_ISLNK(mode.st_mode) or not stat.S_ISREG(mode.st_mode):
                tree.unmatched.append(f"{prefix}{name}: not a regular file (a link?); not read")
                continue
            tree.files.append(_File(prefix + name, prefix + name, mode.st_size, here / name))
    return tree


def _member_name(info: zipfile.ZipInfo) -> str:
    """The member's name, repaired when a zip tool wrote UTF-8 without saying so."""
    if info.flag_bits & 0x800:
        return info.filename
    try:
        return info.filename.encode("cp437").decode("utf-8")
    except UnicodeError:
        return info.filename


def _zip_tree(archive: zipfile.ZipFile, name: str) -> _Tree:
    tree = _Tree(f"{name}:", [], set(), [], archive)
    for info in archive.infolist():
        raw = _member_name(info)
        parts = [p for p in re.split(r"[/\\]", raw) if p not in ("", ".")]
        if raw.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", raw) or ".." in parts:
            tree.unmatched.append(f"{name}:{raw}: unsafe path in the archive (absolute or with '..'); not read")
            continue
        if not parts or any(_hidden(p) for p in parts):
            continue
        rel = "/".join(parts)
        tree.dirs.update("/".join(parts[:i]) for i in range(1, len(parts)))
        if info.is_dir():
            tree.dirs.add(rel)
        elif stat.S_ISLNK(info.external_attr >> 16):
            tree.unmatched.append(f"{name}:{rel}: a symbolic link in the archive; not read")
        else:
            tree.files.append(_File(rel, f"{name}:{rel}", info.file_size, info))
    tree.files.sort(key=lambda f: f.path)
    return tree


def _nbgrader_base(tree: _Tree, assignment: str) -> tuple[str, ...] | None:
    """The folder holding <student>/<assignment>/ folders: the root, or its only folder; None if neither."""
    dirs = [tuple(d.split("/")) for d in tree.dirs]
    tops = {p.split("/")[0] for p in [*tree.dirs, *(f.path for f in tree.files)]}
    bases = [()] + ([(tops.pop(),)] if len(tops) == 1 else [])
    for base in bases:
        n = len(base)
        if any(len(d) == n + 2 and d[:n] == base and d[-1] == assignment for d in dirs):
            return base
    return None


def _from_nbgrader(tree: _Tree, base: tuple[str, ...], assignment: str, notebook: str) -> list[_Candidate]:
    """<student>/<assignment>/<notebook>.ipynb under ``base``; other notebooks and missing ones are reported."""
    n, prefix = len(base), "".join(p + "/" for p in base)
    wanted = f"{assignment}/{notebook}.ipynb"
    students = sorted({d.split("/")[n] for d in tree.dirs if d.startswith(prefix) and d.count("/") >= n})
    found: dict[str, dict[str, _File]] = {}  # student -> path below <student>/<assignment>/ -> file
    for f in tree.files:
        parts = f.path.split("/")[n:]
        if len(parts) == 1:
            tree.unmatched.append(f"{f.origin}: not in nbgrader's layout <student>/{wanted}")
        elif len(parts) == 2 and parts[1].lower().endswith(".ipynb"):
            tree.unmatched.append(f"{f.origin}: not in nbgrader's layout: expected {prefix}{parts[0]}/{wanted}")
        elif len(parts) > 2 and parts[1] == assignment:
            found.setdefault(parts[0], {})["/".join(parts[2:])] = f
    candidates = []
    for student in students:
        folder = f"{prefix}{student}/{assignment}"
        if folder not in tree.dirs:
            tree.unmatched.append(f"{tree.label}{prefix}{student}/: no {assignment}/ folder, "
                                  f"so no {notebook}.ipynb from this student")
            continue
        files = found.get(student, {})
        for rel, f in files.items():
            if rel != f"{notebook}.ipynb" and rel.lower().endswith(".ipynb"):
                tree.unmatched.append(f"{f.origin}: not the assignment's notebook {notebook}.ipynb")
        target = files.get(f"{notebook}.ipynb")
        if target is None:
            tree.unmatched.append(f"{tree.label}{folder}/: no {notebook}.ipynb in it")
            continue
        try:
            content = tree.read(target)
        except _Unreadable as err:
            tree.unmatched.append(f"{target.origin}: {err}")
            continue
        candidates.append(_Candidate(student, target, content, _read_timestamp(tree, files.get("timestamp.txt"))))
    return candidates


def _read_timestamp(tree: _Tree, f: _File | None) -> datetime | None:
    if f is None:
        return None
    try:
        return parse_timestamp(tree.read(f, limit=1024).decode("utf-8", "replace"))
    except _Unreadable:
        return None


def _from_names(tree: _Tree, matchers: list[tuple[str, re.Pattern[str]]], pattern: str | None) -> list[_Candidate]:
    candidates = []
    for f in tree.files:
        name = f.path.rsplit("/", 1)[-1]
        if not name.lower().endswith(".ipynb"):
            hint = "; to grade the notebooks in it, unpack it" if name.lower().endswith(".zip") else ""
            tree.unmatched.append(f"{f.origin}: not a notebook (only .ipynb files can be submissions){hint}")
            continue
        match = _match(matchers, name, f.path)
        if match is None:
            if pattern is None:
                tried = ", ".join(AUTO_PATTERNS)
                tree.unmatched.append(f"{f.origin}: no student id: the name matches none of the LMS patterns "
                                      f"({tried}); {_ADVICE}")
            else:
                tree.unmatched.append(f"{f.origin}: no student id: the name does not match {matchers[0][0]}")
            continue
        try:
            content = tree.read(f)
        except _Unreadable as err:
            tree.unmatched.append(f"{f.origin}: {err}")
            continue
        groups = match.groupdict()
        attempt = groups.get("attempt")
        candidates.append(_Candidate(
            raw=groups["student"] or "", file=f, content=content,
            timestamp=parse_timestamp(groups["timestamp"]) if groups.get("timestamp") else None,
            attempt=int(attempt) if attempt and attempt.isdigit() else None,
            late=bool(groups.get("late"))))
    return candidates


def _match(matchers: list[tuple[str, re.Pattern[str]]], name: str, path: str) -> re.Match[str] | None:
    """The first pattern that matches the file's name, or else its path; None if none does."""
    for _, regex in matchers:
        match = regex.search(name) or regex.search(path)
        if match:
            return match
    return None


def _choose(candidates: list[_Candidate], unmatched: list[str], notes: list[str], notebook: str) -> Intake:
    """One submission per student; different names that give the same id (ignoring case) are reported instead."""
    groups: dict[str, dict[str, list[_Candidate]]] = {}
    for c in candidates:
        sid = sanitise_student(c.raw)
        if not sid:
            unmatched.append(f"{c.file.origin}: the student id in the name is empty")
            continue
        groups.setdefault(sid.lower(), {}).setdefault(c.raw, []).append(c)
    kept, superseded = [], []
    for _, by_raw in sorted(groups.items()):
        if len(by_raw) > 1:
            names = " and ".join(repr(r) for r in sorted(by_raw))
            for raw in sorted(by_raw):
                for c in by_raw[raw]:
                    unmatched.append(f"{c.file.origin}: ambiguous student id {sanitise_student(raw)!r}: {names} give "
                                     "the same id (ignoring case); rename the files or use a pattern that "
                                     "captures a unique id")
            continue
        (group,) = by_raw.values()
        latest, older, note = _latest(group, notebook)
        kept.append(_submission(latest, notebook))
        superseded += [_submission(c, notebook) for c in older]
        if note:
            notes.append(f"{kept[-1].student}: {note}")
    return Intake(submissions=kept, unmatched=sorted(unmatched), superseded=superseded, notes=notes)


def _latest(group: list[_Candidate], notebook: str) -> tuple[_Candidate, list[_Candidate], str]:
    """The latest of one student's submissions, the others (oldest first), and a note on the choice."""
    if len(group) == 1:
        return group[0], [], ""
    if all(c.timestamp for c in group):
        primary, rule = (lambda c: c.timestamp), "the latest submission time"
    elif all(c.attempt is not None for c in group):
        primary, rule = (lambda c: c.attempt), "the highest attempt number"
    else:
        primary, rule = (lambda c: 0), ""
    wanted = f"{notebook}.ipynb"
    exact = lambda c: c.file.path.rsplit("/", 1)[-1] == wanted or c.file.path.endswith("_" + wanted)  # noqa: E731
    ordered = sorted(group, key=lambda c: (primary(c), exact(c), c.file.origin))
    latest, older = ordered[-1], ordered[:-1]
    others = ", ".join(c.file.origin for c in older)
    ties = sum(primary(c) == primary(latest) for c in group)
    if rule and ties == 1:
        return latest, older, f"kept {latest.file.origin} ({rule}); superseded {others}"
    why = f"{ties} of them tie on {rule}" if rule else "times or attempt numbers are not known for all of them"
    return latest, older, (f"kept {latest.file.origin} by file name ({why}: a file named {notebook}.ipynb first, "
                           f"then the last in sorted order); superseded {others}. Check this choice.")


def _submission(c: _Candidate, notebook: str) -> Submission:
    return Submission(student=sanitise_student(c.raw), notebook=notebook, content=c.content, origin=c.file.origin,
                      timestamp=c.timestamp, sha256=hashlib.sha256(c.content).hexdigest(), late=c.late)
