"""``course solutions``: executed solution notebooks as HTML, for review walkthroughs.

``export_solutions(root, "03", out)`` writes ``out/NN_name.html`` for assignments
00..03: each solution notebook with its hidden tests removed (nbgrader's own
``ClearHiddenTests``) and the ``### BEGIN SOLUTION`` / ``### END SOLUTION`` marker
lines dropped (the solution code and written answers stay), executed headless
the way ``course run`` does, in a temporary copy of the assignment's folder.

A notebook that fails to run still gets its HTML, which shows the error where it
happened (execution stops at the first failing cell). Once every HTML is written,
``SolutionsExportError`` is raised naming the notebooks that failed; it carries the
written paths in ``.written``. Before a file is written it is checked: no line of
a hidden-test region and no marker may be in the notebook or in the HTML's text.
"""
from __future__ import annotations

import html
import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import nbformat

from .bundle import BundleError, assignments_through
from .config import SOURCE
from .release import MARKERS

MIN_LINE = 16  # as in release.leaks: shorter lines may rightly appear elsewhere
_HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", re.S)
_SOLUTION_MARKER = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*(\n|$)", re.M)
_IGNORE = shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints", "*.pyc")


class SolutionsExportError(RuntimeError):
    """Some solution notebooks failed to run or would show hidden tests; ``written`` lists the HTML written."""

    def __init__(self, message: str, written: list[Path]):
        super().__init__(message)
        self.written = written


def clean(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The notebook without hidden tests and without solution marker lines (in place; also returned)."""
    from nbgrader.preprocessors import ClearHiddenTests

    try:
        ClearHiddenTests(enforce_metadata=True).preprocess(nb, {})
    except RuntimeError as err:  # nbgrader's messages name the problem, not the cell
        raise SolutionsExportError(f"could not remove the hidden tests: {err}", []) from err
    for cell in nb.cells:
        cell.source = _SOLUTION_MARKER.sub("", cell.source)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nb


def html_text(page: str) -> str:
    """The text of an HTML page as a reader sees it: tags (such as syntax highlighting) removed, entities decoded."""
    page = re.sub(r"<(script|style)\b.*?</\1>", "", page, flags=re.S | re.I)
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def hidden_lines(nb: nbformat.NotebookNode) -> list[str]:
    """The non-trivial lines of the notebook's hidden-test regions."""
    found = []
    for cell in nb.cells:
        for region in _HIDDEN.findall(cell.source + "\n"):
            found += [s for s in (line.strip() for line in region.splitlines())
                      if len(s) >= MIN_LINE and not s.startswith("#")]
    return found


def leaks(secret: list[str], *texts: str) -> list[str]:
    """What of the hidden tests (their lines, or a marker) is in any of ``texts``."""
    found = [f"marker {m!r}" for m in MARKERS if any(m in t for t in texts)]
    return found + [f"line {line!r}" for line in secret if any(line in t for t in texts)]


@contextmanager
def _importable(root: Path) -> Iterator[None]:
    """Kernels started inside import ``root``'s course_utils (first on PYTHONPATH), not another installed one."""
    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(root)] + ([before] if before else []))
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = before


def export_solutions(root: Path, through: str, out: Path, fast: bool = False) -> list[Path]:
    """Write ``out/NN_name.html`` for every assignment up to ``through``; returns the paths written.

    Runs in FULL mode unless ``fast``. Raises SolutionsExportError after writing every HTML if a notebook
    failed to run (its HTML shows the error), and before writing one that would show its hidden tests.
    """
    from nbconvert import HTMLExporter

    from .execute import execute

    root, out = Path(root).resolve(), Path(out)
    try:
        names = assignments_through(root, through)
    except BundleError as err:
        raise SolutionsExportError(str(err), []) from err
    out.mkdir(parents=True, exist_ok=True)
    written, failed = [], []
    for name in names:
        folder = root / SOURCE / name
        source = nbformat.read(folder / f"{name}.ipynb", as_version=4)
        secret = hidden_lines(source)
        with tempfile.TemporaryDirectory(prefix=f"course-solutions-{name}-") as tmp:
            work = Path(tmp) / name
            shutil.copytree(folder, work, ignore=_IGNORE)
            nbformat.write(clean(source), work / f"{name}.ipynb")
            with _importable(root):
                run = execute(work / f"{name}.ipynb", fast=fast)
        page, _ = HTMLExporter(template_name="lab").from_notebook_node(run.notebook)
        cells = "\n".join(c.source for c in run.notebook.cells)
        problems = leaks(secret, cells, html_text(page), page)
        if problems:
            raise SolutionsExportError(f"the export of {name} would show its hidden tests: " + "; ".join(problems[:5]),
                                       written)
        target = out / f"{name}.html"
        target.write_text(page, encoding="utf-8")
        written.append(target)
        if run.error:
            failed.append(f"{name}: {run.error}")
    if failed:
        raise SolutionsExportError("these solution notebooks failed to run (their HTML shows the error):\n  "
                                   + "\n  ".join(failed), written)
    return written
