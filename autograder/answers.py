"""The answer files of ``course_utils/answers``: read their sections, stamp them, stub them.

An answer file (``course_utils/answers/aNN_name.py``) has a header (docstring, imports) and one section
per solution cell of the notebook, opened by ``# %% GRADE_ID``. ``course release`` writes each section
into the solution cell of that grade id (``stamp``); ``course bundle`` and the grading kernel get the file
with the solution regions of unreleased assignments replaced by one ``raise ReferenceNotReleased(...)``
each (``stub``), or, once released, with the markers and sample wrong answers removed (``clean``). Both are
plain text operations on the regions nbgrader itself uses, so no Python is rewritten.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Callable

import nbformat

ANSWERS = "course_utils/answers"
_SECTION = re.compile(r"^# %% (\S+)[ \t]*$", re.M)
_REGION = re.compile(r"^([ \t]*)### BEGIN SOLUTION[ \t]*\n.*?^[ \t]*### END SOLUTION[ \t]*$", re.S | re.M)
_MARKER = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n", re.M)
_WRONG = re.compile(r"^[ \t]*# sample wrong answer: .*\n", re.M)


class AnswersError(RuntimeError):
    """An answer file and its notebook do not fit together."""


def module_name(assignment: str) -> str:
    """``00_welcome`` -> ``course_utils.answers.a00_welcome``."""
    return f"course_utils.answers.a{assignment}"


def path(root: Path, assignment: str) -> Path:
    return root / ANSWERS / f"a{assignment}.py"


def sections(text: str) -> dict[str, str]:
    """grade id -> the source of its solution cell, in the file's order."""
    marks = list(_SECTION.finditer(text))
    return {m.group(1): text[m.end():marks[i + 1].start() if i + 1 < len(marks) else len(text)].strip("\n")
            for i, m in enumerate(marks)}


def stamp(notebook: Path, answer_file: Path, write: bool = True) -> list[str]:
    """Set every solution cell of ``notebook`` from ``answer_file``; returns the grade ids that changed.

    Every solution code cell needs a section, and every section a solution cell.
    """
    nb = nbformat.read(notebook, as_version=4)
    wanted = sections(answer_file.read_text(encoding="utf-8")) if answer_file.exists() else {}
    cells = {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells if c.cell_type == "code"
             and c.get("metadata", {}).get("nbgrader", {}).get("solution")}
    missing, extra = sorted(set(cells) - set(wanted)), sorted(set(wanted) - set(cells))
    if missing or extra:
        raise AnswersError(f"{answer_file} and {notebook.name} disagree: "
                           + "; ".join([*(f"no section '# %% {g}' for solution cell {g}" for g in missing),
                                        *(f"section {g} has no solution cell" for g in extra)]))
    changed = [g for g, cell in cells.items() if cell.source != wanted[g]]
    for grade_id in changed:
        cells[grade_id].source = wanted[grade_id]
    if changed and write:
        nbformat.write(nb, notebook)
    return changed


def stub(text: str, assignment: str, due: str = "") -> str:
    """``text`` with every solution region replaced by a ``raise ReferenceNotReleased(...)`` line (in a
    function), or by a comment (at module level: answers to written-out review questions)."""
    message = (f"This reference answer of {assignment} is not released yet{due}: "
               "use your own solution from the notebook.")

    def replace(match: re.Match) -> str:
        indent = match.group(1)
        if not indent:
            return f"# The answers of {assignment} are not released yet{due}."
        return f"{indent}raise ReferenceNotReleased({message!r})"

    return _REGION.sub(replace, text)


def clean(text: str) -> str:
    """``text`` with the solution markers and the sample wrong answers removed (a released answer file)."""
    return _MARKER.sub("", _WRONG.sub("", text))


def solution_lines(text: str) -> list[str]:
    """The non-trivial lines inside the solution regions (to prove that a stubbed copy holds none)."""
    lines = []
    for region in _REGION.finditer(text):
        lines += [line.strip() for line in region.group(0).splitlines()[1:-1]
                  if len(line.strip()) >= 16 and not line.strip().startswith("#")]
    return lines


def answer_files(package: Path) -> dict[str, Path]:
    """assignment -> its answer file in ``package`` (course_utils)."""
    return {f.stem[1:]: f for f in sorted((package / "answers").glob("a[0-9][0-9]_*.py"))}


def before(assignment: str) -> Callable[[str], bool]:
    """Which answers the kernel grading ``assignment`` may hold: those of the assignments before it."""
    return lambda other: other[:2] < assignment[:2]


def students_copy(package: Path, released: Callable[[str], bool]) -> dict[Path, str]:
    """The answer files of ``package`` (course_utils) as students have them: the assignments for which
    ``released`` is false stubbed, the others cleaned. Returns path -> new text."""
    return {file: clean(text if released(assignment) else stub(text, assignment))
            for assignment, file in answer_files(package).items() for text in [file.read_text(encoding="utf-8")]}


_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", ".ipynb_checkpoints", ".DS_Store", "*.egg-info")


def write_students_package(package: Path, dest: Path, released: Callable[[str], bool]) -> Path:
    """Copy the package ``package`` (course_utils) into ``dest`` as students have it (see ``students_copy``);
    returns the copy's folder. ``dest`` must not hold a copy yet."""
    copy = dest / package.name
    shutil.copytree(package, copy, ignore=_IGNORE)
    for file, text in students_copy(package, released).items():
        (copy / "answers" / file.name).write_text(text, encoding="utf-8")
    return copy


_WRONG_LINE = re.compile(r"^([ \t]*)# sample wrong answer: (.*)$")


def wrong_variants(text: str) -> list[tuple[int, str]]:
    """(line number, ``text`` with that one wrong line in place of the line above it) for each
    ``# sample wrong answer:`` line of ``text`` (a solution cell or an answer file's section)."""
    lines = text.splitlines()
    out = []
    for n, line in enumerate(lines):
        match = _WRONG_LINE.match(line)
        if match and n:
            out.append((n + 1, "\n".join(lines[:n - 1] + [match.group(1) + match.group(2)] + lines[n + 1:])))
    return out
