"""Run an untrusted student notebook in a sandbox, for `course grade`.

While a submission runs, its code must not read ``solutions/``, the gradebook, other students'
files or the network, must not write outside its own folder, and is bounded in CPU time, wall time
per cell and per notebook, memory, processes and output size. The isolation is Debian's
bubblewrap (``bwrap``, the sandbox Flatpak uses), not a home-made one:

- a fresh root holding only /usr, a few files of /etc, the Python installation, the virtual
  environment and the ``course_utils`` package, all read-only (never the repository root, so
  ``solutions/``, the gradebook and other students' folders are simply absent), plus the
  submission's own folder read-write and a small private /tmp;
- new network, PID, IPC, UTS and cgroup namespaces (only a loopback interface, for the kernel);
- as root: a uid of its own per slot (61000 + slot, no passwd entry needed), entered with
  ``setpriv`` with no capabilities and ``no_new_privs``, so that RLIMIT_NPROC (counted per real
  uid, ignored for root) bounds the number of processes, and so that the student cannot touch
  root-owned files; as another user: that user, inside a user namespace;
- rlimits set with ``prlimit`` on everything inside: CPU seconds, address space, processes,
  file size.

Inside, ``course_utils.instructor.sandbox.worker`` executes the notebook with nbclient; see there for the
output budget, the per-cell timeout and the kernel restarts.

>>> backend = detect()                                   # doctest: +SKIP
>>> run = backend.execute(nb, workdir=Path("work/alice"), limits=Limits(cell_timeout=30))  # doctest: +SKIP
>>> run.status, run.message                              # doctest: +SKIP
('ok', '')
"""

from __future__ import annotations

import functools
import json
import math
import numbers
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Protocol

import nbformat

import course_utils
from course_utils.instructor.nbgrader_run import IOPUB_TIMEOUT
from course_utils.instructor.sandbox import worker

SANDBOX_UID_BASE = 61000  # uid of slot k is 61000 + k when grading as root (no passwd entry needed)
MAX_SLOTS = 1000  # slots 0..999, so uids stay within 61000..61999
PRIVATE_DIR = ".course-sandbox"  # inside workdir: HOME, IPython/Jupyter/matplotlib dirs; removed afterwards
WORKER_GRACE = 3.0  # seconds (at most 20% of the limit) between the worker stopping itself and the hard kill
STDERR_KEPT = 4000  # characters of the sandbox's stderr kept for a "sandbox-error" message


@dataclass(frozen=True)
class Limits:
    """What one graded notebook may use. Each is enforced per notebook run.

    Examples
    --------
    >>> Limits(cell_timeout=30).cell_timeout
    30
    >>> Limits(memory_bytes=0)
    Traceback (most recent call last):
    ValueError: Limits.memory_bytes must be a positive number of bytes; got 0
    """

    cell_timeout: float = 60.0  # wall seconds per cell (nbclient's timeout); the cell is then interrupted
    iopub_timeout: float = float(IOPUB_TIMEOUT)  # wall seconds to wait for a finished cell's output
    notebook_timeout: float = 600.0  # wall seconds for the whole sandboxed run, then everything is killed
    cpu_seconds: int = 600  # RLIMIT_CPU for each process in the sandbox (SIGXCPU, then SIGKILL)
    memory_bytes: int = 2 * 2**30  # RLIMIT_AS for each process: address space, so MemoryError, not OOM kills
    processes: int = 64  # RLIMIT_NPROC: processes and threads of the sandbox's uid (a uid of its own as root)
    output_bytes: int = 1 * 2**20  # cell-output text kept per notebook; the rest replaced by a note
    file_bytes: int = 64 * 2**20  # RLIMIT_FSIZE (largest file written), and the size of the private /tmp

    def __post_init__(self) -> None:
        units = {"cell_timeout": "seconds", "iopub_timeout": "seconds", "notebook_timeout": "seconds",
                 "cpu_seconds": "seconds", "memory_bytes": "bytes", "processes": "processes",
                 "output_bytes": "bytes", "file_bytes": "bytes"}
        for f in fields(self):
            value = getattr(self, f.name)
            integral = f.type == "int"
            ok_type = isinstance(value, numbers.Integral if integral else numbers.Real)
            if isinstance(value, bool) or not ok_type:
                kind = "an int" if integral else "a number"
                raise ValueError(f"Limits.{f.name} must be {kind} of {units[f.name]}; got {value!r}")
            if not (value > 0 and math.isfinite(value)):
                raise ValueError(f"Limits.{f.name} must be a positive number of {units[f.name]}; got {value!r}")


@dataclass(frozen=True)
class Execution:
    """The outcome of one sandboxed run."""

    notebook: nbformat.NotebookNode  # the executed notebook (outputs filled in; cells not run get an error)
    status: str  # "ok" | "cell-timeout" | "notebook-timeout" | "kernel-died" | "sandbox-error"
    message: str  # one line for the report ("" when ok)
    seconds: float  # wall time


class SandboxUnavailable(RuntimeError):
    """No sandbox can run here; the message is one line that says how to fix it."""


class Backend(Protocol):
    name: str  # "bubblewrap" or "none (--unsafe)"

    def describe(self) -> str: ...

    def execute(self, notebook: nbformat.NotebookNode, *, workdir: Path, limits: Limits,
                slot: int = 0) -> Execution: ...


# ---------------------------------------------------------------------------------------------
# What runs inside


def _worker_argv() -> list[str]:
    # -I: the worker's imports ignore the current directory (the student's folder) and PYTHON* variables.
    # -m, not a path: the worker is found in the installed, read-only course_utils, never among a student's files.
    return [sys.executable, "-I", "-m", worker.__name__]


def _prlimit_argv(limits: Limits, nproc: int) -> list[str]:
    # One value sets soft and hard limits alike: an unprivileged process cannot raise them again. CPU time:
    # SIGXCPU at the limit (a clear cause of death), SIGKILL 5 s later for code that catches SIGXCPU.
    return ["prlimit", f"--cpu={limits.cpu_seconds}:{limits.cpu_seconds + 5}", f"--as={limits.memory_bytes}",
            f"--nproc={nproc}", f"--fsize={limits.file_bytes}", "--core=0", "--"]


def _environment(workdir: Path) -> dict[str, str]:
    """The whole environment inside: nothing is inherited from the grader's (no tokens, no paths)."""
    home = workdir / PRIVATE_DIR
    return {
        "HOME": str(home),
        "IPYTHONDIR": str(home / "ipython"),
        "JUPYTER_CONFIG_DIR": str(home / "jupyter-config"),
        "JUPYTER_DATA_DIR": str(home / "jupyter-data"),
        "JUPYTER_RUNTIME_DIR": str(home / "jupyter-runtime"),
        "JUPYTER_PLATFORM_DIRS": "1",  # silences jupyter_core's deprecation warning on every start
        "MPLCONFIGDIR": str(home / "matplotlib"),
        "MPLBACKEND": "Agg",
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "TMPDIR": "/tmp",
        "LANG": "C.UTF-8",
        "USER": "student",  # getpass.getuser() reads these first: the sandbox uid has no passwd entry
        "LOGNAME": "student",
        "OMP_NUM_THREADS": "1",  # one thread per BLAS/torch pool: fewer processes (threads count) and CPU
        "MKL_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MALLOC_ARENA_MAX": "2",  # glibc reserves 64 MiB of address space per thread arena: keep RLIMIT_AS for data
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",  # debugpy's warning about frozen modules, once per kernel
        "PYTHONDONTWRITEBYTECODE": "1",  # the installation is read-only anyway
    }


def _run(argv: list[str], *, limits: Limits, notebook: nbformat.NotebookNode, env: dict[str, str],
         cwd: str, private_pids: bool = False) -> Execution:
    """Start ``argv`` (ending in the worker), feed it the notebook, collect its cells, kill it at the limit.

    ``private_pids``: the worker runs in a pid namespace of its own, so it may kill every process
    there that is not itself or the kernel (see ``worker.reap_strays``).
    """
    start = time.monotonic()
    request = _request(notebook, limits, start) | {"reap_strays": private_pids}
    nb = nbformat.from_dict(json.loads(json.dumps(notebook)))  # our copy: sources come from here, not the sandbox
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=env, cwd=cwd, start_new_session=True)
    except OSError as e:
        return _finish(nb, set(), "sandbox-error", f"could not start the sandbox: {e}", start)
    talk = _WorkerTalk(proc, nb)
    talk.start(request)
    timed_out = False
    try:
        proc.wait(timeout=max(0.0, start + limits.notebook_timeout - time.monotonic()))
    except subprocess.TimeoutExpired:
        timed_out = True
    finally:
        _kill_group(proc)
        talk.join(timeout=10)
    if timed_out:
        status, message = "notebook-timeout", f"the notebook ran past its {limits.notebook_timeout:g} s limit"
    elif talk.done:
        status, message = talk.done["status"], talk.done["message"]
    else:
        lines = [x for x in talk.err_tail.splitlines() if x.strip()]
        last = lines[-1].strip() if lines else "no message"
        status, message = "sandbox-error", f"the sandbox stopped with exit code {proc.returncode}: {last}"
    return _finish(nb, talk.reported, status, message, start)


class _WorkerTalk:
    """Three threads on a running worker: one writes the request, one reads its cells, one keeps its stderr's end.

    As the worker reports each code cell, its outputs go into ``nb`` (the parent's own copy of the
    notebook) and its index into ``reported``; the worker's last line (``{"done": true, ...}``) into
    ``done``; the last ``STDERR_KEPT`` characters of its stderr into ``err_tail``.
    """

    def __init__(self, proc: subprocess.Popen, nb: nbformat.NotebookNode) -> None:
        self.proc, self.nb = proc, nb
        self.code_cells = {i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"}
        self.done: dict = {}
        self.reported: set[int] = set()
        self.err_tail = ""
        self.threads: list[threading.Thread] = []

    def start(self, request: dict) -> None:
        self.threads = [threading.Thread(target=self._feed, args=(request,), daemon=True),
                        threading.Thread(target=self._collect, daemon=True),
                        threading.Thread(target=self._drain_stderr, daemon=True)]
        for t in self.threads:
            t.start()

    def join(self, timeout: float) -> None:
        for t in self.threads:
            t.join(timeout=timeout)

    def _feed(self, request: dict) -> None:
        try:
            self.proc.stdin.write(json.dumps(request).encode())
            self.proc.stdin.close()
        except OSError:  # the sandbox died early; its stderr says why
            pass

    def _collect(self) -> None:
        for line in self.proc.stdout:
            try:
                record = json.loads(line)
            except ValueError:  # not the worker's (it cannot happen; if it does, the cell stays NotRun)
                continue
            if record.get("done"):
                self.done.update(record)
            elif record.get("cell") in self.code_cells and record["cell"] not in self.reported:
                cell = self.nb.cells[record["cell"]]
                cell.outputs = [nbformat.from_dict(out) for out in record["outputs"]]
                cell.execution_count = record.get("execution_count")
                self.reported.add(record["cell"])

    def _drain_stderr(self) -> None:
        for chunk in iter(lambda: self.proc.stderr.read(4096), b""):
            self.err_tail = (self.err_tail + chunk.decode("utf-8", "replace"))[-STDERR_KEPT:]


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGTERM then SIGKILL the sandbox's process group (bwrap's PID namespace takes the rest with it)."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)  # the worker's kernel manager shuts its kernel down
            proc.wait(timeout=2)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _finish(nb: nbformat.NotebookNode, reported: set[int], status: str, message: str, start: float) -> Execution:
    """Give every code cell that did not report an error output: nbgrader scores a cell without one as passed."""
    why = {"notebook-timeout": "the notebook ran out of time", "sandbox-error": "the sandbox failed"}.get(
        status, "the run stopped")
    unreported = {i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"} - reported
    for i in sorted(unreported):
        cell = nb.cells[i]
        cell.outputs = [worker.error_output("NotRun", f"this cell did not run: {why}")]
    if status == "ok" and unreported:  # a worker that says ok but skipped cells: do not trust it
        status, message = "sandbox-error", "the sandbox did not report every cell"
    return Execution(notebook=nb, status=status, message=" ".join(message.split()),
                     seconds=time.monotonic() - start)


def _request(notebook: nbformat.NotebookNode, limits: Limits, start: float) -> dict:
    # The worker stops itself a little before the hard kill, so that it can report the cell it stopped.
    # CLOCK_MONOTONIC is shared by every process of the machine (bwrap makes no time namespace).
    grace = min(WORKER_GRACE, 0.2 * limits.notebook_timeout)
    return {"notebook": notebook, "cell_timeout": limits.cell_timeout, "notebook_timeout": limits.notebook_timeout,
            "deadline_at": start + limits.notebook_timeout - grace, "output_bytes": limits.output_bytes,
            "iopub_timeout": limits.iopub_timeout}


@contextmanager
def _private_dir(workdir: Path, uid: int | None) -> Iterator[None]:
    """Create workdir/.course-sandbox (HOME etc.); lend workdir to ``uid`` for the run and take it back.

    Afterwards every file is chowned back (without following links) to workdir's owner and loses
    any setuid/setgid bit, so nothing the student left behind runs with someone else's rights.
    """
    private = workdir / PRIVATE_DIR
    if private.is_symlink() or (private.exists() and not private.is_dir()):
        private.unlink()  # a link among the submitted files would make us create folders where it points
    shutil.rmtree(private, ignore_errors=True)  # a submission's own copy would preload IPython startup files
    for sub in ("", "ipython", "jupyter-config", "jupyter-data", "jupyter-runtime", "matplotlib"):
        (private / sub).mkdir(mode=0o700, exist_ok=True)
    owner = workdir.stat()
    if uid is not None:
        _chown_tree(workdir, uid, uid)
    try:
        yield
    finally:
        shutil.rmtree(private, ignore_errors=True)
        if uid is not None:
            _chown_tree(workdir, owner.st_uid, owner.st_gid, strip_setid=True)


def _chown_tree(top: Path, uid: int, gid: int, *, strip_setid: bool = False) -> None:
    """lchown everything under ``top``, never following links and never a file hard-linked elsewhere."""
    for root, dirs, files in os.walk(top, followlinks=False):
        for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
            try:
                st = os.lstat(name)
                if not os.path.isdir(name) and st.st_nlink > 1 and st.st_uid != uid:
                    continue  # the same file may live outside the submission (a caller's `cp -al`): keep it read-only
                os.lchown(name, uid, gid)
                if strip_setid and not os.path.islink(name) and st.st_mode & 0o6000:
                    os.chmod(name, st.st_mode & 0o1777)
            except FileNotFoundError:  # removed while we walked
                pass


def _check_workdir(workdir: Path) -> Path:
    """The resolved workdir: an existing folder that holds neither the repository nor the Python installation."""
    workdir = Path(workdir).resolve()
    if not workdir.is_dir():
        raise ValueError(f"workdir must be an existing folder; got {str(workdir)!r}")
    package = Path(course_utils.__file__).resolve().parent
    for path in (package.parent, package, Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()):
        if workdir == path or workdir in path.parents:  # it would be writable, solutions/ and all
            raise ValueError(f"workdir must be a folder of its own for one submission; {str(workdir)!r} holds "
                             f"{str(path)!r}")
    return workdir


def _check_slot(slot: int) -> None:
    if isinstance(slot, bool) or not isinstance(slot, int) or not 0 <= slot < MAX_SLOTS:
        raise ValueError(f"slot must be an int in 0..{MAX_SLOTS - 1} (one per notebook run at once); got {slot!r}")


def _user_tasks(uid: int) -> int:
    """Processes and threads that ``uid`` runs now: what RLIMIT_NPROC compares with."""
    n = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                status = Path(entry.path, "status").read_text()
            except OSError:
                continue
            fields_ = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
            if int(fields_.get("Uid", "-1").split()[0]) == uid:
                n += int(fields_.get("Threads", "1").strip())
    return n


def _parents(path: Path, made: set[str]) -> list[str]:
    """bwrap arguments making the missing parents of ``path`` in the new root, 0755; adds them to ``made``.

    bwrap would make missing parents 0700 (root's), and the sandbox uid could not pass them.
    """
    out = []
    for parent in reversed(path.parents):
        if str(parent) not in made:
            made.add(str(parent))
            out += ["--perms", "0755", "--dir", str(parent)]
    return out


def _system_mounts(limits: Limits, made: set[str]) -> list[str]:
    """/usr and its links, a few files of /etc (read-only); /proc, /dev; a private /tmp and /dev/shm."""
    args = ["--ro-bind", "/usr", "/usr"]
    made.add("/usr")
    for link in ("bin", "lib", "lib32", "lib64", "libx32", "sbin"):  # Debian's merged /usr, as on the host
        path = Path("/", link)
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    args += _parents(Path("/etc/x"), made)
    for name in ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "fonts", "ssl/certs", "mime.types"):
        path = Path("/etc", name)
        if path.exists():
            args += _parents(path, made) + ["--ro-bind", str(path), str(path)]
    args += ["--proc", "/proc", "--dev", "/dev",
             "--perms", "1777", "--size", str(limits.file_bytes), "--tmpfs", "/tmp",
             "--perms", "1777", "--size", str(limits.file_bytes), "--tmpfs", "/dev/shm"]
    made |= {"/proc", "/dev", "/tmp", "/dev/shm"}
    return args


def _python_mounts(made: set[str]) -> list[str]:
    """Read-only: the interpreter, the venv, and only the course_utils package of the repository."""
    binds: list[Path] = []
    for path in (Path(sys.base_prefix), Path(sys.prefix), Path(course_utils.__file__).parent):
        path = path.resolve()
        if not any(path == b or b in path.parents for b in [Path("/usr"), *binds]):
            binds.append(path)
    args = []
    for path in binds:
        args += _parents(path, made) + ["--ro-bind", str(path), str(path)]
    return args


# ---------------------------------------------------------------------------------------------
# Backends


class BubblewrapBackend:
    """bubblewrap: namespaces, a read-only minimal root, a uid per slot when run as root, rlimits."""

    name = "bubblewrap"

    def __init__(self, bwrap: str = "bwrap") -> None:
        self.bwrap = bwrap
        self.as_root = os.geteuid() == 0

    def describe(self) -> str:
        who = (f"uid {SANDBOX_UID_BASE}+slot without capabilities" if self.as_root
               else f"uid {os.getuid()} in a user namespace")
        return (f"bubblewrap: no network, own PID/IPC namespaces, read-only Python and course_utils only "
                f"(no solutions/, gradebook or other submissions), writes only to the submission's folder "
                f"and a private /tmp, {who}; prlimit on CPU, memory, processes and file size")

    def uid(self, slot: int) -> int | None:
        """The uid the student's code runs as in ``slot`` (None: this user, not root)."""
        return SANDBOX_UID_BASE + slot if self.as_root else None

    def command(self, workdir: Path, limits: Limits, slot: int = 0) -> list[str]:
        """The full command line (bwrap, then setpriv as root, then prlimit, then the worker)."""
        workdir = Path(workdir).resolve()
        uid = self.uid(slot)
        args = [self.bwrap, "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
                "--die-with-parent", "--new-session", "--clearenv"]
        if uid is None:
            # an unprivileged user gets (and needs) a user namespace; no nested ones for the student
            args += ["--unshare-user", "--disable-userns"]
        for key, value in _environment(workdir).items():
            args += ["--setenv", key, value]
        made = {"/"}  # the folders of the new root so far
        args += _system_mounts(limits, made) + _python_mounts(made)
        args += _parents(workdir, made) + ["--bind", str(workdir), str(workdir), "--chdir", str(workdir)]
        if uid is not None:
            args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--",
                     "setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                     "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs"]
            nproc = limits.processes
        else:
            args += ["--"]
            nproc = _user_tasks(os.getuid()) + limits.processes  # shared with this user's other processes
        return args + _prlimit_argv(limits, nproc) + _worker_argv()

    def execute(self, notebook: nbformat.NotebookNode, *, workdir: Path, limits: Limits,
                slot: int = 0) -> Execution:
        """Execute ``notebook`` in ``workdir`` inside the sandbox; see the module docstring."""
        _check_slot(slot)
        workdir = _check_workdir(workdir)
        with _private_dir(workdir, self.uid(slot)):
            return _run(self.command(workdir, limits, slot), limits=limits, notebook=notebook, env={}, cwd="/",
                        private_pids=True)


class UnsafeBackend:
    """No isolation at all (``--unsafe``): only the rlimits, the time limits and the output budget apply."""

    name = "none (--unsafe)"

    def describe(self) -> str:
        return ("NO SANDBOX (--unsafe): student code runs as this user and can read solutions/, the gradebook, "
                "other submissions and the network, and write anywhere this user can; only prlimit applies"
                + (" (and not the process limit: root ignores RLIMIT_NPROC)" if os.geteuid() == 0 else ""))

    def execute(self, notebook: nbformat.NotebookNode, *, workdir: Path, limits: Limits,
                slot: int = 0) -> Execution:
        _check_slot(slot)
        workdir = _check_workdir(workdir)
        nproc = _user_tasks(os.getuid()) + limits.processes
        argv = _prlimit_argv(limits, nproc) + _worker_argv()
        with _private_dir(workdir, None):
            return _run(argv, limits=limits, notebook=notebook, env=_environment(workdir), cwd=str(workdir))


@functools.cache
def _bubblewrap_problem(bwrap: str) -> str:
    """Try the real sandbox once (python starting inside it as the sandbox uid); "" when it works."""
    backend = BubblewrapBackend(bwrap)
    with tempfile.TemporaryDirectory(prefix="course-sandbox-probe-") as tmp:
        workdir = Path(tmp).resolve()
        # slot MAX_SLOTS: uid 62000, which no grading slot (0..999) uses
        argv = backend.command(workdir, Limits(), slot=MAX_SLOTS)[:-len(_worker_argv())]
        argv += [sys.executable, "-I", "-c", "import nbclient, ipykernel"]
        with _private_dir(workdir, backend.uid(MAX_SLOTS)):
            try:
                proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, env={}, cwd="/")
            except (OSError, subprocess.TimeoutExpired) as e:
                return str(e)
    if proc.returncode != 0:
        lines = [x for x in proc.stderr.splitlines() if x.strip()]
        return lines[-1].strip() if lines else f"exit code {proc.returncode}"
    return ""


def detect(*, unsafe: bool = False) -> Backend:
    """The sandbox to grade with: bubblewrap when it works here, else SandboxUnavailable.

    ``unsafe=True`` gives an `UnsafeBackend` (no isolation, rlimits only) whose ``describe()`` says so.
    """
    if unsafe:
        return UnsafeBackend()
    tools = ("bwrap", "setpriv", "prlimit") if os.geteuid() == 0 else ("bwrap", "prlimit")
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        raise SandboxUnavailable(
            f"{' and '.join(missing)} not found, so student code cannot be sandboxed: "
            f"apt install bubblewrap util-linux, or pass --unsafe to grade without isolation")
    bwrap = shutil.which("bwrap")
    problem = _bubblewrap_problem(bwrap)
    if problem:
        raise SandboxUnavailable(
            f"bubblewrap is installed but cannot create a sandbox here ({problem}); in a container allow "
            f"user namespaces (or run as root), apt install bubblewrap, or pass --unsafe to grade without isolation")
    return BubblewrapBackend(bwrap)


def execute_notebook(notebook_json: str, workdir: str, limits: Limits, backend: str, slot: int = 0) -> dict:
    """Picklable wrapper for Dask workers: JSON in, a dict of plain values out.

    ``backend`` is a `Backend.name` ("bubblewrap" or "none (--unsafe)"); returns
    ``{"notebook": json str, "status": ..., "message": ..., "seconds": ...}``.
    """
    if backend == BubblewrapBackend.name:
        chosen = detect()
    elif backend in (UnsafeBackend.name, "unsafe", "none"):
        chosen = detect(unsafe=True)
    else:
        raise ValueError(f"backend must be {BubblewrapBackend.name!r} or {UnsafeBackend.name!r}; got {backend!r}")
    run = chosen.execute(nbformat.reads(notebook_json, as_version=4), workdir=Path(workdir), limits=limits, slot=slot)
    return {"notebook": nbformat.writes(run.notebook), "status": run.status, "message": run.message,
            "seconds": run.seconds}


__all__ = ["Backend", "BubblewrapBackend", "Execution", "Limits", "SandboxUnavailable", "UnsafeBackend", "detect",
           "execute_notebook"]
