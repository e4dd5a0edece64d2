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
   cells, changed metadata (points, ids) and changed cell types are flagged; every
   cell the release knows gets the release's nbgrader metadata and cell type back,
   and a duplicated or unknown nbgrader cell becomes an ordinary cell (nbgrader
   itself would fail on either, which would cost the student every point); code of
   the student's that reaches into the grader, the kernel or Python's internals is
   flagged too (``source_flags``);
3. runs nbgrader's own Autograde converter in a scratch course root, with a copy
   of the assignment's gradebook, in the guarded kernel (``autograder.kernel``),
   which imports the students' copy of ``course_utils`` (this assignment's answers
   and later ones are stubs); ``SafeExecute`` gives the whole notebook a deadline,
   caps every cell's output of every kind and, when the kernel dies, stops
   answering or time runs out, or once the guard has found tampering, marks the
   cells that did not run as failed, so the points earned before are kept and no
   later test is passed by default;
4. decides the points itself (``decide``): a hidden test by its judge, run here on
   what the kernel handed over (``autograder.judging``); a visible check by whether
   its cell ran without an error. What nbgrader read from the cells' outputs (an
   ``execute_result`` the student printed, say) counts for nothing. Hidden test
   cells keep one fixed line of output: passed, or the name of the failed check;
5. writes RESULT.json: status, flags (fixed texts: nothing a student printed), the
   score of every graded cell and the autograded notebook.

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
from .judging import Judge, Verdict, hidden_cells
from .kernel import HAND_OVER, KERNEL_NAME, POLICY, write_kernelspec

_OUTPUT_MESSAGES = ("stream", "display_data", "execute_result", "update_display_data")
_SAFE_NAME = re.compile(r"^[\w.\- ]{1,80}$")


class SafeExecute(Execute):
    """nbgrader's Execute with a deadline for the whole notebook and no points for cells that never ran."""

    total_timeout = Float(600.0, help="seconds for the whole notebook").tag(config=True)
    max_cell_output = 2_000_000  # characters of output (of every kind) one cell may keep
    max_output = 12_000_000  # ... and the whole notebook
    sandbox = ""  # the kernel's working folder, set by the worker

    def preprocess(self, nb, resources=None, km=None):
        resources = resources or {}
        resources.setdefault("metadata", {})["path"] = self.sandbox  # not the autograded/<student>/ folder
        self._deadline = time.monotonic() + self.total_timeout
        self._cell_timeout = self.timeout
        self.stopped: str | None = None
        self.tampered = False
        self.capped: list[int] = []
        self.checked: set[str] = set()  # graded cells that printed a ✔ line
        self._used: dict[int, int] = {}
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
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade") and any(line.startswith("\u2714") for o in cell.outputs if o.get("output_type") == "stream"
                                     and o.get("name") == "stdout" for line in o.get("text", "").splitlines()):
            self.checked.add(meta.get("grade_id"))  # before nbgrader's LimitOutput may cut the closing ✔ line
        if meta.get("grade"):
            # nbgrader would read a graded cell's execute_result as partial credit (and fail the whole
            # submission on one above the cell's points): the student's code decides no points.
            for output in cell.outputs:
                if output.get("output_type") == "execute_result":
                    output["output_type"] = "display_data"
                    output.pop("execution_count", None)
        return cell, resources


    def process_message(self, msg, cell, cell_index):
        """Outputs past the cell's or the notebook's budget are dropped (an error is only shortened)."""
        kind, content = msg.get("msg_type"), msg.get("content") or {}
        if kind == "error":
            content["evalue"] = str(content.get("evalue", ""))[:2000]
            content["traceback"] = [str(line)[:2000] for line in content.get("traceback", [])[:40]]
        elif kind in _OUTPUT_MESSAGES:
            size = len(json.dumps(content, default=str))
            used = self._used.get(cell_index, 0) + size
            if used > self.max_cell_output or sum(self._used.values()) + size > self.max_output:
                if cell_index not in self.capped:
                    self.capped.append(cell_index)
                    cell.outputs.append(nbformat.v4.new_output(
                        "stream", name="stderr", text=f"{MARK} output cut: over the grader's limit\n"))
                return None
            self._used[cell_index] = used  # only what is kept counts
        return super().process_message(msg, cell, cell_index)


def _not_run(cell, reason: str) -> None:
    cell.outputs = [nbformat.v4.new_output("error", ename="NotRun", evalue=f"not run: {reason}",
                                           traceback=[f"NotRun: this cell did not run ({reason})"])]


def _nbgrader(cell) -> dict | None:
    meta = cell.get("metadata", {}).get("nbgrader")
    return meta if isinstance(meta, dict) else ({} if meta is not None else None)


def _name(grade_id) -> str:
    """A grade id as it may appear in a flag: only if it looks like one (it is the student's text)."""
    return repr(grade_id) if isinstance(grade_id, str) and _SAFE_NAME.match(grade_id) else "(a strange id)"


def restore_structure(submitted: nbformat.NotebookNode, release: nbformat.NotebookNode
                      ) -> tuple[nbformat.NotebookNode, list[str]]:
    """The submission with the release's structure put back, and what the student changed, as flags.

    Every nbgrader cell of the release is matched with one cell of the submission (the one with the same
    grade id and, among copies, the same cell id, else the first); that cell gets the release's nbgrader
    metadata and cell type back, so nbgrader grades it as released (a test cell turned into markdown, an
    exercise that claims points). A copy of a cell, or a cell with an id the release does not know, becomes
    an ordinary cell: nbgrader would fail on it and cost the student every point. nbgrader itself then puts
    back the source of every test cell and any test cell that is missing.
    """
    mine = {meta["grade_id"]: cell for cell in release.cells if (meta := _nbgrader(cell)) and meta.get("grade_id")}
    copies: dict[str, list] = {}
    for cell in submitted.cells:
        meta = _nbgrader(cell)
        if meta is not None:
            copies.setdefault(meta.get("grade_id"), []).append(cell)
    flags = []
    for grade_id, cells in copies.items():
        if grade_id not in mine:
            flags.append(f"unknown nbgrader cell {_name(grade_id)} was added")
            for cell in cells:
                del cell.metadata["nbgrader"]
    for grade_id, want in mine.items():
        cells = copies.get(grade_id, [])
        meta = want.metadata["nbgrader"]
        test = not meta.get("solution") and bool(meta.get("grade") or meta.get("locked"))
        if not cells:
            flags.append(f"{'test' if test else 'nbgrader'} cell {grade_id} was deleted (or its metadata removed)")
            continue
        got = next((c for c in cells if c.get("id") and c.get("id") == want.get("id")), cells[0])
        if len(cells) > 1:
            flags.append(f"{'test' if test else 'nbgrader'} cell {grade_id} was duplicated")
        for other in cells:
            if other is not got:
                del other.metadata["nbgrader"]
        have = _nbgrader(got)
        for key in ("points", "grade", "solution", "locked"):
            if have.get(key) != meta.get(key):
                flags.append(f"metadata {key!r} of cell {grade_id} was changed")
        if got.cell_type != want.cell_type:
            flags.append(f"cell {grade_id} was turned into a {got.cell_type} cell")
            got.cell_type = want.cell_type
            if want.cell_type == "code":
                got.setdefault("outputs", [])
                got.setdefault("execution_count", None)
            else:
                got.pop("outputs", None)
                got.pop("execution_count", None)
        elif test and got.source.strip() != want.source.strip():
            flags.append(f"test cell {grade_id} was edited")
        got.metadata["nbgrader"] = nbformat.from_dict(json.loads(json.dumps(meta)))
    return submitted, flags


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
    r"|\bautograder\b|course_utils\.(?:reference|answers)|\bREGISTRY\b|NBGRADER|\bos\._exit\b|addaudithook"
    r"|set(?:trace|profile)\b|\blinecache\b|\b_ih\b|(?<![\w.])In\[|\binspect\.|\bHAND_OVER\b|\.hand-over")


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
              "scores": {}, "status": "graded", "autograded": None, "details": {}}
    nb, problem = read_notebook(data)
    if nb is None:
        return dict(result, status="malformed", flags=[problem])
    release = nbformat.read(task["release_notebook"], as_version=4)
    source = nbformat.read(task["source_notebook"], as_version=4)
    judge = _judge(source, Path(task["source_folder"]), assignment)
    nb, flags = restore_structure(nb, release)
    result["flags"] += flags + source_flags(nb, source)

    scratch = Path(tempfile.mkdtemp(prefix="course-worker-"))
    sandbox = Path(tempfile.mkdtemp())  # plain names: nothing in the paths says "grading"
    package = Path(tempfile.mkdtemp())
    try:
        course = scratch / "course"
        submitted = course / "submitted" / student / assignment
        submitted.mkdir(parents=True)
        nbformat.write(nb, submitted / f"{notebook}.ipynb")
        shutil.copytree(task["source_folder"], course / "source" / assignment)
        shutil.copy(task["gradebook"], course / "gradebook.db")
        shutil.copytree(task["package"], package / "course_utils")  # the students' copy, answers stubbed
        (sandbox / POLICY).write_text(json.dumps({
            "sandbox": str(sandbox), "package": str(package), "memory_mb": task["memory_mb"],
            "worker_pid": os.getpid(), "cpu_seconds": int(task["timeout"] * 2), "max_output": 200_000,
            "instructor_cells": instructor_cells(source), "hidden_cells": hidden_cell_hashes(source)}))
        write_kernelspec(scratch)
        os.environ["JUPYTER_PATH"] = str(scratch)
        executor = _autograde(course, assignment, student, sandbox, task["timeout"])
        autograded = nbformat.read(course / "autograded" / student / assignment / f"{notebook}.ipynb", as_version=4)
        verdicts = judge.verdicts(sandbox / HAND_OVER)
        guard_notes = _guard_notes(autograded)  # before decide() replaces the hidden cells' outputs
        raw_notes = [line[:300] for c in autograded.cells for o in c.get("outputs", [])
                     for line in (o.get("text") or "").splitlines() if line.startswith(MARK)][:20]
        result["scores"] = decide(autograded, _scores(course, assignment, student, notebook), verdicts,
                                  executor.checked)
        result["details"] = {g: v.detail for g, v in verdicts.items() if v.detail}
        if raw_notes:  # the guard's own words, for the instructor's history only (the student can forge them)
            result["details"]["guard"] = raw_notes
        result["autograded"] = nbformat.writes(autograded)
        if executor.stopped:
            result["status"] = executor.stopped.split(":")[0]
            result["flags"].append(executor.stopped)
        result["flags"] += [f"output of cell {i} was cut at the grader's limit" for i in executor.capped]
        result["flags"] += guard_notes
    finally:
        for folder in (scratch, sandbox, package):
            shutil.rmtree(folder, ignore_errors=True)
    return result


_JUDGES: dict[tuple, Judge] = {}


def _judge(source: nbformat.NotebookNode, folder: Path, assignment: str) -> Judge:
    """The judge of an assignment's source: built once per worker (it computes the reference observations)."""
    key = (assignment, source_hash(nbformat.writes(source)), source_hash((folder / "judges.py").read_text())
           if (folder / "judges.py").exists() else None)
    if key not in _JUDGES:
        _JUDGES[key] = Judge(source, folder, assignment)
    return _JUDGES[key]


def hidden_cell_hashes(source: nbformat.NotebookNode) -> list[str]:
    """Hashes of the hidden-test cells (as ``judging.hidden_cells`` finds them), whose source the guard
    removes from the kernel once they ran."""
    ids = set(hidden_cells(source))
    return sorted(source_hash(c.source) for c in source.cells
                  if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") in ids)


def decide(nb: nbformat.NotebookNode, scores: dict[str, list], verdicts: dict[str, Verdict],
           checked: set[str]) -> dict[str, list]:
    """The points of every autograded cell, decided here; the outputs of hidden test cells replaced.

    A hidden test earns its points when its cell ran to the end and its judge passed the observations it
    handed over (or the judge's share of them, ``Verdict.fraction``, for partial credit); a visible check, when its cell ran without an error to its closing ✔ line (``checked``: the
    grade ids of the cells that printed one, as the executor saw them). Written answers are left to a person.
    """
    decided = {name: list(entry) for name, entry in scores.items()}
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        grade_id = meta.get("grade_id")
        if cell.cell_type != "code" or not meta.get("grade") or grade_id not in decided:
            continue
        ran = not any(o.get("output_type") == "error" for o in cell.get("outputs", []))
        if grade_id in verdicts:
            verdict = verdicts[grade_id]
            earned = verdict.earned if ran else 0.0
            message = verdict.message if ran or not verdict.earned else "✘ hidden tests: the cell did not run to the end"
            if not ran and any(o.get("ename") == "NotRun" for o in cell.get("outputs", [])):
                message = "✘ hidden tests: the cell did not run (see the cells above)"
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=message + "\n")]
        else:  # ran to its last line, checks.ok(...): an exception swallowed half-way prints no ✔
            earned = 1.0 if ran and grade_id in checked else 0.0
        decided[grade_id][0] = round(float(meta.get("points", 0)) * earned, 2)
    return decided


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
    """What the guard reported, as fixed texts naming the cell: a line in a cell's output is the student's
    to forge, so only its kind and a name that looks like one are kept."""
    notes = []
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if output.get("ename") == "ReferenceNotReleased":
                notes.append(f"cell {index} called a course_utils answer that is not released")
            text = output.get("text", "") if output.get("output_type") == "stream" else ""
            for line in text.splitlines():
                if not line.startswith(MARK) or line.startswith(f"{MARK} output cut"):  # the worker's own
                    continue
                found = re.match(r"\[grader\] (tampering|blocked): ((?:class )?[\w.]{1,60})?", line)
                kind = found.group(1) if found else "note"
                what = f": {found.group(2)}" if found and found.group(2) else ""
                notes.append(f"guard, cell {index}: {kind}{what}" if found else
                             f"guard, cell {index}: a note of the guard (read the cell)")
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
