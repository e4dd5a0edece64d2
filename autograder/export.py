"""``course export``: grades.csv and per-student feedback, from a grading workspace.

grades.csv has a row per student: the points of every graded cell, the total,
the status of the last grading (graded, malformed, timed out, crashed), whether
it needs a person (flags or written answers to grade) and why. Scores come from
nbgrader's gradebook, so manual grades entered in formgrader are included.

Feedback is one HTML page per student, made from the autograded notebook after
hidden tests are taken out: a test cell shows only its visible part, and a
failed test shows which check failed (the error's name and message), never the
code of the test or a traceback through it. A line of a hidden test that turns up in
an output all the same (printed by the student's own code, which runs in the same
kernel as the tests, or in a traceback) is replaced by ``[hidden test]``, and an
error whose traceback showed one keeps only its name and message. Nothing in either
file depends on when it was made, so exporting the same grading twice gives
identical files.
"""
from __future__ import annotations

import csv
import re
import warnings
from pathlib import Path

import nbformat

from .grade import Workspace

_HIDDEN = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS[ \t]*\n?", re.S | re.M)
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
REDACTED = "[hidden test]"


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


def hidden_lines(source: nbformat.NotebookNode) -> list[str]:
    """The lines of the source's hidden tests (markers included) long enough to be told from ordinary code,
    longest first."""
    lines = {line.strip() for cell in source.cells if cell.cell_type == "code"
             for region in _HIDDEN.findall(cell.source) for line in region.splitlines()}
    return sorted((line for line in lines if len(line) >= 12), key=lambda line: (-len(line), line))


def _scrub(text: str, hidden: list[str]) -> str:
    """``text`` with every hidden line replaced by REDACTED (and its colours dropped if it had one)."""
    plain = _ANSI.sub("", text)
    if not any(line in plain for line in hidden):
        return text
    for line in hidden:
        plain = plain.replace(line, REDACTED)
    return plain


def without_hidden_tests(nb: nbformat.NotebookNode, release: nbformat.NotebookNode,
                         hidden: list[str] = ()) -> nbformat.NotebookNode:
    """A copy of an autograded notebook that shows no hidden test, not even through a traceback.

    ``hidden`` (see ``hidden_lines``) are scrubbed from the outputs of every cell."""
    visible = {c.metadata.nbgrader["grade_id"]: c.source for c in release.cells
               if c.get("metadata", {}).get("nbgrader", {}).get("grade")}
    nb = nbformat.reads(nbformat.writes(nb), as_version=4)  # a copy
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        for output in cell.get("outputs", []):  # live widgets get random element ids; keep their text
            output.get("data", {}).pop("application/vnd.jupyter.widget-view+json", None)
            _scrub_output(output, hidden)
        if not meta.get("grade") or cell.cell_type != "code":
            continue
        cell.source = visible.get(meta.get("grade_id"), _HIDDEN.sub("", cell.source))
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":  # the traceback would show the hidden test's lines
                message = output.get("evalue") or "a hidden check failed"
                output["traceback"] = [f"{output.get('ename', 'Error')}: {message}"]
    return nb


def _scrub_output(output: nbformat.NotebookNode, hidden: list[str]) -> None:
    if output.get("output_type") == "stream":
        output["text"] = _scrub(output.get("text", ""), hidden)
    for kind, value in output.get("data", {}).items():
        if isinstance(value, str) and kind.startswith("text/"):
            output["data"][kind] = _scrub(value, hidden)
    if output.get("output_type") == "error":
        output["evalue"] = _scrub(output.get("evalue", ""), hidden)
        if any(_scrub(line, hidden) != line for line in output.get("traceback", [])):
            output["traceback"] = [f"{output.get('ename', 'Error')}: {output['evalue']}"]


def _feedback(autograded: Path, ws: Workspace, assignment: str, student: str, scores: dict, submission,
              out: Path) -> Path:
    from nbconvert import HTMLExporter

    release = nbformat.read(ws.path / "release" / assignment / f"{assignment}.ipynb", as_version=4)
    source = nbformat.read(ws.path / "source" / assignment / f"{assignment}.ipynb", as_version=4)
    nb = without_hidden_tests(nbformat.read(autograded, as_version=4), release, hidden_lines(source))
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
