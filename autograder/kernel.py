"""The grading kernel: an IPython kernel that runs a submission inside limits.

    python -m autograder.kernel POLICY.json -f CONNECTION_FILE

Before IPython starts, it reads its policy (written by the worker, outside the
sandbox), sets resource limits (memory, CPU time, file size, no core dumps),
replaces the environment by a plain one that says nothing about grading, moves
into its sandbox folder and installs the guard (``autograder.guard``). Where Linux
offers Landlock (5.13 and later), the operating system then holds the process and
anything it starts to the guard's folders (read: Python, the course package, system
files; write: the sandbox), with no outgoing TCP connection and no signal to other
processes, whatever code runs in it: SQLite, torch's C++ file functions or a
neutralised guard cannot reach the workspace, the hidden tests or another student's
grading. Then it starts ipykernel as usual, with an ordinary-looking command line.
"""
from __future__ import annotations

import json
import os
import resource
import signal
import sys
from pathlib import Path

KERNEL_NAME = "course-grader"
# What the kernel keeps of the worker's environment; everything else (NBGRADER_*, COURSE_DATA, ...) goes.
KEEP = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "JPY_PARENT_PID", "VIRTUAL_ENV", "SYSTEMROOT")


def write_kernelspec(folder: Path, policy_file: Path) -> Path:
    """Write a kernelspec named KERNEL_NAME under ``folder`` (put ``folder`` on JUPYTER_PATH)."""
    spec = folder / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "autograder.kernel", str(policy_file), "-f", "{connection_file}"],
        "display_name": "Python 3 (ipykernel)", "language": "python"}))
    return spec


def limit_resources(memory_mb: int, cpu_seconds: int) -> None:
    memory = memory_mb * 2**20
    # RLIMIT_DATA caps allocations (heap and anonymous maps) without counting the shared
    # libraries torch maps, which a cap on the address space (RLIMIT_AS) would.
    resource.setrlimit(resource.RLIMIT_DATA, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 5))
    resource.setrlimit(resource.RLIMIT_FSIZE, (200 * 2**20, 200 * 2**20))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def plain_environment(sandbox: str) -> dict[str, str]:
    env = {k: os.environ[k] for k in KEEP if k in os.environ}
    tmp = os.path.join(sandbox, ".tmp")
    os.makedirs(tmp, exist_ok=True)
    env.update(HOME=sandbox, TMPDIR=tmp, MPLCONFIGDIR=os.path.join(sandbox, ".matplotlib"),
               PYTHONDONTWRITEBYTECODE="1", COURSE_FAST="1", COURSE_HEADLESS="1", TQDM_DISABLE="1", MPLBACKEND="module://matplotlib_inline.backend_inline",
               OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYDEVD_DISABLE_FILE_VALIDATION="1")
    return env


def confine(paths: dict[str, str]) -> bool:
    """Landlock: from now on this process (and any child) may open only ``paths``
    (path -> "read", "write" or "device": read and write files, as under /dev), and on
    kernels that support it, connect no TCP socket and signal no process outside it.
    Returns whether it is in force (False where Landlock is missing or refused)."""
    import ctypes

    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return False
    libc.syscall.restype = ctypes.c_long
    create, add_rule, restrict = 444, 445, 446  # landlock_* system calls: the same number on every architecture

    class Ruleset(ctypes.Structure):
        _fields_ = [("fs", ctypes.c_uint64), ("net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]

    class PathBeneath(ctypes.Structure):
        _pack_ = 1
        _fields_ = [("allowed", ctypes.c_uint64), ("fd", ctypes.c_int32)]

    abi = libc.syscall(create, None, 0, 1)  # LANDLOCK_CREATE_RULESET_VERSION
    if abi < 1:
        return False
    execute, write_file, read_file, read_dir = 1, 2, 4, 8
    handled = (1 << 13) - 1 | (1 << 13 if abi >= 2 else 0) | (1 << 14 if abi >= 3 else 0)  # to REFER, TRUNCATE
    file_rights = execute | write_file | read_file | (1 << 14 if abi >= 3 else 0)
    rights = {"read": read_file | read_dir, "device": read_file | read_dir | write_file,
              "write": handled & ~execute}
    attr = Ruleset(handled, 2 if abi >= 4 else 0, 3 if abi >= 6 else 0)  # CONNECT_TCP; SIGNAL, ABSTRACT_UNIX
    ruleset = libc.syscall(create, ctypes.byref(attr), 8 if abi < 4 else 16 if abi < 6 else 24, 0)
    if ruleset < 0:
        return False
    try:
        for path, kind in paths.items():
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue  # not on this machine
            try:
                allowed = rights[kind] & (handled if os.path.isdir(path) else file_rights)
                libc.syscall(add_rule, ruleset, 1, ctypes.byref(PathBeneath(allowed, fd)), 0)
            finally:
                os.close(fd)
        libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS, which Landlock requires
        return libc.syscall(restrict, ruleset, 0) == 0
    finally:
        os.close(ruleset)


def die_with_parent(parent: int) -> None:
    """Be killed when the worker that started this kernel dies, even while still starting up.

    jupyter_client starts kernels in their own session, so killing the worker's process
    group misses them, and ipykernel's own parent poller starts only once the imports are
    done (and looks for PID 1, which a container's reaper need not be).
    """
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # it died before the line above
        os._exit(1)


def main() -> None:
    policy_file, connection_args = sys.argv[1], sys.argv[2:]
    settings = json.loads(Path(policy_file).read_text())
    parent = settings.pop("worker_pid")  # not os.getppid(): the worker may be gone already
    die_with_parent(parent)
    limit_resources(settings.pop("memory_mb"), settings.pop("cpu_seconds"))
    sandbox = settings["sandbox"]
    os.environ.clear()
    os.environ.update(plain_environment(sandbox))
    os.chdir(sandbox)
    import tempfile

    tempfile.tempdir = None  # pick up the new TMPDIR

    # Import what the guard watches before it watches: the imports read files outside the sandbox.
    import ipykernel
    import ipykernel.kernelapp
    import matplotlib_inline.backend_inline  # noqa: F401
    import numpy  # noqa: F401
    import torch  # noqa: F401
    # scikit-learn's thread control (threadpoolctl) opens the BLAS and OpenMP libraries with ctypes
    # once and caches them: do it now, cheaply. torch._dynamo (which rewraps torch.manual_seed on
    # first import; optimizers import it) and torchvision (which opens its compiled ops with ctypes)
    # cost a second together, so they load when a notebook needs them and the guard knows both.
    import sklearn.linear_model  # noqa: F401
    import sklearn.manifold  # noqa: F401
    import threadpoolctl

    threadpoolctl.ThreadpoolController()

    import course_utils.checks  # noqa: F401
    from autograder.guard import Policy, install

    connection_file = connection_args[connection_args.index("-f") + 1]
    policy = Policy(sandbox=sandbox, assignment=settings["assignment"],
                    instructor_cells=set(settings["instructor_cells"]),
                    readable=[connection_file, *settings.get("readable", [])],
                    max_output=settings.get("max_output", 200_000))
    guard = install(policy)
    # Before any thread starts (Landlock binds the calling thread and what it starts later).
    confine({**{p: "read" for p in [*guard.read_roots, "/proc/self", "/proc/loadavg", "/proc/uptime", "/proc/sys",
                                    "/proc/driver"]},  # CUDA reads /proc/driver/nvidia
             "/dev": "device",
             **{p: "write" for p in [*guard.write_roots, "/dev/shm"]}})
    launcher = os.path.join(os.path.dirname(os.path.dirname(ipykernel.__file__)), "ipykernel_launcher.py")
    sys.argv = [launcher, *connection_args]  # looks like any kernel
    app = ipykernel.kernelapp.IPKernelApp.instance()
    app.initialize(connection_args + ["--HistoryManager.hist_file=:memory:", "--IPKernelApp.log_level=ERROR",
                                      f"--IPKernelApp.parent_handle={parent}"])  # exit if the worker dies
    guard.limit_output()  # ipykernel has replaced sys.stdout and sys.stderr by now
    app.start()
    # Shut down: the reply has been sent. Skip tearing down torch and the rest module by module
    # (a second or more per submission); the worker starts a fresh kernel for the next one anyway.
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001  a stream the kernel closed
            pass
    os._exit(0)


if __name__ == "__main__":
    main()
