"""`course grade` and `course export` end to end: honest submissions and attempts to cheat.

Every submission is built from the welcome notebook (00) by ``autograder.samples``
plus one change, written into one nbgrader-layout folder and graded by ONE call of
``grade(..., jobs=2)`` (grading costs seconds per notebook); then, in copies of the
workspace, the same folder again, a lost history line, a late resubmission, and two
submissions in a fresh workspace. The tests only read what that grading left behind.

The samples (s01-s03) are the whole notebook. The other submissions are "lean": the
student deleted the demo cells and trimmed the imports (they may edit any cell that
is not a test), so each grades in a few seconds. t04-t24 are the tampering classes
the grader is meant to stop; x1-x6 are further ways around it (the kernel's messaging,
leaking hidden tests into the feedback, switching the guard off, C-level file access,
a path that names one file to the guard and another to the opener, ZeroMQ's sockets).

With pytest-xdist, the first worker that needs the grading does it, under a file
lock, and saves what the tests read; the other worker waits for it and reuses it.
"""
from __future__ import annotations

import csv
import fcntl
import io
import json
import os
import pickle
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import nbformat
import pytest

from autograder import samples
from autograder.export import export
from autograder.grade import Workspace, grade
from conftest import ROOT

A = "00_welcome"
SOURCE = ROOT / "solutions" / A / f"{A}.ipynb"
RELEASE = ROOT / "notebooks" / A / f"{A}.ipynb"
EXERCISE, VISIBLE, HIDDEN, WRITTEN = ("cosine_similarity_matrix", "check_cosine_visible", "check_cosine_hidden",
                                      "question_cosine_length")
TIMEOUT, MEMORY_MB = 60, 1500

WRONG = '''\
def cosine_similarity_matrix(a, b, eps=1e-8):
    return torch.zeros(a.shape[0], b.shape[0], dtype=a.dtype)  # the right shape, the wrong values'''


# ------------------------------------------------------------------ building submissions

def solved() -> nbformat.NotebookNode:
    return samples.solved(SOURCE, RELEASE)


def lean(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The setup cell, the exercise, its checks and the written answer: a student may delete or edit
    every other cell (the demos, the tour of the datasets), and grading gets faster."""
    def keep(cell):
        return "nbgrader" in cell.metadata or "course-setup" in cell.metadata.get("tags", [])
    imports = nbformat.v4.new_code_cell("import torch\nfrom course_utils import checks")
    nb.cells = [c for c in nb.cells if keep(c)]
    nb.cells.insert(1, imports)
    return nb


def index(nb, grade_id: str) -> int:
    return next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def cell(nb, grade_id: str):
    return nb.cells[index(nb, grade_id)]


def answer(nb, source: str):
    cell(nb, EXERCISE).source = source
    return nb


def insert_after(nb, grade_id: str, source: str):
    nb.cells.insert(index(nb, grade_id) + 1, nbformat.v4.new_code_cell(source))
    return nb


def wrong(extra: str | None = None, after: str = EXERCISE):
    """Lean, with a wrong solution and (optionally) a cell of the student's after ``after``."""
    nb = answer(lean(solved()), WRONG)
    return insert_after(nb, after, extra) if extra else nb


def right(extra: str | None = None, after: str = EXERCISE):
    nb = lean(solved())
    return insert_after(nb, after, extra) if extra else nb


def build(paths: dict) -> dict[str, bytes | nbformat.NotebookNode]:
    """student id -> the notebook (or raw bytes) they submit."""
    # --- honest
    subs: dict[str, bytes | nbformat.NotebookNode] = {
        "s01-solved": solved(),
        "s02-unsolved": nbformat.read(RELEASE, as_version=4),
        "s03-partly-wrong": samples.partly_wrong(SOURCE, RELEASE),
        "s-lean-solved": right(),
        "s-lean-wrong": wrong(),
        "r-late": lean(nbformat.read(RELEASE, as_version=4)),  # resubmitted solved later
    }
    # --- 4-8: changing the test cells themselves (nbgrader restores them from the gradebook)
    nb = wrong()
    cell(nb, VISIBLE).source = "pass"
    subs["t04-edit-test-cell"] = nb
    nb = wrong()
    del nb.cells[index(nb, HIDDEN)]
    subs["t05-delete-hidden-cell"] = nb
    nb = right()  # a copy-paste of a test cell must neither crash nbgrader nor count twice
    nb.cells.insert(index(nb, VISIBLE) + 1, nbformat.from_dict(json.loads(json.dumps(cell(nb, VISIBLE)))))
    nb.cells[index(nb, VISIBLE) + 1].id = "duplicate1"
    subs["t06-duplicate-test-cell"] = nb
    nb = right()
    cell(nb, VISIBLE).metadata.nbgrader["points"] = 100
    subs["t07-points-100"] = nb
    nb = wrong()
    visible = cell(nb, VISIBLE)
    visible.metadata.nbgrader["grade_id"] = "check_cosine_visible_mine"
    visible.source = "pass"
    subs["t08-rename-test-cell"] = nb
    # --- 9-14: changing what the tests rely on
    subs["t09-patch-checks"] = wrong(
        "from course_utils import checks\n"
        "checks.check_close = lambda *a, **k: None\n"
        "checks.check_function = lambda *a, **k: None\n"
        "checks.check_true = lambda *a, **k: None")
    subs["t10-patch-torch"] = wrong(
        "torch.allclose = lambda *a, **k: True\n"
        "torch.Tensor.__eq__ = lambda self, other: torch.ones((), dtype=torch.bool)")
    subs["t11-patch-builtins"] = wrong("import builtins\nbuiltins.isinstance = lambda *a: True")
    subs["t12a-patch-checkfailed"] = wrong(
        "from course_utils import checks\nchecks.CheckFailed = type('X', (Exception,), {})")
    subs["t12b-patch-assertionerror"] = wrong(
        "import builtins\nbuiltins.AssertionError = type('AssertionError', (Exception,), {})")
    subs["t13a-input-transformer"] = wrong("get_ipython().input_transformers_cleanup.append(lambda lines: [])")
    subs["t13b-line-transform"] = wrong(
        "get_ipython().input_transformer_manager.line_transforms.append(lambda lines: [])")
    subs["t14a-displayhook"] = wrong(
        "import sys\n_hook = sys.displayhook\n"
        "sys.displayhook = lambda value: _hook('2.0')\n"
        "get_ipython().displayhook = sys.displayhook")
    subs["t14b-ast-transformer"] = wrong(
        "import ast\n"
        "class Forgive(ast.NodeTransformer):\n"
        "    def visit_Module(self, node):\n"
        "        body = ast.parse('try:\\n    pass\\nexcept BaseException:\\n    pass').body\n"
        "        body[0].body = node.body or [ast.Pass()]\n"
        "        node.body = body + [ast.Expr(ast.Constant('2.0'))]\n"
        "        return ast.fix_missing_locations(node)\n"
        "get_ipython().ast_transformers.append(Forgive())")
    # --- 15-16: results that only look right; grading that tries to notice it is graded
    subs["t15-fake-equality"] = answer(lean(solved()), '''\
class Anything:
    shape = property(lambda self: (2, 3))
    dtype = torch.float32
    device = torch.device("cpu")
    def __eq__(self, other): return True
    def __sub__(self, other): return 0
    __rsub__ = __sub__
    def __abs__(self): return 0
    def __le__(self, other): return True
    def __getattr__(self, name): return lambda *a, **k: self
def cosine_similarity_matrix(a, b, eps=1e-8):
    return Anything()''')
    subs["t16a-detect-grading"] = answer(lean(solved()), '''\
import os
def cosine_similarity_matrix(a, b, eps=1e-8):
    cwd = os.getcwd()
    graded = any("NBGRADER" in k for k in os.environ) or any(w in cwd for w in ("autograded", "submitted", "t16a"))
    if graded:
        a_unit = a / a.norm(dim=1, keepdim=True).clamp_min(eps)
        b_unit = b / b.norm(dim=1, keepdim=True).clamp_min(eps)
        return a_unit @ b_unit.T
    return torch.zeros(a.shape[0], b.shape[0], dtype=a.dtype)''')
    subs["t16b-print-environment"] = right(
        "import os, sys\n"
        "print('ENV', sorted(os.environ))\nprint('ENVITEMS', sorted(os.environ.items()))\n"
        "print('CWD', os.getcwd())\nprint('HOME', os.path.expanduser('~'))\nprint('ARGV', sys.argv)")
    # --- 17-19: the file system
    subs["t17-read-secrets"] = answer(lean(solved()), f'''\
import glob
stolen = {{}}
for pattern in {[str(paths["gradebook"]), str(SOURCE), "/tmp/course-worker-*/course/gradebook.db",
                 str(paths["tmp"] / "course-worker-*" / "course" / "gradebook.db"),
                 str(paths["tmp"] / "course-worker-*" / "course" / "source" / A / f"{A}.ipynb")]!r}:
    for path in glob.glob(pattern) or [pattern]:
        try:
            with open(path, "rb") as f:
                stolen[path] = f.read()
        except OSError as err:
            print("could not read", path, type(err).__name__)
def cosine_similarity_matrix(a, b, eps=1e-8):
    if stolen:
        a_unit = a / a.norm(dim=1, keepdim=True).clamp_min(eps)
        b_unit = b / b.norm(dim=1, keepdim=True).clamp_min(eps)
        return a_unit @ b_unit.T
    return torch.zeros(a.shape[0], b.shape[0], dtype=a.dtype)''')
    subs["t17b-sqlite-gradebook"] = wrong(f'''\
import glob, sqlite3
FULL = "UPDATE grade SET auto_score = (SELECT max_score FROM grade_cells WHERE id = NEW.cell_id) WHERE id = NEW.id;"
for db in glob.glob("/tmp/course-worker-*/course/gradebook.db") + glob.glob({str(paths["tmp"])!r} + "/course-worker-*/course/gradebook.db") + [{str(paths["gradebook"])!r}]:
    try:
        con = sqlite3.connect(db)
        con.execute("CREATE TRIGGER IF NOT EXISTS full_a AFTER INSERT ON grade BEGIN " + FULL + " END")
        con.execute("CREATE TRIGGER IF NOT EXISTS full_b AFTER UPDATE OF auto_score ON grade BEGIN " + FULL + " END")
        con.commit()
        print("planted", db)
    except Exception as err:
        print("could not plant", db, type(err).__name__)''')
    # --- 18: every route to the reference answer (the grading kernel holds only a stub of it)
    for student, source in routes_to_the_reference().items():
        subs[student] = answer(lean(solved()), source)
    subs["t19-write-outside"] = right(f'''\
for path in [{str(paths["proof"])!r}, {str(paths["workspace"] / "proof.txt")!r}]:
    try:
        with open(path, "w") as f:
            f.write("written by a submission")
    except OSError as err:
        print("could not write", path, type(err).__name__)''')
    # --- 20-23: the process itself
    subs["t20a-os-exit"] = right("import os\nos._exit(1)", after=VISIBLE)
    subs["t20b-sys-exit"] = right("import sys\nsys.exit()", after=VISIBLE)
    subs["t21-loop-forever"] = right("while True:\n    pass", after=VISIBLE)
    subs["t22a-huge-allocation"] = answer(lean(solved()), "def cosine_similarity_matrix(a, b, eps=1e-8):\n"
                                          "    hoard = bytearray(10**11)\n    return a @ b.T")
    subs["t23-print-flood"] = right("for i in range(10**6):\n    print('x' * 100)")
    # --- 24: not a notebook graders can run
    subs["t24a-not-json"] = b"{not json"
    v3 = nbformat.v3.new_notebook()
    v3.worksheets = [nbformat.v3.new_worksheet(cells=[nbformat.v3.new_code_cell(input="1 + 1")])]
    subs["t24b-nbformat-3"] = nbformat.v3.writes_json(v3).encode()
    # --- beyond the list: the kernel's own messaging, and leaking hidden tests into the feedback
    subs["x1-patch-session"] = wrong('''\
import jupyter_client.session as js
_send = js.Session.send
def send(self, stream, msg_or_type, content=None, parent=None, *args, **kwargs):
    kind = msg_or_type if isinstance(msg_or_type, str) else msg_or_type.get("header", {}).get("msg_type")
    if kind == "error" or (kind == "stream" and isinstance(content, dict) and content.get("name") == "stderr"):
        return None
    if kind == "execute_reply" and isinstance(content, dict) and content.get("status") == "error":
        content = {"status": "ok", "execution_count": content.get("execution_count"), "user_expressions": {},
                   "payload": []}
    return _send(self, stream, msg_or_type, content, parent, *args, **kwargs)
js.Session.send = send''')
    subs["x2-patch-kernel"] = wrong('''\
kernel = get_ipython().kernel
async def do_execute(*args, **kwargs):
    return {"status": "ok", "execution_count": 1, "user_expressions": {}, "payload": []}
kernel.do_execute = do_execute''')
    subs["x3-leak-hidden-tests"] = answer(lean(solved()), '''\
import linecache, sys
def cosine_similarity_matrix(a, b, eps=1e-8):
    frame = sys._getframe(1)
    while frame is not None:
        print("".join(linecache.getlines(frame.f_code.co_filename)))
        frame = frame.f_back
    a_unit = a / a.norm(dim=1, keepdim=True).clamp_min(eps)
    b_unit = b / b.norm(dim=1, keepdim=True).clamp_min(eps)
    return a_unit @ b_unit.T''')
    insert_after(subs["x3-leak-hidden-tests"], HIDDEN, "import base64\nprint(In)\n"
                 "print([base64.b64encode(str(x).encode()).decode() for x in In])\nobserve()")
    # Known limit: code in the kernel can reach the guard itself and switch it off. It still cannot
    # touch files outside its sandbox (the OS holds it), and the worker flags the code for a person.
    subs["x4-switch-guard-off"] = wrong(f'''\
from course_utils import checks
guard = next(c.cell_contents for c in checks.check_close.__closure__ if hasattr(c.cell_contents, "verify"))
guard.verify = lambda: None
guard._check_event = lambda event, args: None
checks.check_close = checks.check_function = checks.check_true = lambda *a, **k: None
for path in [{str(paths["proof4"])!r}, {str(paths["workspace"] / "proof4.txt")!r}]:
    try:
        open(path, "w").write("written by a submission")
    except OSError as err:
        print("could not write", path, type(err).__name__)''')
    subs["x5-c-level-files"] = answer(lean(solved()), f'''\
import glob
stolen = []
for path in [{str(paths["gradebook"])!r}, {str(SOURCE)!r}, *glob.glob({str(paths["tmp"])!r} + "/course-worker-*/course/source/*/*.ipynb")]:
    try:
        stolen.append(torch.from_file(path, size=16, dtype=torch.uint8))
    except Exception as err:
        print("could not read", path, type(err).__name__)
try:
    torch.save(torch.zeros(3), {str(paths["workspace"] / "proof.pt")!r})
except Exception as err:
    print("could not write", type(err).__name__)
def cosine_similarity_matrix(a, b, eps=1e-8):
    if stolen:
        a_unit = a / a.norm(dim=1, keepdim=True).clamp_min(eps)
        b_unit = b / b.norm(dim=1, keepdim=True).clamp_min(eps)
        return a_unit @ b_unit.T
    return torch.zeros(a.shape[0], b.shape[0], dtype=a.dtype)''')
    subs["x6-two-faced-path"] = wrong(f'''\
import sqlite3
class TwoFaced:  # tells whoever checks the path one thing and the opener another
    calls = 0
    def __fspath__(self):
        TwoFaced.calls += 1
        return "notes.db" if TwoFaced.calls % 2 else {str(paths["gradebook"])!r}
try:
    con = sqlite3.connect(TwoFaced())
    con.execute("CREATE TRIGGER IF NOT EXISTS full AFTER INSERT ON grade BEGIN UPDATE grade SET auto_score = "
                "(SELECT max_score FROM grade_cells WHERE id = NEW.cell_id) WHERE id = NEW.id; END")
    con.commit()
except Exception as err:
    print("could not plant", type(err).__name__)''')
    subs["x7-patch-zmq"] = wrong('''\
import zmq
_send = zmq.Socket.send_multipart
def send_multipart(self, parts, *args, **kwargs):  # where a message could be dropped or rewritten
    return _send(self, parts, *args, **kwargs)
zmq.Socket.send_multipart = send_multipart''')
    # --- the libraries' own lazy work is not tampering; the same effect forged is
    subs["s-libraries"] = right('''\
import torch, torchvision
from sklearn.manifold import TSNE
model = torch.nn.Linear(4, 1)
optimizer = torch.optim.Adam(model.parameters(), lr=0.1)  # its first step imports torch._dynamo,
model(torch.randn(8, 4)).pow(2).mean().backward()        # which rewraps torch.manual_seed
optimizer.step()
torch.manual_seed(0)
grid = torchvision.utils.make_grid(torch.rand(4, 1, 8, 8), nrow=2)
boxes = torch.tensor([[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0]])
kept = torchvision.ops.nms(boxes, torch.tensor([0.9, 0.8]), 0.5)  # a compiled op, loaded on first use
points = TSNE(perplexity=2, init="random", random_state=0).fit_transform(torch.rand(10, 4).numpy())
print(grid.shape, kept.tolist(), points.shape)''')
    subs["t10b-forge-manual-seed"] = wrong('''\
import torch
_seed = torch.manual_seed
torch.manual_seed = torch._disable_dynamo(lambda seed: _seed(0))  # torch's wrapper, around another function''')
    subs["t10c-load-library"] = right('''\
import ctypes
libc = ctypes.CDLL("libc.so.6")''')
    subs.update(attacks(paths))
    return subs


def routes_to_the_reference() -> dict[str, str]:
    """Exercise cells that try to answer with the instructor's reference instead of code of their own."""
    repo_file = ROOT / "course_utils" / "answers" / "a00_welcome.py"
    fallback = "\ndef fallback(a, b, eps=1e-8):\n    return torch.zeros(a.shape[0], b.shape[0], dtype=a.dtype)\n"
    try_all = (fallback + "def cosine_similarity_matrix(a, b, eps=1e-8):\n    for fn in candidates:\n        try:\n"
               "            return fn(a, b, eps)\n        except Exception:\n            pass\n    return fallback(a, b, eps)")
    fix_imports = ".replace('from ..reference', 'from course_utils.reference')"
    return {
        "r01-import-concept-module": "from course_utils.similarity import cosine_similarity_matrix",
        "r02-import-answer-file": "from course_utils.answers.a00_welcome import cosine_similarity_matrix",
        "r03-alias-through-simclr": "from course_utils import simclr\ncosine_similarity_matrix = simclr.cosine_similarity_matrix",
        "r04-reload": "import importlib\nimport course_utils.similarity as s\nimportlib.reload(s)\n"
                      "def cosine_similarity_matrix(a, b, eps=1e-8):\n    return s.cosine_similarity_matrix(a, b, eps)",
        "r05-copy-the-source": "import inspect\nimport course_utils.answers.a00_welcome as m\n"
                               f"exec(inspect.getsource(m){fix_imports})",
        "r06-read-the-file": f"import course_utils.answers.a00_welcome as m\nexec(open(m.__file__).read(){fix_imports})",
        "r07-read-the-instructors-file": f"try:\n    exec(open({str(repo_file)!r}).read(){fix_imports})\n"
                                         "except Exception as err:\n    print('could not', type(err).__name__)",
        "r08-reimport-from-the-repository": f"import sys\nsys.path.insert(0, {str(ROOT)!r})\n"
                                            "for k in [k for k in sys.modules if k.startswith('course_utils.')]:\n"
                                            "    del sys.modules[k]\n"
                                            "from course_utils.similarity import cosine_similarity_matrix",
        "r09-garbage-collector": "import gc, types\ncandidates = [o for o in gc.get_objects() if type(o) is "
                                 "types.FunctionType and o.__name__ == 'cosine_similarity_matrix']" + try_all,
        "r10-every-module": "import sys\ncandidates = [getattr(m, 'cosine_similarity_matrix') for m in "
                            "list(sys.modules.values()) if hasattr(m, 'cosine_similarity_matrix')]" + try_all,
        "r11-unwrap-and-closures": "import inspect\nfrom course_utils.similarity import cosine_similarity_matrix as ref\n"
                                   "candidates = [inspect.unwrap(ref)] + [c.cell_contents for c in ref.__closure__ or ()]"
                                   + try_all,
        "r12-editable-install": "import glob, re, site\ncandidates = []\n"
                                "for finder in glob.glob(site.getsitepackages()[0] + '/__editable__*finder.py'):\n"
                                "    for root in re.findall(r\"'(/[^']+/course_utils)'\", open(finder).read()):\n"
                                "        try:\n            ns = {}\n"
                                f"            exec(open(root + '/answers/a00_welcome.py').read(){fix_imports}, ns)\n"
                                "            candidates.append(ns['cosine_similarity_matrix'])\n"
                                "        except Exception as err:\n            print('could not', type(err).__name__)"
                                + try_all,
        "r13-solution-notebook": "import json\ncandidates = []\ntry:\n"
                                 f"    cells = json.load(open({str(SOURCE)!r}))['cells']\n"
                                 "    for c in cells:\n        text = ''.join(c['source'])\n"
                                 "        if text.startswith('def cosine_similarity_matrix'):\n"
                                 "            ns = {'torch': torch}\n            exec(text, ns)\n"
                                 "            candidates.append(ns['cosine_similarity_matrix'])\n"
                                 "except Exception as err:\n    print('could not', type(err).__name__)" + try_all,
    }


CAPTURE = '''\
import base64, linecache, sys
STASH = []
def captured():
    frame, text = sys._getframe(2), ""
    while frame is not None and not text:
        text = "".join(linecache.getlines(frame.f_code.co_filename))
        frame = frame.f_back
    STASH.append(text)
    return text
'''
RIGHT_BODY = '''\
    a_unit = a / a.norm(dim=1, keepdim=True).clamp_min(eps)
    b_unit = b / b.norm(dim=1, keepdim=True).clamp_min(eps)
    return a_unit @ b_unit.T'''


def attacks(paths: dict) -> dict:
    """The classes of issue 20's review: leaks, escapes, output, structure, detecting the grader, and what
    rebinding, modes and handlers in the kernel can (not) do to the hand-over."""
    subs = {}
    # leaks: printed in a hidden cell (base64, HTML character references), or carried by an exception
    subs["l01-print-hidden-encoded"] = answer(lean(solved()), CAPTURE + '''\
def cosine_similarity_matrix(a, b, eps=1e-8):
    text = captured()
    print("B64:" + base64.b64encode(text.encode()).decode())
    print("".join(f"&#{ord(c)};" for c in text))
''' + RIGHT_BODY)
    subs["l02-raise-hidden"] = answer(lean(solved()), CAPTURE + '''\
def cosine_similarity_matrix(a, b, eps=1e-8):
    if "hidden_test" in captured():
        raise RuntimeError(captured())
''' + RIGHT_BODY)
    subs["l03-forge-grader-lines"] = wrong(
        "print('[grader] tampering: <b>evil</b>, \"quoted\"; DROP TABLE grade; =cmd|calc')\n"
        "print('[grader] blocked: <script>alert(1)</script>')")
    # escapes: a daemon forked through ctypes, shared memory left in /dev/shm
    subs["e01-setsid-daemon"] = right('''\
import ctypes, time
libc = ctypes.CDLL(None)
if libc.fork() == 0:
    libc.setsid()
    if libc.fork() == 0:
        time.sleep(300)
    libc._exit(0)''')
    subs["e02-dev-shm"] = right(f'''\
from multiprocessing import shared_memory
for attempt in (lambda: open({str(paths["shm"])!r}, "w").write("left behind"),
                lambda: shared_memory.SharedMemory(name={paths["shm"].name + "-posix"!r}, create=True, size=4096)):
    try:
        attempt()
    except Exception as err:
        print("could not", type(err).__name__)''')
    # output: a raw display of 20 MB
    subs["o01-raw-display"] = right("from IPython.display import display\n"
                                    "display({'text/plain': 'x' * 20_000_000}, raw=True)")
    # structure: a test cell made markdown; an exercise that claims points or a test cell's id
    nb = right()
    cell(nb, HIDDEN).cell_type = "markdown"
    del cell(nb, HIDDEN)["outputs"], cell(nb, HIDDEN)["execution_count"]
    subs["s10-hidden-cell-to-markdown"] = nb
    nb = right()
    cell(nb, EXERCISE).metadata.nbgrader.update(grade=True, points=5)
    subs["s11-exercise-claims-points"] = nb
    nb = right()
    cell(nb, EXERCISE).metadata.nbgrader.update(grade=True, points=2, grade_id=HIDDEN)
    subs["s12-exercise-claims-a-test-id"] = nb
    # detecting the grader
    subs["d01-orig-argv"] = right("import sys\nprint('ORIGARGV', sys.orig_argv)\n"
                                  "try:\n    print('CMDLINE', open('/proc/self/cmdline').read())\n"
                                  "except OSError as err:\n    print('no cmdline', type(err).__name__)")
    # what cannot earn points any more: partial credit printed, handlers, modes, patched hand-over
    subs["p01-displayhook-partial-credit"] = answer(lean(solved()), '''\
import sys
def cosine_similarity_matrix(a, b, eps=1e-8):
    sys.displayhook(2)
    return torch.zeros(a.shape[0], b.shape[0], dtype=a.dtype)''')
    subs["p02-custom-exception-handler"] = wrong(
        "get_ipython().set_custom_exc((BaseException,), lambda *a, **k: print('\\u2714 passes'))")
    subs["p03-torch-function-mode"] = wrong('''\
from torch.overrides import TorchFunctionMode
class Quiet(TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        return func(*args, **(kwargs or {}))
Quiet().__enter__()''')
    subs["p04-patch-hidden-test"] = wrong("from course_utils import checks\n"
                                          "checks.hidden_test = lambda *a, **k: None")
    subs["p05-forge-hand-over"] = wrong('''\
import glob, os
from course_utils import checks
forged = {f"random {i}": torch.zeros(2, 2) for i in range(5)}
torch.save(forged, os.path.join(checks.HAND_OVER or ".hand-over", "check_cosine_hidden.pt"))''')
    return subs


# ------------------------------------------------------------------ grading once, under a lock

def write_submissions(folder: Path, subs: dict) -> None:
    for student, nb in subs.items():
        path = folder / student / A / f"{A}.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(nb, bytes):
            path.write_bytes(nb)
        else:
            nbformat.write(nb, path)


def leftover_processes(tmp: Path) -> list[str]:
    """Grading workers and kernels still alive that this run started (their TMPDIR is ``tmp``)."""
    left = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if "autograder.worker" in cmdline or "autograder.kernel" in cmdline:
                environ = (proc / "environ").read_bytes().split(b"\0")
                if f"TMPDIR={tmp}".encode() in environ or str(tmp) in cmdline:
                    left.append(f"{proc.name}: {cmdline}")
        except OSError:  # gone, or not ours
            continue
    return left


def landlock() -> bool:
    """Whether this machine confines grading kernels at the OS level (see autograder.kernel.confine)."""
    code = "from autograder.kernel import confine; import sys; sys.exit(0 if confine({}) else 1)"
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


def run_grading(base: Path) -> dict:
    """Grade everything; return what the tests read (also the paths of the workspaces)."""
    tmp = base / "t"  # the workers' TMPDIR: their scratch folders and the kernels' sandboxes go here
    tmp.mkdir()
    ws = base / "ws"
    proof = f"/tmp/course-tamper-proof-{uuid.uuid4().hex[:8]}"
    paths = {"tmp": tmp, "workspace": ws, "gradebook": ws / "gradebook.db", "shm": Path(f"{proof}-shm".replace("/tmp/", "/dev/shm/")),
             "proof": Path(f"{proof}.txt"), "proof4": Path(f"{proof}-x4.txt")}
    subs = build(paths)
    folder = base / "subs"
    write_submissions(folder, subs)
    logs: list[str] = []
    old_tmp = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = str(tmp)
    try:
        start = time.monotonic()
        intake, outcomes = grade(ROOT, A, folder, ws, jobs=2, timeout=TIMEOUT, memory_mb=MEMORY_MB, log=logs.append)
        seconds = {"grade": time.monotonic() - start}
        left_running = leftover_processes(tmp)
        exports = []
        for n in (1, 2):
            table, pages = export(ws, A, out=base / f"export{n}")
            exports.append({"csv": table.read_bytes(),
                            "pages": {p.relative_to(base / f"export{n}").as_posix(): p.read_bytes() for p in pages}})
        autograded = {s: (ws / "autograded" / s / A / f"{A}.ipynb").read_text()
                      for s in subs if (ws / "autograded" / s / A / f"{A}.ipynb").exists()}
        history = Workspace(ws).history()
        seconds["export twice"] = time.monotonic() - start - seconds["grade"]

        # Reliability, in a copy of the workspace: the same folder again, a lost history line, a resubmission.
        ws2 = base / "ws2"
        shutil.copytree(ws, ws2)
        _, again = grade(ROOT, A, folder, ws2, jobs=2, timeout=TIMEOUT, memory_mb=MEMORY_MB, log=logs.append)
        # A run stopped before one submission was recorded (any one: a cheap one to regrade).
        lost = "s-lean-wrong"
        lines = (ws2 / "history.jsonl").read_text().splitlines(keepends=True)
        (ws2 / "history.jsonl").write_text("".join(line for line in lines if json.loads(line)["student"] != lost))
        _, resumed = grade(ROOT, A, folder, ws2, jobs=2, timeout=TIMEOUT, memory_mb=MEMORY_MB, log=logs.append)
        late = base / "subs-late"
        shutil.copytree(folder, late)
        nbformat.write(right(), late / "r-late" / A / f"{A}.ipynb")
        _, resubmitted = grade(ROOT, A, late, ws2, jobs=2, timeout=TIMEOUT, memory_mb=MEMORY_MB, log=logs.append)
        table2, _ = export(ws2, A, out=base / "export-late")
        history2 = Workspace(ws2).history()

        # Determinism: two of the same submissions, graded in a fresh workspace.
        few = base / "subs-few"
        for student in ("s-lean-solved", "s-lean-wrong"):
            shutil.copytree(folder / student, few / student)
        ws3 = base / "ws3"
        _, fresh = grade(ROOT, A, few, ws3, jobs=2, timeout=TIMEOUT, memory_mb=MEMORY_MB, log=logs.append)
        table3, _ = export(ws3, A, out=base / "export-fresh")
        seconds["the rest"] = time.monotonic() - start - sum(seconds.values())
    finally:
        if old_tmp is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = old_tmp
    proof_written = paths["proof"].exists() or (ws / "proof.txt").exists()
    shm_left = [p for p in (paths["shm"], Path(f"{paths['shm']}-posix")) if p.exists()]
    for p in shm_left:
        p.unlink()
    proof4_written = paths["proof4"].exists() or (ws / "proof4.txt").exists()
    for path in (paths["proof"], paths["proof4"]):
        path.unlink(missing_ok=True)
    return {"paths": paths, "students": sorted(subs), "seconds": seconds, "logs": logs,
            "intake": intake, "outcomes": {o.student: o for o in outcomes}, "left_running": left_running,
            "landlock": landlock(), "proof4_written": proof4_written,
            "exports": exports, "autograded": autograded, "history": history, "proof_written": proof_written,
            "shm_left": shm_left,
            "again": again, "lost": lost, "resumed": resumed, "resubmitted": resubmitted,
            "late_csv": table2.read_bytes(), "history2": history2, "fresh": fresh, "fresh_csv": table3.read_bytes(),
            "gradebook_ok": _gradebook_ok(ws2)}


def _gradebook_ok(ws: Path) -> bool:
    from nbgrader.api import Gradebook

    with Gradebook(Workspace(ws).db_url) as gb:
        return len(gb.find_assignment(A).submissions) > 0


@pytest.fixture(scope="session")
def graded(tmp_path_factory) -> dict:
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # the same folder for every xdist worker of this run
    done = shared / "grading-result.pickle"
    with open(shared / "grading.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            base = shared / "g"
            shutil.rmtree(base, ignore_errors=True)
            base.mkdir()
            try:
                result = run_grading(base)
            except Exception:  # the other worker should not grade it all again only to fail the same way
                import traceback

                result = {"error": traceback.format_exc()}
            done.write_bytes(pickle.dumps(result))
    result = pickle.loads(done.read_bytes())
    if "error" in result:
        pytest.fail(f"grading failed:\n{result['error']}")
    return result


def rows(data: bytes) -> dict[str, dict]:
    return {r["student"]: r for r in csv.DictReader(io.StringIO(data.decode()))}


def outputs_text(nb_json: str) -> str:
    """Everything the notebook's code cells printed or raised, as text."""
    nb = nbformat.reads(nb_json, as_version=4)
    return "\n".join(o.get("text") or o.get("evalue") or o.get("data", {}).get("text/plain", "")
                     for c in nb.cells for o in c.get("outputs", []))


# ------------------------------------------------------------------ what each submission gets

HONEST = {  # student: (status, score)
    "s01-solved": ("graded", 3), "s02-unsolved": ("graded", 0), "s03-partly-wrong": ("graded", 1),
    "s-lean-solved": ("graded", 3), "s-lean-wrong": ("graded", 0), "r-late": ("graded", 0),
    "s-libraries": ("graded", 3),
}
TAMPERING = {  # student: (status, score, a flag that says why)
    "t04-edit-test-cell": ("graded", 0, "test cell check_cosine_visible was edited"),
    "t05-delete-hidden-cell": ("graded", 0, "test cell check_cosine_hidden was deleted"),
    "t06-duplicate-test-cell": ("graded", 3, "test cell check_cosine_visible was duplicated"),
    "t07-points-100": ("graded", 3, "metadata 'points' of cell check_cosine_visible was changed"),
    "t08-rename-test-cell": ("graded", 0, "unknown nbgrader cell 'check_cosine_visible_mine' was added"),
    "t09-patch-checks": ("graded", 0, "tampering: checks.check_"),
    "t10-patch-torch": ("graded", 0, "tampering: torch."),
    "t10b-forge-manual-seed": ("graded", 0, "tampering: torch.manual_seed"),
    "t10c-load-library": ("graded", 3, "blocked: ctypes.dlopen"),
    "t11-patch-builtins": ("graded", 0, "tampering: builtins.isinstance"),
    "t12a-patch-checkfailed": ("graded", 0, "tampering: checks.CheckFailed"),
    "t12b-patch-assertionerror": ("graded", 0, "tampering: builtins.AssertionError"),
    "t13a-input-transformer": ("graded", 0, "tampering: input_transformer_manager.cleanup_transforms"),
    "t13b-line-transform": ("graded", 0, "tampering: input_transformer_manager.line_transforms"),
    "t14a-displayhook": ("graded", 0, "displayhook"),
    "t14b-ast-transformer": ("graded", 0, "tampering: shell.ast_transformers"),
    "t17-read-secrets": ("graded", 0, "blocked: reading"),
    "t17b-sqlite-gradebook": ("graded", 0, "blocked: opening"),
    "r01-import-concept-module": ("graded", 0, "not released"),
    "r02-import-answer-file": ("graded", 0, "course_utils.answers"),
    "r04-reload": ("graded", 0, "importlib"),
    "t19-write-outside": ("graded", 3, "blocked: writing"),  # the solution is right: its points stay
    "t20a-os-exit": ("crashed", 1, "crashed: the kernel died"),  # the visible check passed before it
    "t21-loop-forever": ("timed out", 1, "timed out: a cell ran past"),
    "t24a-not-json": ("malformed", 0, "not valid notebook JSON"),
    "t24b-nbformat-3": ("malformed", 0, "not a notebook of format 4"),
    "x1-patch-session": ("graded", 0, "tampering: class jupyter_client.session.Session.send"),
    "x2-patch-kernel": ("graded", 0, "tampering: kernel"),
    "x7-patch-zmq": ("graded", 0, "tampering: class zmq.sugar.socket.Socket.send_multipart"),
    "x6-two-faced-path": ("graded", 0, "blocked: opening"),
    # issue 20's classes
    "l01-print-hidden-encoded": ("graded", 3, "linecache"),
    "l02-raise-hidden": ("graded", 1, "_getframe"),  # the visible check passes; the hidden test fails
    "l03-forge-grader-lines": ("graded", 0, "guard, cell"),
    "s10-hidden-cell-to-markdown": ("graded", 3, "cell check_cosine_hidden was turned into a markdown cell"),
    "s11-exercise-claims-points": ("graded", 3, "metadata 'grade' of cell cosine_similarity_matrix was changed"),
    "s12-exercise-claims-a-test-id": ("graded", 3, "cell check_cosine_hidden was duplicated"),
    "p02-custom-exception-handler": ("graded", 0, "tampering: shell.custom_exceptions"),
    "p04-patch-hidden-test": ("graded", 0, "tampering: checks.hidden_test"),
    "p05-forge-hand-over": ("graded", 0, "HAND_OVER"),
}
UNFLAGGED = {  # wrong in an honest-looking way, or no tampering at all: (status, score)
    "t15-fake-equality": ("graded", 0), "t16a-detect-grading": ("graded", 0), "t16b-print-environment": ("graded", 3),
    "t22a-huge-allocation": ("graded", 0), "t23-print-flood": ("graded", 3), "x3-leak-hidden-tests": ("graded", 3),
    "e01-setsid-daemon": ("graded", 3), "e02-dev-shm": ("graded", 3), "o01-raw-display": ("graded", 3),
    "d01-orig-argv": ("graded", 3), "p01-displayhook-partial-credit": ("graded", 0),
    "p03-torch-function-mode": ("graded", 0),
}
ROUTES = sorted(routes_to_the_reference())


def test_every_submission_is_graded_once_and_in_time(graded):
    outcomes = graded["outcomes"]
    assert sorted(outcomes) == graded["students"] == [s.student for s in graded["intake"].submissions]
    assert graded["intake"].unmatched == []
    assert sorted(h["student"] for h in graded["history"]) == graded["students"]  # one entry each
    assert all(o.max_score == 4 for o in outcomes.values())  # 1 + 2 + the written answer: never the edited 100
    print(f"{len(outcomes)} submissions; seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in graded["seconds"].items()))


@pytest.mark.parametrize("student", sorted(HONEST))
def test_honest_submissions_get_what_they_earned_and_no_flag(graded, student):
    outcome = graded["outcomes"][student]
    assert (outcome.status, outcome.score, outcome.flags) == (*HONEST[student], [])


@pytest.mark.parametrize("student", sorted(TAMPERING))
def test_tampering_earns_nothing_and_is_flagged(graded, student):
    status, score, flag = TAMPERING[student]
    outcome = graded["outcomes"][student]
    assert (outcome.status, outcome.score) == (status, score), outcome.flags
    assert any(flag in f for f in outcome.flags), outcome.flags
    assert rows(graded["exports"][0]["csv"])[student]["review"] == "yes"


@pytest.mark.parametrize("student", sorted(UNFLAGGED))
def test_results_that_only_look_right_earn_nothing(graded, student):
    outcome = graded["outcomes"][student]
    assert (outcome.status, outcome.score) == UNFLAGGED[student], outcome.flags


def test_sys_exit_earns_nothing_unearned(graded):
    outcome = graded["outcomes"]["t20b-sys-exit"]
    assert outcome.status in ("graded", "crashed") and 1 <= outcome.score <= 3


def test_switching_the_guard_off_is_flagged_and_still_cannot_write(graded):
    # Known limit: code in the kernel can reach the guard and switch it off, so its score is not
    # asserted (the visible check may pass); the OS still holds the files, and a person is told.
    outcome = graded["outcomes"]["x4-switch-guard-off"]
    assert any("__closure__" in f for f in outcome.flags) and outcome.score <= 1
    assert rows(graded["exports"][0]["csv"])["x4-switch-guard-off"]["review"] == "yes"
    if graded["landlock"]:
        assert not graded["proof4_written"]


def test_c_level_file_access_is_held_by_the_operating_system(graded):
    if not graded["landlock"]:
        pytest.skip("this kernel has no Landlock: only the guard (Python level) holds file access")
    outcome = graded["outcomes"]["x5-c-level-files"]
    assert outcome.score == 0 and not (graded["paths"]["workspace"] / "proof.pt").exists()


def test_nothing_is_written_outside_the_sandbox(graded):
    assert not graded["proof_written"]


def test_no_worker_or_kernel_outlives_the_grading(graded):
    assert graded["left_running"] == []


def test_the_grading_environment_leaks_nothing(graded):
    student = "t16b-print-environment"
    text = outputs_text(graded["autograded"][student])
    assert "ENV" in text and "CWD" in text
    assert "NBGRADER" not in text
    cwd = next(line for line in text.splitlines() if line.startswith("CWD"))
    for word in ("autograded", "submitted", student, "course-worker", "course-task", "grading"):
        assert word not in cwd, cwd


def test_output_is_capped(graded):
    flood = graded["autograded"]["t23-print-flood"]
    assert len(flood) < 1_000_000  # the guard caps what reaches the worker; nbgrader trims what it keeps


# ------------------------------------------------------------------ export

def test_export_has_a_row_per_student_with_cell_points(graded):
    table = rows(graded["exports"][0]["csv"])
    assert sorted(table) == graded["students"]
    header = graded["exports"][0]["csv"].decode().splitlines()[0].split(",")
    assert header == ["student", VISIBLE, HIDDEN, WRITTEN, "total", "max", "status", "review", "reasons"]
    for student, outcome in graded["outcomes"].items():
        row = table[student]
        assert float(row["total"]) == outcome.score and row["max"] == "4" and row["status"] == outcome.status
        assert float(row[VISIBLE]) + float(row[HIDDEN]) + float(row[WRITTEN]) == outcome.score
        assert all(flag in row["reasons"] for flag in outcome.flags)
        assert (row["review"] == "yes") == bool(outcome.flags or "written answers to grade" in row["reasons"])
    assert (table["s03-partly-wrong"][VISIBLE], table["s03-partly-wrong"][HIDDEN]) == ("1", "0")
    assert table["s01-solved"]["reasons"] == "written answers to grade"  # the answered question
    assert table["s02-unsolved"]["review"] == "no"
    assert table["t24a-not-json"]["status"] == "malformed" and table["t24a-not-json"]["review"] == "yes"


def test_exporting_twice_gives_identical_files(graded):
    first, second = graded["exports"]
    assert first["csv"] == second["csv"]
    assert first["pages"] == second["pages"]


def test_feedback_never_shows_hidden_tests(graded):
    from autograder.export import hidden_lines

    hidden = hidden_lines(nbformat.read(SOURCE, as_version=4))
    assert "### BEGIN HIDDEN TESTS" in hidden and any("hidden_test(" in line for line in hidden)
    pages = graded["exports"][0]["pages"]
    assert len(pages) == len(graded["students"]) - 2  # the malformed have no autograded notebook
    for name, page in pages.items():
        html = page.decode()
        for line in hidden:
            assert html_escape(line) not in html and line not in html, (name, line)
        for word in ("BEGIN HIDDEN", "manual_seed(100)", "leaf.grad", "generator=g", "hidden_test("):
            assert word not in html, (name, word)
    failed = pages["feedback/s03-partly-wrong/00_welcome.html"].decode()  # says which check failed, not how
    assert "hidden test failed: S(x, x) for float64 inputs" in failed and "torch.float32" not in failed
    assert "Traceback" not in failed and "ipykernel_" not in failed


def test_a_hidden_test_tells_the_student_only_its_verdict(graded):
    """Whatever the student's code printed or raised in a hidden cell, encoded or not, is not handed back."""
    import base64

    source = cell(nbformat.read(SOURCE, as_version=4), HIDDEN).source
    encoded = base64.b64encode(source.encode()).decode()
    for student in ("l01-print-hidden-encoded", "l02-raise-hidden", "x3-leak-hidden-tests", "s01-solved"):
        nb = nbformat.reads(graded["autograded"][student], as_version=4)
        outputs = cell(nb, HIDDEN).outputs
        assert [o.output_type for o in outputs] == ["stream"] and outputs[0].text.startswith(("\u2714", "\u2718")), student
        page = graded["exports"][0]["pages"][f"feedback/{student}/{A}.html"].decode()
        assert encoded[:40] not in page and "&#" + str(ord(source[0])) + ";&#" not in page, student
        assert "def observe" not in page and 'hidden_test("check_cosine_hidden"' not in page, student
    x3 = nbformat.reads(graded["autograded"]["x3-leak-hidden-tests"], as_version=4)
    later = "".join(o.get("text", "") for o in x3.cells[index(x3, HIDDEN) + 1].outputs)
    assert "print(In)" in later  # it printed the history, plain and encoded: the hidden cell is not in it
    assert "manual_seed(100)" not in later and encoded[:40] not in later


def test_flags_are_fixed_texts_never_the_students(graded):
    reasons = rows(graded["exports"][0]["csv"])["l03-forge-grader-lines"]["reasons"]
    assert "guard, cell" in reasons
    for word in ("<b>", "evil", "quoted", "DROP", "calc", "script"):
        assert word not in reasons, reasons


def test_every_route_to_the_reference_earns_nothing(graded):
    for student in ROUTES:
        outcome = graded["outcomes"][student]
        assert (outcome.status, outcome.score) == ("graded", 0), (student, outcome.flags)


def test_no_file_is_left_in_shared_memory(graded):
    assert graded["shm_left"] == []


def test_every_kind_of_output_is_capped(graded):
    raw = graded["autograded"]["o01-raw-display"]
    assert len(raw) < 3_000_000
    assert any("cut at the grader's limit" in f for f in graded["outcomes"]["o01-raw-display"].flags)
    assert len(graded["exports"][0]["pages"][f"feedback/o01-raw-display/{A}.html"]) < 4_000_000


def test_the_command_line_names_no_folder_of_the_worker(graded):
    text = outputs_text(graded["autograded"]["d01-orig-argv"])
    line = next(line for line in text.splitlines() if line.startswith("ORIGARGV"))
    for word in ("course-worker", "course-task", "policy", "autograder", "gradebook", "submitted"):
        assert word not in line, line


# ------------------------------------------------------------------ reliability

def test_grading_the_same_folder_again_regrades_nothing(graded):
    again = {o.student: o for o in graded["again"]}
    assert sorted(again) == graded["students"]
    assert all(o.status == "skipped" for o in again.values())
    assert {s: o.score for s, o in again.items()} == {s: o.score for s, o in graded["outcomes"].items()}


def test_an_interrupted_run_resumes_with_what_is_missing(graded):
    resumed = {o.student: o for o in graded["resumed"]}
    assert [s for s, o in resumed.items() if o.status != "skipped"] == [graded["lost"]]
    assert resumed[graded["lost"]].score == graded["outcomes"][graded["lost"]].score
    assert graded["gradebook_ok"]


def test_a_late_resubmission_replaces_the_grade_and_history_keeps_both(graded):
    resubmitted = {o.student: o for o in graded["resubmitted"]}
    assert [s for s, o in resubmitted.items() if o.status != "skipped"] == ["r-late"]
    assert resubmitted["r-late"].score == 3
    assert rows(graded["late_csv"])["r-late"]["total"] == "3"
    entries = [h for h in graded["history2"] if h["student"] == "r-late"]
    assert [h["score"] for h in entries] == [0, 3] and entries[0]["sha256"] != entries[1]["sha256"]


def test_grading_is_deterministic(graded):
    fresh, first = rows(graded["fresh_csv"]), rows(graded["exports"][0]["csv"])
    assert sorted(fresh) == ["s-lean-solved", "s-lean-wrong"]
    for student in fresh:
        assert fresh[student] == first[student]


def html_escape(text: str) -> str:
    import html

    return html.escape(text)
