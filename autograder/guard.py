"""The guard: runs inside a grading kernel, installed before any student code.

It is an audit hook (PEP 578), which Python code cannot remove once added, plus a
snapshot of what the tests rely on. While a submission runs it:

- lets the kernel read only its own sandbox folder, Python's installation and the
  course package (not the workspace, solutions, hidden tests or other submissions),
  and write only inside its sandbox;
- refuses subprocesses, signals to other processes, network connections, tracing
  hooks, further audit hooks and patching the code of protected functions;
- before every cell, and whenever a checking helper runs, verifies that the
  checking helpers, torch, NumPy, builtins and IPython's cell machinery are the
  ones it snapshotted. Once they are not, every later cell fails, so no later
  test can pass: the submission keeps the points earned before and is flagged;
- refuses calls to the current assignment's reference answers from student code;
- caps what a cell may print.

Every refusal prints a line starting with ``[grader]`` into the cell's output
(through the original stream, so the student cannot hide it); the worker reads
those lines to flag the submission for manual review.
"""
from __future__ import annotations

import builtins
import hashlib
import os
import re
import sys
import threading
import types
from dataclasses import dataclass, field

MARK = "[grader]"
# /proc files that say nothing about who runs the kernel (psutil and torch read them); not cmdline or environ.
_PROC_OK = re.compile(r"/proc/((self|\d+)/(stat|status|statm|task/\d+/stat)|stat|cpuinfo|meminfo|loadavg|uptime)$")


class TamperingDetected(RuntimeError):
    """The submission changed something the tests rely on; later cells do not run."""


class ReferenceNotAllowed(RuntimeError):
    """Student code called the instructor's reference answer instead of its own code."""


def source_hash(source: str) -> str:
    """How cells are recognised: the hash of their stripped source."""
    return hashlib.sha256(source.strip().encode()).hexdigest()


@dataclass
class Policy:
    sandbox: str  # the kernel's working folder: the only place it may write
    assignment: str  # whose reference answers student code may not call
    instructor_cells: set[str]  # source_hash of every cell the student did not write
    readable: list[str] = field(default_factory=list)  # more folders (or files) it may read
    max_output: int = 200_000  # characters a cell may print


class Guard:
    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        sandbox = os.path.realpath(policy.sandbox)
        self.write_roots = [sandbox, "/dev/null"]
        import course_utils

        system = ["/usr", "/lib", "/lib64", "/etc", "/sys", "/dev/urandom", "/dev/random", "/dev/zero", "/proc/stat",
                  "/proc/cpuinfo", "/proc/meminfo", "/proc/self/stat", "/proc/self/status", "/proc/self/maps"]
        python = {sys.prefix, sys.base_prefix, sys.exec_prefix, *[p for p in sys.path if p.endswith("-packages")]}
        self.read_roots = [os.path.realpath(p) for p in [*self.write_roots, *system, *python,
                                                         os.path.dirname(course_utils.__file__),
                                                         os.path.dirname(__file__), *policy.readable]]
        self.instructor_files: set[str] = set()  # code file names of cells the student did not write
        self.cell_files: set[str] = set()
        self.current_cell: str | None = None
        self.printed = 0
        self.tainted: str | None = None
        self.busy = threading.local()  # no audit checks inside the guard's own work
        self.snapshot: dict[str, tuple] = {}

    # --- what may be touched -------------------------------------------------------------
    def _inside(self, path, roots) -> bool:
        if isinstance(path, int):  # an open file descriptor
            return True
        path = os.path.realpath(os.fsdecode(path))
        if roots is self.read_roots and _PROC_OK.match(path):
            return True
        return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)

    def refuse(self, what: str, error: type[Exception] = PermissionError) -> None:
        self.note(f"blocked: {what}")
        raise error(f"{MARK} {what} is not allowed while grading")

    def note(self, text: str) -> None:
        stream = self.streams.get("stderr") if hasattr(self, "streams") else None
        line = f"{MARK} {text}\n"
        (self._write["stderr"](line) if stream is not None else sys.__stderr__.write(line))

    # --- the audit hook -------------------------------------------------------------------
    def hook(self, event: str, args: tuple) -> None:
        if getattr(self.busy, "on", False):
            return
        if not self.snapshot and event != "compile" and event != "exec":
            return  # not armed yet: the kernel is starting; it arms itself as the first cell begins
        self.busy.on = True
        try:
            self._check_event(event, args)
        finally:
            self.busy.on = False

    def _check_event(self, event: str, args: tuple) -> None:
        if event == "open":
            path, mode, flags = args
            writes = (mode and any(c in mode for c in "wax+")) or (flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))
            if path is not None and not self._inside(path, self.write_roots if writes else self.read_roots):
                self.refuse(f"{'writing' if writes else 'reading'} {path}")
        elif event in ("os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.symlink", "os.link", "os.chmod",
                       "os.chown", "os.truncate", "shutil.rmtree", "shutil.move", "os.utime"):
            for path in args[:2]:
                if isinstance(path, (str, bytes, os.PathLike)) and not self._inside(path, self.write_roots):
                    self.refuse(f"{event} on {path}")
        elif event in ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
                       "os.forkpty", "pty.spawn", "socket.connect", "socket.sendto", "sys.settrace",
                       "sys.setprofile", "sys.addaudithook", "ctypes.cdata", "ctypes.dlopen"):
            self.refuse(event)
        elif event in ("os.kill", "os.killpg", "signal.pthread_kill") and args and args[0] != os.getpid():
            self.refuse(f"{event} (another process)")
        elif event == "object.__setattr__" and args[1] in ("__code__", "__defaults__", "__kwdefaults__"):
            if getattr(args[0], "__module__", "").split(".")[0] in ("course_utils", "torch", "numpy"):
                self.refuse(f"changing {args[0].__qualname__}.{args[1]}")
        elif event == "compile" and isinstance(args[0], (str, bytes)) and isinstance(args[1], str):
            source = args[0].decode() if isinstance(args[0], bytes) else args[0]
            if f"ipykernel_{os.getpid()}" in args[1]:
                self.cell_files.add(args[1])
                if source_hash(source) in self.policy.instructor_cells:
                    self.instructor_files.add(args[1])
        elif event == "exec" and hasattr(args[0], "co_filename") and args[0].co_filename in self.cell_files:
            self._before_cell(args[0].co_filename)

    def _before_cell(self, filename: str) -> None:
        if filename != self.current_cell:
            self.current_cell, self.printed = filename, 0
        if not self.snapshot:
            self.take_snapshot()  # the first cell is the instructor's setup cell: nothing is tampered yet
        self.verify()

    # --- integrity ------------------------------------------------------------------------
    def _watched(self) -> dict[str, dict]:
        import numpy
        import torch
        from course_utils import checks

        shell = _shell()
        watched = {"checks": vars(checks), "torch": vars(torch), "torch.Tensor": vars(torch.Tensor),
                   "torch.testing": vars(torch.testing), "numpy": vars(numpy), "numpy.testing": vars(numpy.testing),
                   "builtins": {k: v for k, v in vars(builtins).items() if not k.startswith("_")},
                   "sys": {k: getattr(sys, k) for k in ("displayhook", "excepthook", "stdout", "stderr")},
                   "sys.modules": {k: sys.modules.get(k) for k in ("torch", "numpy", "builtins", "course_utils.checks")}}
        if shell is not None:
            watched["shell"] = {k: getattr(shell, k, None) for k in (
                "run_cell", "run_cell_async", "run_ast_nodes", "run_code", "transform_cell", "compile",
                "displayhook", "display_pub", "showtraceback", "_showtraceback")}
            hooks = {name: list(getattr(shell, name, ())) for name in
                     ("input_transformers_cleanup", "input_transformers_post", "ast_transformers")}
            watched["shell hooks"] = {f"{name}[{i}]": item for name, items in hooks.items()
                                      for i, item in enumerate(items)}
            watched["shell hooks"].update({f"len({name})": len(items) for name, items in hooks.items()})
            # Libraries add event callbacks as they are used (matplotlib's inline backend, widgets):
            # those are fine; a callback from anywhere else is checked like everything else.
            watched["shell events"] = {f"{k}[{i}]": f for k, v in shell.events.callbacks.items()
                                       for i, f in enumerate(v) if not _from_library(f)}
            for klass in type(shell).__mro__[:-1]:
                watched[f"class {klass.__qualname__}"] = vars(klass)
        for name, stream in self.streams.items():
            watched[f"{name} stream"] = {"class": type(stream), "write": vars(stream).get("write"),
                                         **vars(type(stream))}
        return watched

    def take_snapshot(self) -> None:
        self.snapshot = {group: {k: _identity(v) for k, v in items.items()}
                         for group, items in self._watched().items()}

    def verify(self) -> None:
        if self.tainted:
            raise TamperingDetected(f"{MARK} grading stopped earlier: {self.tainted}")
        now = self._watched()
        for group, before in self.snapshot.items():
            after = dict(now.get(group, {}))
            for key, parts in before.items():
                current = after.pop(key, _MISSING)
                if current is _MISSING or not _same(_identity(current), parts):
                    return self._taint(f"{group}.{key} was changed")
            if after and group not in ("numpy", "torch"):  # new names in watched groups (lazy imports aside)
                return self._taint(f"{group}.{next(iter(after))} was added")

    def _taint(self, reason: str) -> None:
        self.tainted = reason
        self.note(f"tampering: {reason}; later cells will not run")
        raise TamperingDetected(f"{MARK} {reason}: the notebook changed what the tests rely on")

    # --- reference answers and output -------------------------------------------------------
    def protect_references(self) -> None:
        from course_utils import checks
        from course_utils.reference import REGISTRY

        for (assignment, exercise), fn in list(REGISTRY.items()):
            if assignment == self.policy.assignment:
                setattr(sys.modules[fn.__module__], fn.__name__, self._refusing(fn))
        for name, fn in list(vars(checks).items()):  # a check verifies integrity before it judges
            if callable(fn) and getattr(fn, "__module__", None) == checks.__name__ and not isinstance(fn, type):
                setattr(checks, name, self._verifying(fn))

    def _refusing(self, fn):
        guard = self

        def reference(*args, **kwargs):
            frame = sys._getframe(1)
            while frame is not None and frame.f_code.co_filename not in guard.cell_files:
                frame = frame.f_back
            if frame is not None and frame.f_code.co_filename not in guard.instructor_files:
                guard.note(f"student code called the reference answer {fn.__module__}.{fn.__name__}")
                raise ReferenceNotAllowed(f"{MARK} {fn.__name__} from course_utils is the reference answer: "
                                          "the exercise asks for your own code")
            return fn(*args, **kwargs)

        reference.__name__, reference.__doc__, reference.__wrapped__ = fn.__name__, fn.__doc__, fn
        return reference

    def _verifying(self, fn):
        guard = self

        def check(*args, **kwargs):
            if guard.snapshot:
                guard.verify()
            return fn(*args, **kwargs)

        check.__name__, check.__doc__, check.__wrapped__ = fn.__name__, fn.__doc__, fn
        return check

    def limit_output(self) -> None:
        """Cap each cell's printed characters (ipykernel's streams exist once the kernel has started)."""
        self.streams = {"stdout": sys.stdout, "stderr": sys.stderr}
        self._write = {name: stream.write for name, stream in self.streams.items()}
        guard = self

        def limited(name):
            def write(text):
                guard.printed += len(text)
                if guard.printed <= guard.policy.max_output:
                    return guard._write[name](text)
                if guard.printed - len(text) <= guard.policy.max_output:
                    guard._write[name](f"\n{MARK} output truncated after {guard.policy.max_output} characters\n")
                return len(text)
            return write

        for name, stream in self.streams.items():
            stream.write = limited(name)


_MISSING = object()
_LIBRARIES = ("IPython", "ipykernel", "matplotlib", "matplotlib_inline", "ipywidgets", "tqdm", "comm")


def _from_library(fn) -> bool:
    module = getattr(getattr(fn, "__func__", fn), "__module__", "") or ""
    return module.split(".")[0] in _LIBRARIES


def _identity(value) -> tuple:
    """What makes a watched value the same: the object itself, its function and instance if it is a
    bound method (a new object at every attribute access), and its code if it is a function."""
    if isinstance(value, types.MethodType):
        return (value.__func__, value.__self__, getattr(value.__func__, "__code__", None))
    # Exact types only: some objects (torch.ops namespaces) invent any attribute asked for.
    return (value, value.__code__ if isinstance(value, types.FunctionType) else None)


def _same(a: tuple, b: tuple) -> bool:
    return len(a) == len(b) and all(x is y for x, y in zip(a, b))


def _shell():
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return None
    return get_ipython()


def install(policy: Policy) -> Guard:
    """Add the audit hook and protect the reference answers (call before the kernel starts)."""
    guard = Guard(policy)
    guard.streams = {}
    guard.protect_references()
    sys.addaudithook(guard.hook)
    return guard
