"""autograder.kernel.isolate: nothing a grading kernel starts outlives it, and its /dev/shm is its own.

A small program forks a daemon the way a submission could (fork, setsid, fork again), writes a file into
/dev/shm, and exits. Run plainly, the daemon and the file outlive it: that is what the test must be able to
see. Run after isolate(), as the grading kernel does, neither does.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from conftest import ROOT

PROGRAM = f'''
import os, sys, time
sys.path.insert(0, {str(ROOT)!r})
from autograder.kernel import isolate
if sys.argv[1] == "isolated" and not isolate():
    print("no isolation here")
    sys.exit(0)
with open("/dev/shm/" + sys.argv[2], "w") as f:
    f.write("left behind?")
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1), os.dup2(null, 2)  # let go of the pipes the test reads
        time.sleep(120)
    os._exit(0)
time.sleep(0.5)
print("done")
'''


def daemons(marker: str) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and f"COURSE_PROBE={marker}".encode() in (proc / "environ").read_bytes():
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def run(mode: str) -> tuple[str, str]:
    marker = uuid.uuid4().hex
    done = subprocess.run([sys.executable, "-c", PROGRAM, mode, f"course-probe-{marker}"], capture_output=True,
                          text=True, timeout=60, env=dict(os.environ, COURSE_PROBE=marker))
    assert done.returncode == 0, done.stderr
    return marker, done.stdout


def cleanup(marker: str) -> None:
    for pid in daemons(marker):
        os.kill(pid, signal.SIGKILL)
    Path(f"/dev/shm/course-probe-{marker}").unlink(missing_ok=True)


def test_plainly_a_daemon_and_shared_memory_outlive_the_program():
    marker, _ = run("plain")
    try:
        assert daemons(marker) and Path(f"/dev/shm/course-probe-{marker}").exists()
    finally:
        cleanup(marker)


def test_isolated_nothing_outlives_the_program():
    marker, out = run("isolated")
    try:
        if "no isolation here" in out:
            pytest.skip("this machine allows neither a PID namespace nor a user namespace")
        assert "done" in out
        deadline = time.monotonic() + 5
        while daemons(marker) and time.monotonic() < deadline:  # SIGKILL takes a moment
            time.sleep(0.1)
        assert daemons(marker) == []
        assert not Path(f"/dev/shm/course-probe-{marker}").exists()
    finally:
        cleanup(marker)
