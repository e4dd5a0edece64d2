"""The guard: runs inside a grading kernel, installed before any student code.

It is an audit hook (PEP 578), which Python code cannot remove once added, plus a
snapshot of what the tests rely on. While a submission runs it:

- lets the kernel read only its own sandbox folder, Python's installation and the
  course package (not the workspace, solutions, hidden tests or other submissions),
  and write only inside its sandbox (SQLite databases included);
- refuses subprocesses, signals to other processes, network connections, tracing
  hooks, further audit hooks and patching the code of protected functions;
- before and after every cell, and before and after every checking helper, verifies
  that the checking helpers, torch, NumPy, builtins, IPython's cell machinery and
  the kernel's messaging (the kernel, its session, output streams and their hooks)
  are the ones it snapshotted. Once they are not, it puts the snapshotted ones back
  (so its note and the failures reach the grader) and every later cell fails, so no
  later test can pass: the submission keeps the points earned before and is flagged;
- forgets the source of every hidden-test cell once it has run (IPython's ``In``, ``_ih``, ``_i*`` and
  the line cache), so a later cell of the student's cannot print it;
- caps what a cell may print.

It holds no answer to protect: the kernel imports the students' copy of ``course_utils``, and hidden
tests are judged outside the kernel (``autograder.judging``), so what the guard still buys is flags for
a person and stopping a notebook that tampered with what its visible checks rely on.

Every refusal prints a line starting with ``[grader]`` into the cell's output
(through the original stream, so the student cannot hide it); the worker reads
those lines to flag the submission for manual review.

The guard is a tripwire, not a wall: code in the kernel can reach the guard itself.
What must hold whatever the kernel does (no access to other files, processes or the
network) is enforced by the operating system (``autograder.kernel``).
"""
from __future__ import annotations

import builtins
import hashlib
import importlib
import importlib.util
import os
import pathlib
import re
import sys
import threading
import types
from dataclasses import dataclass, field

# The guard's own references to the builtins it uses: a submission that replaces them cannot blind it.
from builtins import (all, callable, dict, enumerate, getattr, hasattr, isinstance, iter, len, list, next,
                      open, set, sorted, str, tuple, type, vars, zip)

MARK = "[grader]"
# /proc files that say nothing about who runs the kernel (psutil and torch read them); not cmdline or environ.
_PROC_OK = re.compile(r"/proc/((self|\d+)/(stat|status|statm|task/\d+/stat)|stat|cpuinfo|meminfo|loadavg|uptime)$")
# Modules whose functions' code may not be replaced.
_PROTECTED = ("course_utils", "torch", "numpy", "autograder", "IPython", "ipykernel", "jupyter_client")


class TamperingDetected(RuntimeError):
    """The submission changed something the tests rely on; later cells do not run."""


def source_hash(source: str) -> str:
    """How cells are recognised: the hash of their stripped source."""
    return hashlib.sha256(source.strip().encode()).hexdigest()


@dataclass
class Policy:
    sandbox: str  # the kernel's working folder: the only place it may write
    instructor_cells: set[str]  # source_hash of every cell the student did not write
    hidden_cells: set[str] = field(default_factory=set)  # source_hash of the hidden-test cells
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
        # Libraries that load their compiled parts with ctypes when first imported (torchvision's ops).
        spec = importlib.util.find_spec("torchvision")
        self.loadable = [os.path.realpath(p) for p in (spec.submodule_search_locations or [])] if spec else []

    # --- what may be touched -------------------------------------------------------------
    def _inside(self, path, roots) -> bool:
        if type(path) is int:  # an open file descriptor
            return True
        path = _path_text(path)
        if path is None:  # a path object that is not a plain one: it could give another path to the opener
            return False
        path = os.path.realpath(path)
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
                self.refuse(f"{'writing' if writes else 'reading'} {_path_text(path) or 'an unusual path object'}")
        elif event == "sqlite3.connect":  # SQLite opens its files itself, without an "open" event
            database = _path_text(args[0])
            if database is None:
                self.refuse("opening a database at an unusual path object")
            path = re.sub(r"^file:(//)?|\?.*$", "", database) if database.startswith("file:") else database
            if path not in ("", ":memory:") and not self._inside(path, self.write_roots):
                self.refuse(f"opening the database {database}")
        elif event in ("os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.symlink", "os.link", "os.chmod",
                       "os.chown", "os.truncate", "shutil.rmtree", "shutil.move", "os.utime"):
            for path in args[:2]:
                if isinstance(path, (str, bytes, os.PathLike)) and not self._inside(path, self.write_roots):
                    self.refuse(f"{event} on {_path_text(path) or 'an unusual path object'}")
        elif event in ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
                       "os.forkpty", "pty.spawn", "socket.connect", "socket.sendto", "sys.settrace",
                       "sys.setprofile", "sys.addaudithook", "ctypes.cdata", "ctypes.dlopen",
                       "sqlite3.enable_load_extension", "sqlite3.load_extension"):
            if not (event == "ctypes.dlopen" and args and args[0] and self._inside(args[0], self.loadable)):
                self.refuse(event)
        elif event in ("os.kill", "os.killpg", "signal.pthread_kill") and args and args[0] != os.getpid():
            self.refuse(f"{event} (another process)")
        elif event == "object.__setattr__" and args[1] in ("__code__", "__defaults__", "__kwdefaults__"):
            if (getattr(args[0], "__module__", "") or "").split(".")[0] in _PROTECTED:
                self.refuse(f"changing {args[0].__qualname__}.{args[1]}")
        elif event == "compile" and type(args[0]) in (str, bytes) and type(args[1]) is str:
            source = args[0].decode() if isinstance(args[0], bytes) else args[0]
            if f"ipykernel_{os.getpid()}" in args[1]:
                self.cell_files.add(args[1])
                if source_hash(source) in self.policy.instructor_cells:
                    self.instructor_files.add(args[1])
                # Also here, not only when the cell's code runs: a cell an input transformer
                # emptied compiles but runs no code.
                self._before_cell(args[1])
        elif event == "exec" and hasattr(args[0], "co_filename") and args[0].co_filename in self.cell_files:
            self._before_cell(args[0].co_filename)

    def _before_cell(self, filename: str) -> None:
        if filename != self.current_cell:
            self.current_cell, self.printed = filename, 0
        if not self.snapshot:
            self.take_snapshot()  # the first cell is the instructor's setup cell: nothing is tampered yet
        self.verify()

    def _after_cell(self, result=None) -> None:
        """An IPython post_run_cell callback: a cell that tampered is flagged in its own output."""
        if getattr(self.busy, "on", False) or not self.snapshot:
            return
        self.busy.on = True
        try:
            self._forget(getattr(getattr(result, "info", None), "raw_cell", None))
            with self.traps[0], self.traps[1]:  # what IPython changes while a cell runs, as during the cell
                self.verify()
        except TamperingDetected:
            pass  # noted; the later cells fail
        finally:
            self.busy.on = False

    def _forget(self, raw: str | None) -> None:
        """Remove a hidden-test cell's source from IPython's history, its namespace and the line cache."""
        if type(raw) is not str or source_hash(raw) not in self.policy.hidden_cells:
            return
        import linecache

        ns = _shell().user_ns
        for key in ("In", "_ih"):
            history = ns.get(key)
            if type(history) is list:
                history[:] = ["" if type(entry) is str and entry.strip() == raw.strip() else entry
                              for entry in history]
        for key in [k for k in ns if re.fullmatch(r"_i+|_i\d+", k)]:
            if type(ns[key]) is str and ns[key].strip() == raw.strip():
                ns[key] = ""
        for cache in (linecache.cache, getattr(linecache, "_ipython_cache", {})):
            for name in [n for n, entry in list(cache.items()) if n in self.cell_files and type(entry) is tuple
                         and len(entry) > 2 and "".join(entry[2]).strip() == raw.strip()]:
                cache.pop(name, None)
        fn = ns.get("observe")
        if type(fn) is types.FunctionType and fn.__code__.co_filename in self.cell_files:
            del ns["observe"]

    # --- integrity ------------------------------------------------------------------------
    def _objects(self) -> dict[str, object]:
        """The objects a cell's result travels through, found once, when the first cell starts."""
        shell = _shell()
        objects = {"shell": shell}
        if shell is None:
            return objects
        kernel = getattr(shell, "kernel", None)
        objects.update(kernel=kernel, session=getattr(kernel, "session", None), displayhook=shell.displayhook,
                       display_pub=shell.display_pub, compiler=shell.compile,
                       input_transformer_manager=shell.input_transformer_manager,
                       iopub_thread=getattr(kernel, "iopub_thread", None),
                       iopub_socket=getattr(kernel, "iopub_socket", None),
                       shell_stream=getattr(kernel, "shell_stream", None),
                       iopub_zmq_socket=getattr(getattr(kernel, "iopub_thread", None), "socket", None),
                       **{f"{name} stream": stream for name, stream in self.streams.items()})
        for label, obj in objects.items():  # traits and output hooks get their value on first use: now
            for name in ("_hooks", *self._LINKS.get(label, ())):
                getattr(obj, name, None)
        return {k: v for k, v in objects.items() if v is not None}

    # Attributes that link the objects above; a submission that swaps one swaps what the grader sees.
    _LINKS = {"shell": ("kernel", "displayhook", "display_pub", "compile", "input_transformer_manager",
                        "input_transformers_post", "ast_transformers", "events", "custom_exceptions", "CustomTB"),
              "kernel": ("session", "shell", "iopub_socket", "iopub_thread", "shell_handlers"),
              "session": ("pack", "unpack", "auth", "key"),
              "displayhook": ("session", "pub_socket", "_thread_local"),
              "display_pub": ("session", "pub_socket", "_thread_local"),
              "input_transformer_manager": ("cleanup_transforms", "line_transforms", "token_transformers"),
              "iopub_socket": ("io_thread",),
              "iopub_thread": ("socket",),
              "shell_stream": ("socket",),
              "stdout stream": ("session", "pub_thread", "_local"),
              "stderr stream": ("session", "pub_thread", "_local")}

    def _watched(self) -> dict[str, tuple[object, dict]]:
        """Every watched group as (its namespace, {name: value}).

        A namespace is a class, a dict (of a module, of an object or a mapping) or a list;
        ``_restore`` writes the snapshot's values back into it. Values are read from the
        namespaces themselves, so (IPython's event list aside) no property of theirs runs.
        """
        import numpy
        import torch
        from course_utils import checks

        groups: dict[str, tuple[object, dict]] = {}

        def module(name, mod, keep=lambda k: True):
            groups[name] = (vars(mod), {k: v for k, v in vars(mod).items() if keep(k)})

        def classes(klass):
            for c in type.mro(klass)[:-1]:
                groups.setdefault(f"class {c.__module__}.{c.__qualname__}", (c, dict(vars(c))))

        module("checks", checks)
        module("torch", torch)
        module("torch.testing", torch.testing)
        module("numpy", numpy)
        module("numpy.testing", numpy.testing)
        module("builtins", builtins, lambda k: not k.startswith("_") or k in ("__import__", "__build_class__"))
        module("sys", sys, lambda k: k in ("displayhook", "stdout", "stderr"))  # not excepthook: run_code swaps it
        classes(torch.Tensor)
        groups["sys.modules"] = (sys.modules, {k: sys.modules.get(k) for k in (
            "torch", "numpy", "builtins", "course_utils.checks")})
        for label, obj in self.objects.items():
            classes(type(obj))
            own = getattr(obj, "__dict__", None)
            if own is None:
                continue
            traits = own.get("_trait_values", {})
            # An instance attribute that hides a method of its class replaces that method
            # (but IPython wraps the streams' write while each cell runs, and the guard caps it).
            groups[f"{label} methods"] = (own, {k: v for k, v in own.items() if callable(_static(type(obj), k))
                                                and not (k == "write" and label.endswith("stream"))})
            for name in self._LINKS.get(label, ()):
                where = own if name in own else traits
                groups[f"{label}.{name}"] = (where, {name: where.get(name)})
                value = where.get(name)
                if type(value) is list:  # input transformers and the like
                    groups[f"{label}.{name}[]"] = (value, dict(enumerate(value)))
                elif type(value) is dict:  # the kernel's message handlers
                    groups[f"{label}.{name}{{}}"] = (value, dict(value))
                elif type(value) is threading.local:  # output hooks, per thread
                    hooks = vars(value).get("hooks")
                    groups[f"{label} hooks"] = (vars(value), {"hooks": hooks})
                    if type(hooks) is list:
                        groups[f"{label} hooks[]"] = (hooks, dict(enumerate(hooks)))
            if label == "shell":
                # Libraries add event callbacks as they are used (matplotlib's inline backend, widgets):
                # those are fine; a callback from anywhere else is checked like everything else.
                groups["shell events"] = (None, {f"{k}[{i}]": f for k, v in obj.events.callbacks.items()
                                                 for i, f in enumerate(v) if not _from_library(f)})
        return groups

    def take_snapshot(self) -> None:
        shell = _shell()
        if shell is not None:
            self.traps = (shell.builtin_trap, shell.display_trap)
            shell.events.register("post_run_cell", self._after_cell)
        self.objects = self._objects()
        self.snapshot = {group: (where, {k: _identity(v) for k, v in items.items()})
                         for group, (where, items) in self._watched().items()}

    def verify(self) -> None:
        if self.tainted:
            raise TamperingDetected(f"{MARK} grading stopped earlier: {self.tainted}")
        busy, self.busy.on = getattr(self.busy, "on", False), True
        try:
            now = self._watched()
            problems = [p for group in self.snapshot for p in self._changes(group, now)]
            if problems:
                self.tainted = problems[0]
                self._restore(now)
        finally:
            self.busy.on = busy
        if problems:
            self.note(f"tampering: {problems[0]}; later cells will not run")
            raise TamperingDetected(f"{MARK} {problems[0]}: the notebook changed what the tests rely on")

    def _changes(self, group: str, now: dict) -> list[str]:
        before, after = self.snapshot[group][1], dict(now.get(group, (None, {}))[1])
        if group == "torch" and _dynamo_rewrap(before.get("manual_seed"), after.get("manual_seed")):
            before["manual_seed"] = _identity(after["manual_seed"])  # torch's own, from now on watched as such
        changed = [f"{group}.{key} was changed" for key, parts in before.items()
                   if not _same(_identity(after.pop(key, _MISSING)), parts)]
        if after and group not in ("numpy", "torch"):  # new names in watched groups (lazy imports aside)
            changed.append(f"{group}.{next(iter(after))} was added")
        return changed

    def _restore(self, now: dict) -> None:
        """Put every watched value back as it was snapshotted (as far as it goes)."""
        for group, (where, before) in self.snapshot.items():
            after = now.get(group, (None, {}))[1]
            if where is None or not self._changes(group, now):
                continue
            try:
                if type(where) is list:
                    where[:] = [parts[0] for _, parts in sorted(before.items())]
                    continue
                added = set(after) - set(before) if group not in ("numpy", "torch") else set()  # lazy imports stay
                for key in added:
                    delattr(where, key) if isinstance(where, type) else where.pop(key, None)
                for key, parts in before.items():
                    value = types.MethodType(parts[0], parts[1]) if parts[-1] is _BOUND else parts[0]
                    if type(value) is types.FunctionType:
                        if value.__code__ is not parts[1]:
                            value.__code__ = parts[1]
                        for cell, content in zip(value.__closure__ or (), parts[2:]):
                            cell.cell_contents = content
                    if not _same(_identity(after.get(key, _MISSING)), parts):
                        setattr(where, key, value) if isinstance(where, type) else where.__setitem__(key, value)
            except Exception:  # best effort: the later cells fail anyway
                pass

    # --- checks and output -------------------------------------------------------------------
    def wrap_checks(self) -> None:
        """Make every checking helper verify integrity before and after it judges."""
        from course_utils import checks, compare

        for name, fn in list(vars(checks).items()):
            if callable(fn) and getattr(fn, "__module__", None) in (checks.__name__, compare.__name__) \
                    and not isinstance(fn, type):
                setattr(checks, name, self._verifying(fn))

    def _verifying(self, fn):
        guard = self

        def check(*args, **kwargs):
            if guard.snapshot:
                guard.verify()
            try:
                return fn(*args, **kwargs)
            finally:  # the code under test ran inside the check: it may have changed things
                if guard.snapshot:
                    guard.verify()

        check.__name__, check.__qualname__, check.__doc__ = fn.__name__, fn.__qualname__, fn.__doc__
        return check

    def limit_output(self) -> None:
        """Cap each cell's printed characters (ipykernel's streams exist once the kernel has started)."""
        self.streams = {"stdout": sys.stdout, "stderr": sys.stderr}
        self._write = {name: stream.write for name, stream in self.streams.items()}
        guard = self

        def limited(name):
            def write(text):
                guard.printed += len(text)
                if guard.printed <= guard.policy.max_output or (type(text) is str and text.startswith("\u2714")
                                                                and len(text) < 500):
                    return guard._write[name](text)  # a check's closing line always gets through
                if guard.printed - len(text) <= guard.policy.max_output:
                    guard._write[name](f"\n{MARK} output truncated after {guard.policy.max_output} characters\n")
                return len(text)
            return write

        for name, stream in self.streams.items():
            stream.write = limited(name)


_MISSING, _BOUND = object(), object()
_LIBRARIES = ("IPython", "ipykernel", "matplotlib", "matplotlib_inline", "ipywidgets", "tqdm", "comm")


def _from_library(fn) -> bool:
    module = getattr(getattr(fn, "__func__", fn), "__module__", "") or ""
    return module.split(".")[0] in _LIBRARIES


def _path_text(path) -> str | None:
    """A path given to open() and friends, as text; None for any type but str, bytes and pathlib's own
    paths, whose __fspath__ could run code of the submission while the guard works, or answer the
    guard with one path and the opener with another."""
    if type(path) in (str, bytes):
        return os.fsdecode(path)
    if type(path) in (pathlib.PurePosixPath, pathlib.PosixPath, pathlib.PureWindowsPath, pathlib.WindowsPath):
        return str(path)
    if type(path) is os.DirEntry:
        return os.fsdecode(path.path)
    return None


def _static(klass: type, name: str):
    """The class attribute ``name`` as stored (no descriptor runs), or None."""
    for c in type.mro(klass):
        if name in vars(c):
            return vars(c)[name]
    return None


def _identity(value) -> tuple:
    """What makes a watched value the same: the object itself, its function and instance if it is a
    bound method (a new object at every attribute access), its code if it is a function, and what
    its closure holds if it is one of the guard's own wrappers."""
    if type(value) is types.MethodType:
        return (value.__func__, value.__self__, _BOUND)
    # Exact types only: some objects (torch.ops namespaces) invent any attribute asked for.
    if type(value) is not types.FunctionType:
        return (value, None)
    cells = value.__closure__ if value.__module__ == __name__ else None
    return (value, value.__code__, *(c.cell_contents for c in cells or ()))


def _dynamo_rewrap(before: tuple | None, value) -> bool:
    """Whether ``value`` is what importing torch._dynamo makes of torch.manual_seed (snapshotted as
    ``before``): torch's lazy ``_disable_dynamo`` wrapper, with torch's own code and globals, around
    the snapshotted function. Built any other way, it is a change like any other."""
    import torch

    if before is None or type(value) is not types.FunctionType or before[0] is value:
        return False
    genuine = torch._disable_dynamo(before[0])
    return (value.__code__ is genuine.__code__ and value.__globals__ is genuine.__globals__
            and _same(tuple(c.cell_contents for c in value.__closure__ or ()),
                      tuple(c.cell_contents for c in genuine.__closure__ or ()))
            and value.__defaults__ is None and value.__kwdefaults__ is None)


def _same(a: tuple, b: tuple) -> bool:
    return len(a) == len(b) and all(x is y for x, y in zip(a, b))


def _shell():
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return None
    return get_ipython()


def install(policy: Policy) -> Guard:
    """Add the audit hook and wrap the checking helpers (call before the kernel starts)."""
    guard = Guard(policy)
    guard.streams = {}
    guard.wrap_checks()
    sys.addaudithook(guard.hook)
    return guard
