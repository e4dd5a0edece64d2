"""A worker that hangs is the grader's failure: it is killed with its kernel and its submission graded again.

The notebook's own deadline lives inside the worker (``SafeExecute``); the parent's
deadline only catches a worker that hangs outside the notebook (a kernel that never
finishes starting on an overloaded machine, nbgrader stuck). Here the parent's
deadline is made shorter than the notebook so that it fires while a kernel runs, and
a worker is killed while its kernel is still starting, the case CI once met: there,
orphans go to a reaper that is not PID 1, which ipykernel's own parent poller misses.
"""
from __future__ import annotations

import ctypes
import os
import time
from pathlib import Path

import nbformat

from autograder import grade as grading
from conftest import ROOT
from autograder.submissions import collect
from test_grading import A, RELEASE, leftover_processes, write_submissions

PR_SET_CHILD_SUBREAPER = 36


def sleepy_submission(folder: Path) -> None:
    nb = nbformat.read(RELEASE, as_version=4)
    setup = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    nb.cells.insert(setup + 1, nbformat.v4.new_code_cell("import time\ntime.sleep(600)"))
    write_submissions(folder, {"s-sleepy": nb})


def kernels(tmp: Path) -> list[str]:
    return [p for p in leftover_processes(tmp) if "autograder.kernel" in p]


def gone(tmp: Path, within: float = 10) -> list[str]:
    """The processes still there after ``within`` seconds (a SIGKILLed process needs a moment)."""
    deadline = time.monotonic() + within
    while leftover_processes(tmp) and time.monotonic() < deadline:
        time.sleep(0.2)
    return leftover_processes(tmp)


def test_a_worker_killed_while_its_kernel_starts_takes_the_kernel_with_it(tmp_path, monkeypatch):
    tmp = tmp_path / "t"
    tmp.mkdir()
    sleepy_submission(tmp_path / "subs")
    monkeypatch.setenv("TMPDIR", str(tmp))
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0  # orphans come to us, not to PID 1
    worker = grading.Worker()
    try:
        ws = grading.Workspace(tmp_path / "ws")
        ws.path.mkdir()
        ws.prepare(ROOT, A)
        (submission,) = collect(tmp_path / "subs", A).submissions
        worker.start(submission, ws.task(A, timeout=600, memory_mb=1500))
        deadline = time.monotonic() + 120
        while not kernels(tmp) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert kernels(tmp), "no kernel started within two minutes"
        worker.stop()  # the kernel is still importing torch: ipykernel's poller is not running yet
        assert gone(tmp) == []
    finally:
        worker.stop()
        libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
        while True:  # reap what came to us
            try:
                if os.waitpid(-1, os.WNOHANG) == (0, 0):
                    break
            except ChildProcessError:
                break


def test_a_stopped_worker_is_retried_once_and_leaves_no_kernel_behind(tmp_path, monkeypatch):
    tmp = tmp_path / "t"
    tmp.mkdir()
    sleepy_submission(tmp_path / "subs")
    timeout = 600  # the notebook may run for ten minutes...
    monkeypatch.setattr(grading, "startup_timeout", lambda t: 20 - t - 60)  # ...the worker for 20 s
    monkeypatch.setenv("TMPDIR", str(tmp))
    logs: list[str] = []
    start = time.monotonic()
    _, outcomes = grading.grade(ROOT, A, tmp_path / "subs", tmp_path / "ws", jobs=1, timeout=timeout,
                                memory_mb=1500, log=logs.append)
    elapsed = time.monotonic() - start
    (outcome,) = outcomes
    assert (outcome.status, outcome.score, outcome.flags) == ("timed out", 0, ["timed out: the worker was stopped"])
    assert sum("grading it again" in line for line in logs) == 1, logs
    assert 40 <= elapsed < 150, elapsed  # two tries of 20 s each, not one, not ten minutes
    assert gone(tmp) == []
    history = (tmp_path / "ws" / "history.jsonl").read_text().splitlines()
    assert len(history) == 1 and "worker_failed" not in history[0]  # one grading recorded, not the retry
    assert not any(Path(p).name.startswith("course-task-") for p in os.listdir(tmp))
