"""``course export``: grades.csv and per-student feedback, from a grading workspace.

grades.csv has a row per student: the points of every graded cell, the total,
the status of the last grading (graded, malformed, timed out, crashed), whether
it needs a person (flags or written answers to grade) and why. Scores come from
nbgrader's gradebook, so manual grades entered in formgrader are included.

Feedback is one HTML page per student, made from the autograded notebook after
hidden tests are taken out: a test cell shows only its visible part, and a
failed test shows which check failed (the error's name and message), never the
code of the test or a traceback through it. Nothing in either file depends on
when it was made, so exporting the same grading twice gives identical files.
"""
from __future__ import annotations

import csv
import re
import warnings
from pathlib import Path

import nbformat

from .grade import Workspace

_HIDDEN = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS[ \t]*\n?", re.S | re.M)


def latest(ws: Workspace, assignment: str) -> dict[str, dict]:
    """The last history entry of each student for ``assignment``."""
    return {h["student"]: h for h in ws.history() if h["assignment"] == assignment}


def export(workspace: Path, assignment: str, out: Path | None = None) -> tuple[Path, list[Path]]:
    """Write ``grades.csv`` and ``feedback/STUDENT/ASSIGNMENT.html`` under ``out`` (default: the workspace)."""
    from nbgrader.api import Gradebook

    ws = Workspace(workspace)
    out = out or ws.path / "export" / assignment
    entries = latest(ws, assignment)
    if not entries:
        raise FileNotFoundError(f"Nothing graded for {assignment!r} in {ws.path}: run `course grade` first.")
    rows, pages = [], []
    with Gradebook(ws.db_url) as gb, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cells = [c.name for nb in gb.find_assignment(assignment).notebooks for c in nb.grade_cells]
        for student in sorted(entries):
            entry = entries[student]
            submission = gb.find_submission(assignment, student)
            scores = {g.name: g.score for nb in submission.notebooks for g in nb.grades}
            manual = any(g.needs_manual_grade for nb in submission.notebooks for g in nb.grades)
            reasons = entry["flags"] + (["written answers to grade"] if manual else [])
            rows.append({"student": student, **{c: f"{scores.get(c, 0):g}" for c in cells},
                         "total": f"{submission.score:g}", "max": f"{submission.max_score:g}",
                         "status": entry["status"], "review": "yes" if reasons else "no",
                         "reasons": "; ".join(reasons)})
            autograded = ws.path / "autograded" / student / assignment / f"{assignment}.ipynb"
            if autograded.exists():
                pages.append(_feedback(autograded, ws, assignment, student, scores, submission, out))
    out.mkdir(parents=True, exist_ok=True)
    table = out / "grades.csv"
    with open(table, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return table, pages


def without_hidden_tests(nb: nbformat.NotebookNode, release: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of an autograded notebook that shows no hidden test, not even through a traceback."""
    visible = {c.metadata.nbgrader["grade_id"]: c.source for c in release.cells
               if c.get("metadata", {}).get("nbgrader", {}).get("grade")}
    nb = nbformat.reads(nbformat.writes(nb), as_version=4)  # a copy
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        for output in cell.get("outputs", []):  # live widgets get random element ids; keep their text
            output.get("data", {}).pop("application/vnd.jupyter.widget-view+json", None)
        if not meta.get("grade") or cell.cell_type != "code":
            continue
        cell.source = visible.get(meta.get("grade_id"), _HIDDEN.sub("", cell.source))
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":  # the traceback would show the hidden test's lines
                message = output.get("evalue") or "a hidden check failed"
                output["traceback"] = [f"{output.get('ename', 'Error')}: {message}"]
    return nb


def _feedback(autograded: Path, ws: Workspace, assignment: str, student: str, scores: dict, submission,
              out: Path) -> Path:
    from nbconvert import HTMLExporter

    release = nbformat.read(ws.path / "release" / assignment / f"{assignment}.ipynb", as_version=4)
    nb = without_hidden_tests(nbformat.read(autograded, as_version=4), release)
    lines = [f"# Feedback: {assignment}, {student}", "",
             f"**Score: {submission.score:g} / {submission.max_score:g}**", "", "| graded cell | points |", "|---|---|"]
    lines += [f"| {name} | {points:g} |" for name, points in scores.items()]
    summary = nbformat.v4.new_markdown_cell("\n".join(lines))
    summary.id = "feedback-summary"  # a fixed id: the same grading exports the same page
    nb.cells.insert(0, summary)
    body, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    page = out / "feedback" / student / f"{assignment}.html"
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(body, encoding="utf-8")
    return page
