"""``course release``: generate the student notebooks (``notebooks/``) from ``solutions/``.

nbgrader's GenerateAssignment does the conversion: it clears outputs, replaces
code between ``### BEGIN SOLUTION`` / ``### END SOLUTION`` by a stub that raises
NotImplementedError, and removes ``### BEGIN HIDDEN TESTS`` ... regions. Before
converting, the setup cell of every source notebook is stamped from the one
template in ``config``, and every solution cell from its section of the assignment's answer file
(``course_utils/answers/aNN_name.py``, see ``autograder.answers``); after, the release is verified: no marker and no line of
any solution or hidden-test region may reach it.

Then (unless ``verify=False``) both versions are executed in FAST mode: the source
must pass all its tests, and the unsolved notebook *with its hidden tests* (what
the grader runs on an empty submission) must fail in every graded code cell, so
no test passes on a stub.

``check=True`` releases into a temporary folder and reports every file of
``notebooks/`` that differs from it, so the release can never drift from its source.
"""
from __future__ import annotations

import filecmp
import io
import logging
import re
import shutil
import tempfile
from pathlib import Path

import nbformat

from . import answers
from .config import RELEASE, SETUP_TAG, SOURCE, STUB, nbgrader_config, setup_cell_source, use_own_scripts

MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
_REGION = re.compile(r"### BEGIN (SOLUTION|HIDDEN TESTS)\n(.*?)### END \1", re.S)


class ReleaseError(RuntimeError):
    """The release could not be made, or is not what it must be."""


def assignments(root: Path) -> list[str]:
    """The assignments in ``solutions/``: folders named NN_name holding NN_name.ipynb."""
    return sorted(p.name for p in (root / SOURCE).glob("[0-9][0-9]_*") if (p / f"{p.name}.ipynb").exists())


def resolve(root: Path, name: str) -> str:
    """The one assignment of ``solutions/`` named ``name`` ("03" or "03_diffusion")."""
    known = assignments(root)
    matches = [a for a in known if a == name or (name.isdigit() and a[:2] == name.zfill(2))]
    if len(matches) != 1:
        why = "No assignment" if not matches else "More than one assignment matches"
        raise ReleaseError(f"{why} {name!r} in {root / SOURCE}; there are: {', '.join(known) or 'none'}.")
    return matches[0]


def select(root: Path, names: list[str] | None) -> list[str]:
    """The named assignments (all of them when none are named)."""
    return [resolve(root, name) for name in names] if names else assignments(root)


def stamp_setup_cell(path: Path, root: Path) -> bool:
    """Set the source of the notebook's setup cell from the template; True if it changed."""
    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if SETUP_TAG in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise ReleaseError(f"{path} needs exactly one code cell tagged {SETUP_TAG!r} (found {len(cells)}).")
    wanted = setup_cell_source(root)
    if cells[0].source == wanted:
        return False
    cells[0].source = wanted
    nbformat.write(nb, path)
    return True


def generate(root: Path, assignment: str, course_root: Path | None = None) -> Path:
    """Run nbgrader's GenerateAssignment for one assignment; returns its release folder.

    ``course_root`` (default ``root``) is where ``solutions/`` is read and ``notebooks/`` written.
    """
    from nbgrader.converters import GenerateAssignment
    from nbgrader.coursedir import CourseDirectory

    use_own_scripts()
    course_root = course_root or root
    with tempfile.TemporaryDirectory() as scratch:  # nbgrader records the cells in a gradebook: a throwaway one
        config = nbgrader_config(course_root, db_url=f"sqlite:///{Path(scratch) / 'release.db'}")
        coursedir = CourseDirectory(config=config)
        coursedir.assignment_id = assignment
        converter = GenerateAssignment(coursedir=coursedir, config=config)
        converter.force = True
        log = io.StringIO()  # nbgrader logs the real cause of a failure, then raises a generic error
        handler = logging.StreamHandler(log)
        converter.log.addHandler(handler)
        converter.log.setLevel(logging.ERROR)
        try:
            converter.start()
        except Exception as err:
            raise ReleaseError(f"nbgrader could not release {assignment}:\n{log.getvalue()[-3000:]}") from err
        finally:
            converter.log.removeHandler(handler)
    keep_templates(course_root / RELEASE / assignment / f"{assignment}.ipynb")
    return course_root / RELEASE / assignment


_TEMPLATE_LINE = re.compile(r"^[A-Za-z_]\w* = None[ \t]+#.*$")
TEMPLATE_NOTE = "# Replace each None above with your answer."


def keep_templates(release_nb: Path) -> bool:
    """In the release, an answer cell that is a template (``answer_x = None  # "a", "b", "c" or "d"``) before
    its solution region keeps the template without nbgrader's stub, so the student fills it in instead of
    retyping the names. True if a cell changed."""
    nb = nbformat.read(release_nb, as_version=4)
    changed = False
    for cell in nb.cells:
        if cell.cell_type != "code" or not cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
            continue
        head, stub, tail = cell.source.partition(STUB)
        lines = head.rstrip("\n").splitlines()
        if stub and not tail.strip() and lines and all(_TEMPLATE_LINE.match(line) for line in lines):
            cell.source = head + TEMPLATE_NOTE
            changed = True
    if changed:
        nbformat.write(nb, release_nb)
    return changed


def leaks(source_nb: Path, release_nb: Path) -> list[str]:
    """What of the source's solutions and hidden tests is still in the release (empty when clean).

    A line of a solution or hidden region counts when it is in the release, unless the source itself has
    the same line outside every region (a visible check may build its inputs as a hidden test does)."""
    release_text = "\n".join(c.source for c in nbformat.read(release_nb, as_version=4).cells)
    found = [f"marker {m!r}" for m in MARKERS if m in release_text]
    release_lines = {line.strip() for line in release_text.splitlines()}
    source = nbformat.read(source_nb, as_version=4)
    public = {line.strip() for cell in source.cells for line in _REGION.sub("", cell.source + "\n").splitlines()}
    for cell in source.cells:
        for _, region in _REGION.findall(cell.source + "\n"):
            for line in region.splitlines():
                line = line.strip()
                # Short or comment-only lines ("return x", "# step 1") may rightly appear elsewhere.
                if len(line) >= 16 and not line.startswith("#") and line in release_lines - public:
                    found.append(f"line {line!r}")
    return found


def release(root: Path, names: list[str] | None = None, verify: bool = True) -> list[Path]:
    """Release the named assignments (all by default) into ``notebooks/`` and verify them."""
    released = []
    for name in select(root, names):
        source_nb = root / SOURCE / name / f"{name}.ipynb"
        stamp_setup_cell(source_nb, root)
        answers.stamp(source_nb, answers.path(root, name))
        folder = generate(root, name)
        problems = leaks(source_nb, folder / f"{name}.ipynb")
        if problems:
            raise ReleaseError(f"The release of {name} leaks its solutions: " + "; ".join(problems[:5]))
        if verify:
            verify_tests(root, name)
        released.append(folder)
    return released


def verify_tests(root: Path, name: str) -> None:
    """The source passes every test; with its solutions stubbed, every graded code cell fails."""
    from nbgrader.preprocessors import ClearSolutions

    from .execute import errors, execute

    source_nb = root / SOURCE / name / f"{name}.ipynb"
    run = execute(source_nb, fast=True, timeout=600)
    if run.error:
        raise ReleaseError(f"The solution of {name} fails its own tests in FAST mode: {run.error}")
    unsolved = ClearSolutions(config=nbgrader_config(root)).preprocess(nbformat.read(source_nb, as_version=4), {})[0]
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / name
        shutil.copytree(source_nb.parent, copy)
        nbformat.write(unsolved, copy / f"{name}.ipynb")
        failed = {index for index, _, _ in errors(execute(copy / f"{name}.ipynb", fast=True, timeout=600,
                                                          allow_errors=True).notebook)}
    passing = [c.metadata.nbgrader["grade_id"] for i, c in enumerate(unsolved.cells) if c.cell_type == "code"
               and c.metadata.get("nbgrader", {}).get("grade") and i not in failed]
    if passing:
        raise ReleaseError(f"In {name}, these graded cells pass on an unsolved notebook (hidden tests included), "
                           f"so they would give points for nothing: {', '.join(passing)}")


def check(root: Path, names: list[str] | None = None) -> list[str]:
    """The differences between ``notebooks/`` and a fresh release (empty when they agree)."""
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        shutil.copy(root / "pyproject.toml", scratch / "pyproject.toml")
        for name in select(root, names):
            shutil.copytree(root / SOURCE / name, scratch / SOURCE / name)
            source_nb = scratch / SOURCE / name / f"{name}.ipynb"
            if stamp_setup_cell(source_nb, scratch):
                problems.append(f"{SOURCE}/{name}/{name}.ipynb: its setup cell differs from the template "
                                "(run `course release` to stamp it)")
            for grade_id in answers.stamp(source_nb, answers.path(root, name)):
                problems.append(f"{SOURCE}/{name}/{name}.ipynb: solution cell {grade_id} differs from its section "
                                f"in {answers.ANSWERS}/a{name}.py (run `course release` to stamp it)")
            fresh = generate(root, name, course_root=scratch)
            problems += _compare(fresh, root / RELEASE / name, f"{RELEASE}/{name}")
    return problems


def _compare(fresh: Path, current: Path, label: str) -> list[str]:
    if not current.exists():
        return [f"{label}/ is missing"]
    diff = filecmp.dircmp(fresh, current, ignore=[".ipynb_checkpoints", "__pycache__"])
    problems = [f"{label}/{f} is missing" for f in diff.left_only]
    problems += [f"{label}/{f} is not in the source" for f in diff.right_only]
    for f in diff.common_files:
        if f.endswith(".ipynb"):
            same = nbformat.read(fresh / f, as_version=4) == nbformat.read(current / f, as_version=4)
        else:
            same = filecmp.cmp(fresh / f, current / f, shallow=False)
        if not same:
            problems.append(f"{label}/{f} differs from a fresh release of its source")
    for sub in diff.common_dirs:
        problems += _compare(fresh / sub, current / sub, f"{label}/{sub}")
    return problems
