"""Every notebook is a product: it follows the course's conventions and runs headless.

- Conventions (no execution): title, learning goals and a run-time table first; the
  setup cell from the template; every exercise followed by a check cell; a widget.
- Every solution notebook executes in FAST mode without an error and reports results.
- Every release notebook, unsolved, fails only in its exercise and check cells, with
  the stub's message: the demo cells after an exercise say it is unsolved instead.
"""
from __future__ import annotations

import re

import nbformat
import pytest

from autograder.config import SETUP_TAG, STUB, setup_cell_source
from autograder.execute import errors, execute
from conftest import ROOT

SOLUTIONS = sorted((ROOT / "solutions").glob("[0-9][0-9]_*/[0-9][0-9]_*.ipynb"))
RELEASES = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*/[0-9][0-9]_*.ipynb"))
STUB_MESSAGE = re.search(r'NotImplementedError\("(.*)"\)', STUB).group(1)
STUB_START = STUB_MESSAGE.split(":")[0] + ":"  # "Not solved yet:", also said by 07's unset answer cells


def _nbgrader(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.stem)
def test_notebook_follows_the_course_conventions(path):
    nb = nbformat.read(path, as_version=4)
    opening = nb.cells[0]
    assert opening.cell_type == "markdown" and opening.source.startswith(f"# {path.stem[:2]} ·")
    for part in ("you will", "Expected run time", "FAST", "FULL on a 2-core", "GPU", "$"):
        assert part in opening.source, f"the opening of {path.name} lacks {part!r}"
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    assert SETUP_TAG in code_cells[0].metadata.get("tags", []), "the first code cell must be the setup cell"
    assert code_cells[0].source == setup_cell_source(ROOT)
    # Every exercise is followed by a check cell worth points.
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and _nbgrader(cell).get("solution"):
            following = next(c for c in nb.cells[i + 1:] if c.cell_type == "code")
            assert _nbgrader(following).get("grade") and _nbgrader(following).get("points", 0) > 0, \
                f"exercise {_nbgrader(cell)['grade_id']} is not followed by a check cell"
    ids = [_nbgrader(c)["grade_id"] for c in nb.cells if _nbgrader(c)]
    assert len(ids) == len(set(ids)), "grade ids must be unique"
    assert any("BEGIN HIDDEN TESTS" in c.source for c in code_cells), "hidden tests are missing"
    assert any("widgets.explore(" in c.source for c in code_cells), "every notebook has an interactive widget"


@pytest.mark.notebook
@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.stem)
def test_solution_runs_in_fast_mode(path):
    run = execute(path, fast=True, timeout=300)
    assert run.error is None, f"{path.name} failed in FAST mode: {run.error}"
    assert run.results, f"{path.name} records no key results (course_utils.results.record)"
    printed = "".join(o.get("text", "") for c in run.notebook.cells for o in c.get("outputs", []))
    assert "FAST mode" in printed
    skipped = [c.source[:300] for c in run.notebook.cells for o in c.get("outputs", []) if "\u23ed" in o.get("text", "")]
    assert not skipped, f"{path.name}, solved, still skips cells as if an exercise were unsolved: {skipped}"


@pytest.mark.notebook
@pytest.mark.parametrize("path", RELEASES, ids=lambda p: p.stem)
def test_unsolved_release_fails_only_in_its_exercises(path):
    run = execute(path, fast=True, timeout=300, allow_errors=True)
    failed = errors(run.notebook)
    assert failed, f"the unsolved {path.name} ran without an error: are its exercises stubbed?"
    for index, cell, error in failed:
        meta = _nbgrader(cell)
        assert meta.get("solution") or meta.get("grade"), (
            f"cell {index} of the unsolved {path.name} failed, but it is not an exercise or a check "
            f"(wrap demo code in `checks.needs_exercises()`): {error['ename']}: {error['evalue']}\n{cell.source[:400]}")
        assert error["ename"] == "NotImplementedError" and error["evalue"].startswith(STUB_START), (
            f"cell {index} of the unsolved {path.name} failed with {error['ename']}: {error['evalue']}, "
            "not with the stub's message")
    graded = [c for c in run.notebook.cells if _nbgrader(c).get("grade") and c.cell_type == "code"]
    visible_checks = [c for c in graded if c.source.strip() and not c.source.lstrip().startswith("# Hidden tests")]
    assert all(any(o.get("output_type") == "error" for o in c.outputs) for c in visible_checks), \
        "every visible check must fail on the unsolved notebook"


# The solved samples of 01-07, graded whole by the guarded kernel: tests/test_one_wrong_answer.py.
