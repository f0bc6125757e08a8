"""Does a graded notebook run in a sandbox it cannot escape, within its limits?

Each check is an attempt made by the notebook's own code, and its outcome is read back from the
executed notebook's outputs. Kernel starts cost 1-2 s each, so the attempts share a few runs:
`escape` (reads, writes, network, /proc, fork and memory bombs), `misbehaving` (timeouts, a dying
kernel, a flood of output, a hidden traceback), `normal`, and two time-limit runs.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import sys
import time
import uuid
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

import course_utils
from course_utils.instructor.sandbox import backend as sandbox
from course_utils.instructor.sandbox.backend import Limits, SandboxUnavailable

REPO = Path(course_utils.__file__).resolve().parent.parent
SLOT = 990  # slots (uids 61990+) of this file's own, apart from other tests that grade at the same time

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the sandbox is Linux-only")


@pytest.fixture(scope="module")
def backend():
    try:
        found = sandbox.detect()
    except SandboxUnavailable as e:
        pytest.skip(f"no sandbox here: {e}")
    return found


def notebook(*sources: str) -> nbformat.NotebookNode:
    return new_notebook(cells=[new_code_cell(s) for s in sources],
                        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})


def text(cell) -> str:
    return "".join(out.get("text", "") for out in cell.outputs if out.output_type == "stream")


def errors(cell) -> list[str]:
    return [out.ename for out in cell.outputs if out.output_type == "error"]


def result(cell) -> dict:
    """The JSON object a cell printed on its last line."""
    return json.loads(text(cell).strip().splitlines()[-1])


# --- without running anything ----------------------------------------------------------------


@pytest.mark.parametrize("kwargs, message", [
    ({"cell_timeout": 0}, "Limits.cell_timeout must be a positive number of seconds; got 0"),
    ({"notebook_timeout": float("inf")}, "Limits.notebook_timeout must be a positive number of seconds; got inf"),
    ({"cpu_seconds": -1}, "Limits.cpu_seconds must be a positive number of seconds; got -1"),
    ({"memory_bytes": 2.5e9}, "Limits.memory_bytes must be an int of bytes; got 2500000000.0"),
    ({"processes": True}, "Limits.processes must be an int of processes; got True"),
    ({"output_bytes": "1M"}, "Limits.output_bytes must be an int of bytes; got '1M'"),
    ({"file_bytes": 0}, "Limits.file_bytes must be a positive number of bytes; got 0"),
])
def test_limits_name_the_field_and_the_value(kwargs, message):
    """Does each bad limit raise a one-line ValueError naming the field and the value given?"""
    with pytest.raises(ValueError, match="^" + message.replace(".", r"\.").replace("(", r"\(") + "$"):
        Limits(**kwargs)


def test_limits_accept_whole_seconds_and_are_frozen():
    """Is an int accepted where seconds are floats, and can a Limits not be changed after the fact?"""
    limits = Limits(cell_timeout=30, notebook_timeout=90.5)
    with pytest.raises(AttributeError):
        limits.cell_timeout = 1


def test_detect_without_bwrap_says_how_to_fix_it(monkeypatch):
    """Without bubblewrap, does detect() refuse with one line naming the package and --unsafe?"""
    monkeypatch.setattr(sandbox.shutil, "which", lambda tool: None if tool == "bwrap" else f"/usr/bin/{tool}")
    with pytest.raises(SandboxUnavailable, match=r"^bwrap not found.*apt install bubblewrap.*--unsafe") as info:
        sandbox.detect()
    assert "\n" not in str(info.value)


def test_unsafe_backend_says_so_loudly():
    """Does --unsafe give a backend that says plainly there is no isolation?"""
    backend = sandbox.detect(unsafe=True)
    assert backend.name == "none (--unsafe)"
    assert backend.describe().startswith("NO SANDBOX (--unsafe)")
    assert "solutions/" in backend.describe()


def test_bubblewrap_command_binds_no_repository_root(backend, tmp_path):
    """Does the sandbox's root hold the package, the venv and the submission, but not the repository?"""
    argv = backend.command(tmp_path, Limits(), slot=SLOT)
    mounted = {argv[i + 2] for i, a in enumerate(argv) if a in ("--ro-bind", "--bind")}
    assert str(Path(course_utils.__file__).resolve().parent) in mounted
    assert str(tmp_path.resolve()) in mounted
    assert str(REPO) not in mounted and not any(m in mounted for m in ("/", str(REPO / "solutions")))
    assert "--unshare-net" in argv and "--die-with-parent" in argv and "--clearenv" in argv


# --- runs -------------------------------------------------------------------------------------


MARKER_HALVES = ("HIDDEN-TEST", "-MARKER-5b1e")  # joined only in the hidden cell, so the search cannot find itself

ESCAPE_ATTEMPTS = {
    "read": """
import errno, json
found = {}
for path in PATHS:
    try:
        open(path, "rb").read(1)
        found[path] = "READ"
    except OSError as e:
        found[path] = errno.errorcode[e.errno]
print(json.dumps(found))
""",
    "write": """
import errno, json, os
wrote = {}
for path in PATHS:
    try:
        with open(path, "w") as f:
            f.write("escaped")
        wrote[path] = "WROTE"
    except OSError as e:
        wrote[path] = errno.errorcode[e.errno]
with open("made_here.txt", "w") as f:
    f.write("a student's own file")
try:  # a submitted file that is hard-linked to one outside the submission
    with open("linked.txt", "a") as f:
        f.write("changed")
    wrote["linked"] = "WROTE"
except OSError as e:
    wrote["linked"] = errno.errorcode[e.errno]
try:  # one file past Limits.file_bytes (RLIMIT_FSIZE; Python ignores SIGXFSZ, so the write fails)
    with open("big.bin", "wb") as f:
        f.write(bytes(LIMIT + 1))
    wrote["big"] = "WROTE"
except OSError as e:
    wrote["big"] = errno.errorcode[e.errno]
try:  # many files under the limit, filling the private /tmp (a tmpfs of file_bytes)
    for i in range(8):
        with open(f"/tmp/fill-{i}", "wb") as f:
            f.write(bytes(LIMIT // 2))
    wrote["tmp_fill"] = "WROTE"
except OSError as e:
    wrote["tmp_fill"] = errno.errorcode[e.errno]
print(json.dumps(wrote))
""",
    "network": """
import errno, json, socket
net = {}
for host, port in [("1.1.1.1", 53), ("10.255.255.1", 80), ("8.8.8.8", 443)]:
    try:
        socket.create_connection((host, port), timeout=3).close()
        net[host] = "CONNECTED"
    except OSError as e:
        net[host] = errno.errorcode.get(e.errno, type(e).__name__)
print(json.dumps(net))
""",
    "worker": """
import json, os
me = os.getuid()
workers, uids = [], set()
for p in [p for p in os.listdir("/proc") if p.isdigit()]:
    argv = open(f"/proc/{p}/cmdline", "rb").read().split(bytes(1))
    worker = b"course_utils.instructor.sandbox.worker"
    if any(worker in a for a in argv) and not argv[0].endswith(b"bwrap"):  # not pid 1
        workers.append(p)
        uids.add(int(open(f"/proc/{p}/status").read().split("Uid:")[1].split()[0]))
tried = {"workers": len(workers), "same_uid": uids == {me}}
for p in workers:
    for what, attempt in [("mem", lambda: open(f"/proc/{p}/mem", "rb").read(1)),
                          ("fd", lambda: os.listdir(f"/proc/{p}/fd")),
                          ("stdin", lambda: open(f"/proc/{p}/fd/0", "rb").read(1)),
                          ("environ", lambda: open(f"/proc/{p}/environ", "rb").read())]:
        try:
            attempt()
            tried[what] = "READ"
        except OSError as e:
            tried[what] = type(e).__name__
seen = []
for top in [os.getcwd(), "/tmp", "/dev/shm"]:
    for root, dirs, files in os.walk(top):
        for name in files:
            try:
                if MARKER.encode() in open(os.path.join(root, name), "rb").read():
                    seen.append(os.path.join(root, name))
            except OSError:
                pass
for p in [p for p in os.listdir("/proc") if p.isdigit()]:
    for name in ("cmdline", "environ"):
        try:
            if MARKER.encode() in open(f"/proc/{p}/{name}", "rb").read():
                seen.append(f"/proc/{p}/{name}")
        except OSError:
            pass
tried["marker_seen_in"] = seen
tried["uid"] = me
status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines())
tried["caps"] = {k: status[k].strip() for k in ("CapEff", "CapPrm", "CapBnd", "NoNewPrivs")}
tried["grader_env_seen"] = sorted(k for k in os.environ if k.startswith("COURSE_TEST_"))
print(json.dumps(tried))
""",
    "fork_bomb": """
import json, os, time
children = []
try:
    while len(children) < 10_000:  # a fork bomb, but one whose children only sleep and that cleans up
        pid = os.fork()
        if pid == 0:
            time.sleep(60)
            os._exit(0)
        children.append(pid)
    outcome = "NOT STOPPED"
except BlockingIOError:
    outcome = "BlockingIOError"
finally:
    for pid in children:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
print(json.dumps({"outcome": outcome, "children": len(children)}))
""",
    "memory_bomb": """
import json
outcome = {}
try:
    huge = bytearray(64 * 2**30)
    outcome["huge"] = "ALLOCATED"
except MemoryError:
    outcome["huge"] = "MemoryError"
blocks = []
try:
    while len(blocks) < 1000:
        blocks.append(bytearray(32 * 2**20))
    outcome["gradual"] = "ALLOCATED"
except MemoryError:
    outcome["gradual"] = "MemoryError"
outcome["gradual_mib"] = 32 * len(blocks)
del blocks
print(json.dumps(outcome))
""",
    "after": "print('still running')",
}


@pytest.fixture(scope="module")
def escape(backend, tmp_path_factory):
    """One run that tries to read, write, connect, peek at the worker, and exhaust processes and memory."""
    top = tmp_path_factory.mktemp("course")
    workdir = top / "submitted" / "alice"
    workdir.mkdir(parents=True)
    (top / "gradebook.db").write_text("every student's scores")
    (top / "submitted" / "bob").mkdir()
    (top / "submitted" / "bob" / "answers.ipynb").write_text("bob's work")
    (top / "original.txt").write_text("the grader's copy")
    os.link(top / "original.txt", workdir / "linked.txt")  # as a caller's `cp -al` would
    (top / "elsewhere").mkdir()
    (workdir / sandbox.PRIVATE_DIR).symlink_to(top / "elsewhere")  # a submitted link where HOME will be
    solutions = sorted((REPO / "solutions").rglob("*.ipynb"))
    assert solutions, "the repository's solutions/ holds instructor notebooks to try to read"
    secret_reads = [str(solutions[0]), str(top / "gradebook.db"), str(top / "submitted" / "bob" / "answers.ipynb"),
                    str(REPO / "nbgrader_config.py"), "/etc/shadow", "/root/.bash_history"]
    tag = uuid.uuid4().hex
    outside = [str(top / f"escaped-{tag}"), str(top / "submitted" / "bob" / f"escaped-{tag}"),
               str(REPO / f"escaped-{tag}"), str(Path(sys.prefix) / f"escaped-{tag}"),
               str(Path(course_utils.__file__).parent / f"escaped-{tag}"), f"/usr/escaped-{tag}", f"/escaped-{tag}",
               f"/root/escaped-{tag}", f"/tmp/escaped-{tag}"]
    limits = Limits(cell_timeout=60, notebook_timeout=180, processes=32, memory_bytes=1 * 2**30, file_bytes=2**20)
    nb = notebook(
        f"PATHS = {secret_reads!r}" + ESCAPE_ATTEMPTS["read"],
        f"PATHS = {outside!r}\nLIMIT = {limits.file_bytes}" + ESCAPE_ATTEMPTS["write"],
        ESCAPE_ATTEMPTS["network"],
        f"MARKER = {''.join(MARKER_HALVES)!r}" + ESCAPE_ATTEMPTS["worker"],
        ESCAPE_ATTEMPTS["fork_bomb"],
        ESCAPE_ATTEMPTS["memory_bomb"],
        ESCAPE_ATTEMPTS["after"],
        f"# {''.join(MARKER_HALVES)}: a hidden test the student's code must not see beforehand\nassert True",
    )
    os.environ["COURSE_TEST_GRADER_TOKEN"] = "not for students"  # the grader's environment must not leak in
    try:
        run = backend.execute(nb, workdir=workdir, limits=limits, slot=SLOT)
    finally:
        del os.environ["COURSE_TEST_GRADER_TOKEN"]
    return {"run": run, "workdir": workdir, "top": top, "secret_reads": secret_reads, "outside": outside,
            "limits": limits, "cells": {name: i for i, name in enumerate(ESCAPE_ATTEMPTS)}}


def test_escape_run_is_ok(escape):
    """Did the attempts themselves run normally (no timeout, no dead kernel)?"""
    run = escape["run"]
    assert (run.status, run.message) == ("ok", ""), [errors(c) for c in run.notebook.cells]


def test_cannot_read_solutions_gradebook_or_other_students(escape):
    """Are solutions/, the gradebook beside the submission and another student's folder unreadable?"""
    found = result(escape["run"].notebook.cells[escape["cells"]["read"]])
    assert set(found) == set(escape["secret_reads"])
    assert set(found.values()) <= {"ENOENT", "EACCES"}, found  # absent from the sandbox, or not ours


def test_cannot_write_outside_the_submission(escape):
    """Does writing anywhere but the submission's folder fail, leaving nothing on the host?"""
    wrote = result(escape["run"].notebook.cells[escape["cells"]["write"]])
    private_tmp = [p for p in escape["outside"] if p.startswith("/tmp/escaped-")]
    assert wrote[private_tmp[0]] == "WROTE"  # the sandbox's own /tmp, gone with it
    assert all(wrote[p] in {"EROFS", "EACCES", "ENOENT"} for p in escape["outside"] if p not in private_tmp), wrote
    assert not any(os.path.lexists(p) for p in escape["outside"]), "a write escaped the sandbox"
    made = escape["workdir"] / "made_here.txt"
    assert made.read_text() == "a student's own file"
    assert made.stat().st_uid == escape["workdir"].stat().st_uid == os.getuid()  # given back after the run
    assert not (escape["workdir"] / sandbox.PRIVATE_DIR).exists()


def test_submitted_links_do_not_reach_outside(escape):
    """Do a hard link and a symlink among the submitted files leave the files they point to untouched?"""
    wrote = result(escape["run"].notebook.cells[escape["cells"]["write"]])
    assert (escape["top"] / "original.txt").read_text() == "the grader's copy"
    assert list((escape["top"] / "elsewhere").iterdir()) == []
    if os.geteuid() == 0:
        assert wrote["linked"] == "EACCES"


def test_file_size_and_private_tmp_are_bounded(escape):
    """Does a file past Limits.file_bytes fail with EFBIG, and filling /tmp with ENOSPC?"""
    wrote = result(escape["run"].notebook.cells[escape["cells"]["write"]])
    assert (wrote["big"], wrote["tmp_fill"]) == ("EFBIG", "ENOSPC")
    assert (escape["workdir"] / "big.bin").stat().st_size == escape["limits"].file_bytes


def test_cannot_reach_the_network(escape):
    """Does a TCP connection to an address beyond loopback fail?"""
    net = result(escape["run"].notebook.cells[escape["cells"]["network"]])
    assert net == dict.fromkeys(["1.1.1.1", "10.255.255.1", "8.8.8.8"], "ENETUNREACH")  # only loopback exists


def test_hidden_tests_are_not_readable_from_the_worker(escape):
    """Can the student's code, though it runs as the worker's uid, not read its memory, fds or a file?"""
    tried = result(escape["run"].notebook.cells[escape["cells"]["worker"]])
    assert tried["workers"] == 1 and tried["same_uid"], tried
    assert {tried[k] for k in ("mem", "fd", "stdin", "environ")} == {"PermissionError"}, tried
    assert tried["marker_seen_in"] == []
    if os.geteuid() == 0:
        assert tried["uid"] == sandbox.SANDBOX_UID_BASE + SLOT


def test_student_code_has_no_privileges_or_grader_environment(escape):
    """Does the student's code run without capabilities, with no_new_privs, and without the grader's variables?"""
    tried = result(escape["run"].notebook.cells[escape["cells"]["worker"]])
    zero = "0000000000000000"
    assert tried["caps"] == {"CapEff": zero, "CapPrm": zero, "CapBnd": zero, "NoNewPrivs": "1"}
    assert tried["grader_env_seen"] == []


def test_fork_bomb_hits_the_process_limit(escape):
    """Does a fork bomb stop with BlockingIOError below Limits.processes, leaving no process behind?"""
    outcome = result(escape["run"].notebook.cells[escape["cells"]["fork_bomb"]])
    assert outcome["outcome"] == "BlockingIOError"
    assert 0 < outcome["children"] < escape["limits"].processes
    if os.geteuid() == 0:
        assert sandbox._user_tasks(sandbox.SANDBOX_UID_BASE + SLOT) == 0


def test_memory_bomb_raises_memory_error_and_later_cells_run(escape):
    """Does allocating past Limits.memory_bytes raise MemoryError, and do the next cells still run?"""
    cells = escape["run"].notebook.cells
    outcome = result(cells[escape["cells"]["memory_bomb"]])
    assert outcome["huge"] == outcome["gradual"] == "MemoryError"
    assert outcome["gradual_mib"] < escape["limits"].memory_bytes / 2**20
    assert text(cells[escape["cells"]["after"]]) == "still running\n"


@pytest.fixture(scope="module")
def misbehaving(backend, tmp_path_factory):
    """One run with a stuck cell, an uninterruptible one, os._exit, 100 MB of print and hidden tracebacks."""
    nb = notebook(
        "x = 41",
        "while True:\n    pass",
        "print(x + 1)",
        "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass",
        "print('x' in dir())",
        "y = 1\nimport os\nos._exit(1)",
        "print('after', 'y' in dir())",
        "print('x' * 100_000_000)",
        "raise ValueError('an error after the output budget is spent')",
        "import sys\nget_ipython().showtraceback = lambda *args, **kwargs: None\nsys.excepthook = lambda *args: None",
        "assert 1 + 1 == 3, 'a failing test whose traceback the student hid'",
        "print('end')",
    )
    nb.cells.insert(1, new_markdown_cell("Markdown cells are left alone."))
    limits = Limits(cell_timeout=3, notebook_timeout=120, output_bytes=64 * 2**10)
    run = backend.execute(nb, workdir=tmp_path_factory.mktemp("misbehaving"), limits=limits, slot=SLOT + 1)
    return run, limits, [c for c in run.notebook.cells if c.cell_type == "code"]


def test_stuck_cell_times_out_and_later_cells_run(misbehaving):
    """Is a cell past cell_timeout interrupted with the kernel kept, so later cells see earlier names?"""
    run, _, cells = misbehaving
    assert run.message.startswith("cell 3 ran past 3 s (interrupted);")
    assert "CellTimeout" in errors(cells[1])
    assert text(cells[2]) == "42\n"


def test_uninterruptible_cell_restarts_the_kernel(misbehaving):
    """Is a cell that ignores SIGINT stopped by restarting the kernel, with the next cells still run?"""
    run, _, cells = misbehaving
    assert "CellTimeout" in errors(cells[3]) and "restarted" in cells[3].outputs[-1].evalue
    assert text(cells[4]) == "False\n"  # a fresh kernel: x is gone


def test_os_exit_restarts_the_kernel(misbehaving):
    """Does os._exit give a KernelDied error in its cell, a new kernel, and later cells that run?"""
    run, _, cells = misbehaving
    assert run.status == "kernel-died"  # worse than the cell timeouts that came first
    assert errors(cells[5]) == ["KernelDied"]
    assert "the kernel died with exit code 1 in cell 7 (restarted)" in run.message
    assert text(cells[6]) == "after False\n"


def test_huge_print_is_cut_to_the_output_budget(misbehaving):
    """Is a 100 MB print cut to output_bytes with a note, and is the next error still recorded?"""
    run, limits, cells = misbehaving
    kept = sum(len(json.dumps(out)) for c in cells for out in c.outputs)
    assert kept < limits.output_bytes + 20_000
    assert "bytes of output dropped" in text(cells[7])
    assert errors(cells[8]) == ["ValueError"]
    assert len(nbformat.writes(run.notebook)) < limits.output_bytes + 50_000


def test_hidden_traceback_still_fails_the_cell(misbehaving):
    """With showtraceback and excepthook patched away, does a failing test cell still get an error output?"""
    run, _, cells = misbehaving
    assert cells[9].outputs == []
    assert errors(cells[10]) == ["AssertionError"]
    assert "bytes of output dropped" in text(cells[11])  # it ran; the spent budget keeps errors only
    # the note is on stdout: nbgrader would score a graded cell with a stderr output as 0 points
    assert [out.get("name") for out in cells[11].outputs] == ["stdout"]


def test_normal_notebook_via_the_dask_wrapper(backend, tmp_path):
    """Does a correct notebook give "ok" and its outputs through the picklable execute_notebook wrapper?

    It also imports a student's extra file, and starts a busy child that RLIMIT_CPU must stop.
    """
    (tmp_path / "helper.py").write_text("VALUE = 7\n")  # a student's extra file, importable from the notebook
    nb = notebook("import helper\nprint(helper.VALUE * 6)", "helper.VALUE",
                  "import subprocess, sys\nbusy = [sys.executable, '-c', 'while True: pass']\n"
                  "print(subprocess.run(busy).returncode)")
    limits = Limits(cell_timeout=60, cpu_seconds=3)
    out = sandbox.execute_notebook(nbformat.writes(nb), str(tmp_path), limits, backend.name, SLOT + 2)
    assert pickle.loads(pickle.dumps(sandbox.execute_notebook)) is sandbox.execute_notebook
    assert (out["status"], out["message"]) == ("ok", "")
    assert 0 < out["seconds"] < 60
    cells = nbformat.reads(out["notebook"], as_version=4).cells
    assert text(cells[0]) == "42\n"
    assert cells[1].outputs[0].data["text/plain"] == "7"
    assert text(cells[2]) == f"{-signal.SIGXCPU}\n"  # a busy child process stopped by RLIMIT_CPU
    assert (tmp_path / "helper.py").stat().st_uid == os.getuid()


def no_process_left(uid: int) -> bool:
    """True once ``uid`` runs nothing (killed processes may take a moment to be reaped)."""
    for _ in range(20):
        if sandbox._user_tasks(uid) == 0:
            return True
        time.sleep(0.1)
    return False


def test_stopped_worker_is_killed_at_the_notebook_limit(backend, tmp_path):
    """If student code stops the worker, is everything killed at notebook_timeout, finished cells kept?"""
    nb = notebook("print('first')", "import os, signal, time\nos.kill(os.getppid(), signal.SIGSTOP)\ntime.sleep(600)",
                  "print('never')")
    run = backend.execute(nb, workdir=tmp_path, limits=Limits(notebook_timeout=8), slot=SLOT + 3)
    assert (run.status, run.message) == ("notebook-timeout", "the notebook ran past its 8 s limit")
    assert text(run.notebook.cells[0]) == "first\n"
    assert errors(run.notebook.cells[1]) == errors(run.notebook.cells[2]) == ["NotRun"]
    assert 8 <= run.seconds < 8 + 4
    if os.geteuid() == 0:
        assert no_process_left(sandbox.SANDBOX_UID_BASE + SLOT + 3)


def test_kill_before_the_kernel_starts_fails_every_cell(backend, tmp_path):
    """When the limit passes before the kernel even starts, does every code cell get an error, quickly?"""
    nb = notebook("print('hello')", "print('world')")
    run = backend.execute(nb, workdir=tmp_path, limits=Limits(notebook_timeout=0.5), slot=SLOT + 4)
    assert run.status == "notebook-timeout"
    assert all(errors(c) == ["NotRun"] for c in run.notebook.cells)
    assert run.seconds < 4
    if os.geteuid() == 0:
        assert no_process_left(sandbox.SANDBOX_UID_BASE + SLOT + 4)


@pytest.mark.parametrize("where", [REPO, REPO.parent, Path("/")])
def test_workdir_holding_the_repository_is_refused(where):
    """Is a workdir that would make the repository (solutions/ and all) writable refused before anything runs?"""
    with pytest.raises(ValueError, match="^workdir must be a folder of its own for one submission"):
        sandbox.BubblewrapBackend("/bin/false").execute(notebook("1"), workdir=where, limits=Limits())


def test_broken_sandbox_fails_every_cell(tmp_path):
    """If the sandbox itself fails to start, is that a "sandbox-error" whose cells all fail (never pass)?"""
    nb = notebook("print('hello')", "assert True")
    run = sandbox.BubblewrapBackend("/bin/false").execute(nb, workdir=tmp_path, limits=Limits(), slot=SLOT + 5)
    assert run.status == "sandbox-error" and run.message.startswith("the sandbox stopped with exit code 1")
    assert all(errors(c) == ["NotRun"] for c in run.notebook.cells)


def test_unsafe_backend_stops_a_notebook_at_its_limit(tmp_path):
    """Without a sandbox (--unsafe), does the worker itself stop at notebook_timeout, keeping finished cells?"""
    nb = notebook("print(6 * 7)", "import time\ntime.sleep(600)", "print('never')")
    run = sandbox.UnsafeBackend().execute(nb, workdir=tmp_path, limits=Limits(notebook_timeout=8))
    assert run.status == "notebook-timeout"
    assert text(run.notebook.cells[0]) == "42\n"
    assert errors(run.notebook.cells[1]) == ["NotebookTimeout"]
    assert errors(run.notebook.cells[2]) == ["NotRun"]
    assert run.seconds < 8


def test_processes_left_by_a_failed_cell_are_reaped(backend, tmp_path):
    """After a fork bomb's cell fails, are its sleeping children killed, so the next cell can start processes?

    Without that, the children keep the whole RLIMIT_NPROC budget and a later, innocent cell (a
    subprocess, or a library starting threads) fails: points lost for cells unrelated to the bomb.
    """
    nb = notebook(
        "import os, time\nfor _ in range(1_000):\n    if os.fork() == 0:\n        time.sleep(3600)",
        "import subprocess\nprint([subprocess.run(['true']).returncode for _ in range(3)])",
    )
    run = backend.execute(nb, workdir=tmp_path, limits=Limits(cell_timeout=20, processes=32), slot=SLOT + 6)
    cells = [c for c in run.notebook.cells if c.cell_type == "code"]
    assert errors(cells[0]) == ["BlockingIOError"]
    assert text(cells[1]) == "[0, 0, 0]\n"
    assert no_process_left(backend.uid(SLOT + 6))
