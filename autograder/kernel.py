"""The grading kernel: an IPython kernel that runs a submission inside limits.

    python -m autograder.kernel -f CONNECTION_FILE      (started in its sandbox folder)

Before IPython starts, it reads its policy (which the worker writes into the sandbox
as POLICY, and which it removes), becomes PID 1 of a new PID namespace with a
private, empty ``/dev/shm`` where the system allows it (``isolate``: every process
the submission starts, even one that called ``setsid``, dies with the kernel, and
shared memory it leaves behind vanishes with it), sets resource limits (memory,
CPU time, file size, no core dumps), replaces the environment by a plain one that
says nothing about grading, imports the students' copy of ``course_utils`` (in
which this assignment's answers and later ones are stubs, so no answer is in the
process), and installs the guard (``autograder.guard``). Where Linux
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
POLICY = ".kernel-policy.json"  # in the sandbox: nothing on the command line names the worker's folders
HAND_OVER = ".hand-over"  # in the sandbox: where hidden tests leave their observations (autograder.judging)
# What the kernel keeps of the worker's environment; everything else (NBGRADER_*, COURSE_DATA, ...) goes.
KEEP = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "JPY_PARENT_PID", "VIRTUAL_ENV", "SYSTEMROOT")


def write_kernelspec(folder: Path) -> Path:
    """Write a kernelspec named KERNEL_NAME under ``folder`` (put ``folder`` on JUPYTER_PATH)."""
    spec = folder / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "autograder.kernel", "-f", "{connection_file}"],
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


_NEWNS, _NEWUSER, _NEWPID = 0x00020000, 0x10000000, 0x20000000
_MS_NOSUID, _MS_NODEV, _MS_REC, _MS_PRIVATE = 2, 4, 1 << 14, 1 << 18


def isolate() -> bool:
    """Go on as PID 1 of a new PID namespace with a private tmpfs on /dev/shm; True when it worked.

    This process forks: the child returns True and becomes the kernel; the parent stays outside, forwards
    signals to it, and exits with its status. When PID 1 of a namespace ends, the system kills every other
    process in it, so nothing the submission starts (a daemon made with ``setsid``, a fork through ctypes)
    outlives the kernel; and the child dies when the parent does (which dies with the worker). Needs root,
    or unprivileged user namespaces; elsewhere it returns False and changes nothing.
    """
    import ctypes

    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(_NEWPID | _NEWNS) != 0:  # not root: try inside a user namespace of our own
        uid, gid = os.getuid(), os.getgid()
        if libc.unshare(_NEWUSER | _NEWPID | _NEWNS) != 0:
            return False
        try:
            for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
                with open(f"/proc/self/{name}", "w") as f:
                    f.write(text)
        except OSError:
            return False
    child = os.fork()
    if child == 0:
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG: die with the parent below
        private = libc.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None) == 0
        return private and libc.mount(b"tmpfs", b"/dev/shm", b"tmpfs", _MS_NOSUID | _MS_NODEV, b"size=512m") == 0
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(sig, lambda number, _: os.kill(child, number))
    _, status = os.waitpid(child, 0)
    os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


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
    connection_args = sys.argv[1:]
    settings = json.loads(Path(POLICY).read_text())
    os.unlink(POLICY)
    parent = settings.pop("worker_pid")  # not os.getppid(): the worker may be gone already
    die_with_parent(parent)
    isolated = isolate()
    limit_resources(settings.pop("memory_mb"), settings.pop("cpu_seconds"))
    sandbox = settings["sandbox"]
    os.environ.clear()
    os.environ.update(plain_environment(sandbox))
    os.chdir(sandbox)
    sys.path.insert(0, settings["package"])  # the students' course_utils, not the instructor's
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
    import io

    torch.save({"x": torch.zeros(1), "s": ""}, io.BytesIO())  # pickling caches torch.Tensor.__slotnames__: now

    import course_utils.checks
    from autograder.guard import Policy, install

    if not os.path.realpath(course_utils.checks.__file__).startswith(os.path.realpath(settings["package"])):
        raise SystemExit("the grading kernel did not import the students' course_utils")  # never grade with answers
    hand_over = os.path.join(sandbox, HAND_OVER)
    os.makedirs(hand_over, exist_ok=True)
    course_utils.checks.HAND_OVER = hand_over
    connection_file = connection_args[connection_args.index("-f") + 1]
    policy = Policy(sandbox=sandbox, instructor_cells=set(settings["instructor_cells"]),
                    hidden_cells=set(settings.get("hidden_cells", [])),
                    readable=[connection_file, settings["package"]],
                    max_output=settings.get("max_output", 200_000))
    guard = install(policy)
    # Before any thread starts (Landlock binds the calling thread and what it starts later). /dev/shm is
    # writable only when it is the kernel's own (see isolate).
    confine({**{p: "read" for p in [*guard.read_roots, "/proc/self", "/proc/loadavg", "/proc/uptime", "/proc/sys",
                                    "/proc/driver"]},  # CUDA reads /proc/driver/nvidia
             "/dev": "device",
             **{p: "write" for p in [*guard.write_roots, *(["/dev/shm"] if isolated else [])]}})
    launcher = os.path.join(os.path.dirname(os.path.dirname(ipykernel.__file__)), "ipykernel_launcher.py")
    sys.argv = [launcher, *connection_args]  # looks like any kernel
    sys.orig_argv = [sys.executable, "-m", "ipykernel_launcher", *connection_args]
    app = ipykernel.kernelapp.IPKernelApp.instance()
    # No parent_handle: in its own PID namespace the kernel cannot see the worker; it dies with it anyway.
    app.initialize(connection_args + ["--HistoryManager.hist_file=:memory:", "--IPKernelApp.log_level=ERROR"])
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
