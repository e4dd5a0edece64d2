"""Grade submissions in a worker process: ``python -m autograder.worker``.

The parent (``autograder.grade``) writes TASK.json and the submitted file into a
scratch folder and sends the path of TASK.json on the worker's standard input,
one line per submission; the worker writes RESULT.json beside it (atomically)
and waits for the next. A worker serves many submissions in a row, so its
imports are paid once; each submission still gets a fresh kernel process, and
the parent replaces a worker that crashed or ran out of time. For each one:

1. reads the notebook and labels it ``malformed`` if it is not a valid notebook of
   format 4 (nothing runs then);
2. compares its test cells with the release: deleted, duplicated or edited test
   cells and changed metadata (points, ids) are flagged; a duplicated or unknown
   nbgrader cell becomes an ordinary cell (nbgrader itself would fail on it, which
   would cost the student every point); code of the student's that reaches into
   the grader, the kernel or Python's internals is flagged too (``source_flags``);
3. runs nbgrader's own Autograde converter in a scratch course root, with a copy
   of the assignment's gradebook, in the guarded kernel (``autograder.kernel``);
   ``SafeExecute`` gives the whole notebook a deadline and, when the kernel dies,
   stops answering or time runs out, or once the guard has found tampering, marks
   the cells that did not run as failed, so the points earned before are kept and
   no later test is passed by default;
4. writes RESULT.json: status, flags, the score of every graded cell (read back
   from the scratch gradebook) and the autograded notebook.

The worker never opens the workspace's gradebook: only the parent writes it.
"""
from __future__ import annotations

import json
import logging
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbgrader.preprocessors import Execute
from traitlets import Float

from .guard import MARK, source_hash
from .kernel import KERNEL_NAME, write_kernelspec


class SafeExecute(Execute):
    """nbgrader's Execute with a deadline for the whole notebook and no points for cells that never ran."""

    total_timeout = Float(600.0, help="seconds for the whole notebook").tag(config=True)
    sandbox = ""  # the kernel's working folder, set by the worker

    def preprocess(self, nb, resources=None, km=None):
        resources = resources or {}
        resources.setdefault("metadata", {})["path"] = self.sandbox  # not the autograded/<student>/ folder
        self._deadline = time.monotonic() + self.total_timeout
        self._cell_timeout = self.timeout
        self.stopped: str | None = None
        self.tampered = False
        try:
            return super().preprocess(nb, resources, km)
        except (DeadKernelError, RuntimeError) as err:  # the kernel died between cells or at start
            self.stopped = self.stopped or f"crashed: {str(err).splitlines()[0][:200] if str(err) else type(err).__name__}"
            for cell in nb.cells:
                if cell.cell_type == "code" and not cell.get("execution_count") and not cell.outputs:
                    _not_run(cell, self.stopped)
            return nb, resources

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        remaining = self._deadline - time.monotonic()
        if self.stopped is None and remaining <= 0:
            self.stopped = f"timed out: the notebook ran past its {self.total_timeout:.0f} s"
        if self.stopped or self.tampered:
            _not_run(cell, self.stopped or "the guard found tampering in an earlier cell")
            return cell, resources
        self.timeout = max(1, int(min(self._cell_timeout, remaining)))
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            self.stopped = "crashed: the kernel died while running this cell"
            _not_run(cell, self.stopped)
            raise
        except CellTimeoutError:  # a reply without its output: the kernel no longer answers
            self.stopped = "timed out: the kernel stopped answering"
            _not_run(cell, self.stopped)
            return cell, resources
        if any(o.get("ename") == "CellTimeoutError" for o in cell.outputs):
            self.stopped = f"timed out: a cell ran past {self.timeout} s"
        # The guard fails every later cell itself; this holds even if the kernel was made to skip them.
        self.tampered = any(f"{MARK} tampering" in (o.get("text") or "") for o in cell.outputs)
        return cell, resources


def _not_run(cell, reason: str) -> None:
    cell.outputs = [nbformat.v4.new_output("error", ename="NotRun", evalue=f"not run: {reason}",
                                           traceback=[f"NotRun: this cell did not run ({reason})"])]


def structure_flags(submitted: nbformat.NotebookNode, release: nbformat.NotebookNode) -> list[str]:
    """What the student changed in the cells they must not change (compared with the release)."""
    def graded(nb):
        cells = {}
        for cell in nb.cells:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if isinstance(meta, dict) and (meta.get("grade") or meta.get("locked")):
                cells.setdefault(meta.get("grade_id"), []).append(cell)
        return cells

    flags, mine, theirs = [], graded(release), graded(submitted)
    for grade_id, (cell,) in mine.items():
        copies = theirs.get(grade_id, [])
        if not copies:
            flags.append(f"test cell {grade_id} was deleted (or its metadata removed)")
            continue
        if len(copies) > 1:
            flags.append(f"test cell {grade_id} was duplicated")
        got = copies[0]
        if not cell.metadata["nbgrader"].get("solution") and got.source.strip() != cell.source.strip():
            flags.append(f"test cell {grade_id} was edited")
        want, have = cell.metadata["nbgrader"], got.metadata.get("nbgrader", {})
        for key in ("points", "grade", "solution", "locked", "cell_type"):
            if want.get(key) != have.get(key):
                flags.append(f"metadata {key!r} of cell {grade_id} was changed")
    flags += [f"unknown nbgrader cell {grade_id!r} was added" for grade_id in unknown_cells(submitted, release)]
    return flags


def _nbgrader_ids(nb: nbformat.NotebookNode) -> list:
    return [c.metadata["nbgrader"].get("grade_id") if isinstance(c.metadata["nbgrader"], dict) else None
            for c in nb.cells if "nbgrader" in c.get("metadata", {})]


def unknown_cells(submitted: nbformat.NotebookNode, release: nbformat.NotebookNode) -> list:
    """The ids of the submission's nbgrader cells that the release does not have (None: no id)."""
    known = set(_nbgrader_ids(release)) - {None}
    return [grade_id for grade_id in _nbgrader_ids(submitted) if grade_id not in known]


def ordinary_extra_cells(nb: nbformat.NotebookNode, release: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Drop the nbgrader metadata of unknown cells and of every copy but the first of a cell.

    nbgrader fails on both (it empties a duplicate's metadata, or removes an unknown cell's
    id, then finds the metadata invalid). The first copy is graded and its test restored
    from the gradebook as usual; a test cell the release has and the submission lacks is
    put back by nbgrader itself.
    """
    known, seen = set(_nbgrader_ids(release)) - {None}, set()
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader")
        if meta is None:
            continue
        grade_id = meta.get("grade_id") if isinstance(meta, dict) else None
        if grade_id not in known or grade_id in seen:
            del cell.metadata["nbgrader"]
        seen.add(grade_id)
    return nb


def read_notebook(data: bytes) -> tuple[nbformat.NotebookNode | None, str | None]:
    """The notebook, or None and why it is malformed."""
    try:
        raw = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        return None, f"not valid notebook JSON ({type(err).__name__}: {str(err)[:120]})"
    if not isinstance(raw, dict) or raw.get("nbformat") != 4:
        return None, f"not a notebook of format 4 (nbformat = {raw.get('nbformat') if isinstance(raw, dict) else '?'})"
    try:
        nb = nbformat.reads(data.decode("utf-8"), as_version=4)  # joins multi-line sources
        nbformat.validate(nb)
    except Exception as err:  # nbformat's ValidationError and friends
        return None, f"not a valid notebook ({type(err).__name__}: {str(err).splitlines()[0][:120]})"
    return nb, None


# What a course notebook has no need for and a way around the guard needs: the guard cannot see every
# such way (code in the kernel can reach the guard itself), so a person reads the code that uses one.
_SUSPICIOUS = re.compile(
    r"__(?:closure|globals|code|wrapped|subclasses|builtins|import)__|_getframe|\bf_(?:back|locals|globals)\b"
    r"|\btb_frame\b|\bgc\.get_|\bctypes\b|\bcffi\b|ipykernel|jupyter_client|\bzmq\b|get_ipython|\bbuiltins\b"
    r"|\bsys\.modules\b|\bimportlib\b|(?<![\w.])(?:exec|eval|compile)\s*\(|\bsqlite3\b|\bsubprocess\b|\bsocket\b"
    r"|\bautograder\b|course_utils\.reference|\bREGISTRY\b|NBGRADER|\bos\._exit\b|addaudithook|set(?:trace|profile)\b")


def source_flags(submitted: nbformat.NotebookNode, source: nbformat.NotebookNode) -> list[str]:
    """A review note naming what of the above the student's own code cells use (none: no note)."""
    theirs = set(instructor_cells(source))
    found = sorted({m.group(0).strip("( ") for cell in submitted.cells if cell.cell_type == "code"
                    and source_hash(cell.source) not in theirs for m in _SUSPICIOUS.finditer(cell.source)})
    return [f"the student's code uses {', '.join(found)}: read it"] if found else []


def instructor_cells(source: nbformat.NotebookNode) -> list[str]:
    """Hashes of the code cells students do not write: everything but solution cells."""
    return sorted(source_hash(c.source) for c in source.cells
                  if c.cell_type == "code" and not c.get("metadata", {}).get("nbgrader", {}).get("solution"))


def grade(task: dict) -> dict:
    """Grade the submission described by ``task`` (see ``autograder.grade``); returns the result."""
    assignment, student, notebook = task["assignment"], task["student"], task["notebook"]
    data = Path(task["submission"]).read_bytes()
    result = {"student": student, "assignment": assignment, "sha256": task["sha256"], "flags": [],
              "scores": {}, "status": "graded", "autograded": None}
    nb, problem = read_notebook(data)
    if nb is None:
        return dict(result, status="malformed", flags=[problem])
    release = nbformat.read(task["release_notebook"], as_version=4)
    source = nbformat.read(task["source_notebook"], as_version=4)
    result["flags"] += structure_flags(nb, release) + source_flags(nb, source)
    nb = ordinary_extra_cells(nb, release)

    scratch = Path(tempfile.mkdtemp(prefix="course-worker-"))
    sandbox = Path(tempfile.mkdtemp())  # a plain name: nothing in the path says "grading"
    try:
        course = scratch / "course"
        submitted = course / "submitted" / student / assignment
        submitted.mkdir(parents=True)
        nbformat.write(nb, submitted / f"{notebook}.ipynb")
        shutil.copytree(task["source_folder"], course / "source" / assignment)
        shutil.copy(task["gradebook"], course / "gradebook.db")
        policy = scratch / "policy.json"
        policy.write_text(json.dumps({
            "sandbox": str(sandbox), "assignment": assignment, "memory_mb": task["memory_mb"],
            "worker_pid": os.getpid(),
            "cpu_seconds": int(task["timeout"] * 2), "max_output": 200_000,
            "instructor_cells": instructor_cells(source)}))
        write_kernelspec(scratch, policy)
        os.environ["JUPYTER_PATH"] = str(scratch)
        executor = _autograde(course, assignment, student, sandbox, task["timeout"])
        autograded = nbformat.read(course / "autograded" / student / assignment / f"{notebook}.ipynb", as_version=4)
        result["autograded"] = nbformat.writes(autograded)
        result["scores"] = _scores(course, assignment, student, notebook)
        if executor.stopped:
            result["status"] = executor.stopped.split(":")[0]
            result["flags"].append(executor.stopped)
        result["flags"] += _guard_notes(autograded)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.rmtree(sandbox, ignore_errors=True)
    return result


def _autograde(course: Path, assignment: str, student: str, sandbox: Path, timeout: float) -> SafeExecute:
    from nbgrader.converters import Autograde
    from nbgrader.coursedir import CourseDirectory

    from .config import nbgrader_config, startup_timeout, use_own_scripts

    use_own_scripts()
    config = nbgrader_config(course, db_url=f"sqlite:///{course / 'gradebook.db'}")
    config.CourseDirectory.source_directory = "source"
    config.Execute.kernel_name = KERNEL_NAME
    config.Execute.timeout = int(timeout)
    config.Execute.startup_timeout = startup_timeout(timeout)
    config.SafeExecute.total_timeout = float(timeout)
    coursedir = CourseDirectory(config=config)
    coursedir.assignment_id, coursedir.student_id = assignment, student
    converter = Autograde(coursedir=coursedir, config=config)
    converter.autograde_preprocessors = [SafeExecute if p is Execute else p for p in converter.autograde_preprocessors]
    converter.force = True
    converter.log.setLevel(logging.ERROR)
    SafeExecute.sandbox = str(sandbox)
    executors: list[SafeExecute] = []
    original = converter._init_preprocessors

    def remember():  # keep the SafeExecute instance to read why it stopped
        original()
        executors.extend(p for p in converter.exporter._preprocessors if isinstance(p, SafeExecute))

    converter._init_preprocessors = remember
    converter.start()
    return executors[-1]


def _scores(course: Path, assignment: str, student: str, notebook: str) -> dict[str, list]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        submission = gb.find_submission_notebook(notebook, assignment, student)
        return {g.name: [g.auto_score, g.max_score, bool(g.needs_manual_grade)] for g in submission.grades}


def _guard_notes(nb: nbformat.NotebookNode) -> list[str]:
    notes = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            text = output.get("text", "") if output.get("output_type") == "stream" else ""
            notes += [line.strip() for line in text.splitlines() if line.startswith(MARK)]
    return sorted(set(notes), key=notes.index)


def serve_one(task_file: Path) -> None:
    task = json.loads(task_file.read_text())
    try:
        result = grade(task)
    except Exception as err:  # a bug or an nbgrader failure: say so, the parent records it
        import traceback

        result = {"student": task["student"], "assignment": task["assignment"], "sha256": task["sha256"],
                  "status": "crashed", "flags": [f"the grader failed: {type(err).__name__}: {err}"],
                  "scores": {}, "autograded": None, "error": traceback.format_exc()[-4000:]}
    tmp = task_file.with_name("result.json.tmp")
    tmp.write_text(json.dumps(result))
    tmp.replace(task_file.with_name("result.json"))  # the parent sees a whole result or none


def main() -> None:
    if len(sys.argv) > 1:  # one task given on the command line
        serve_one(Path(sys.argv[1]))
        return
    for line in sys.stdin:  # one task file per line, until the parent closes the pipe
        if line.strip():
            serve_one(Path(line.strip()))


if __name__ == "__main__":
    main()
