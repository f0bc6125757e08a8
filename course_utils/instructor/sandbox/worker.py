"""Run one untrusted notebook inside the sandbox and report each code cell as it finishes.

`course_utils.instructor.sandbox.backend` starts this module inside bubblewrap (or, with ``--unsafe``, directly) as
``python -I -m course_utils.instructor.sandbox.worker``; ``-I`` keeps the student's folder (the current
directory) and ``PYTHON*`` variables out of *this* process's imports, so a ``json.py`` or a fake
``course_utils/`` among a student's files cannot replace the worker. The kernel it starts is the
student's and runs the student's code; the worker only reads that kernel's messages.

Protocol (one JSON document per line, UTF-8):

- stdin: ``{"notebook": <nbformat v4 dict>, "cell_timeout": s, "notebook_timeout": s, "deadline_at": t,
  "output_bytes": n, "reap_strays": bool}`` (``t``: the ``time.monotonic()`` value at which to stop; the
  clock is machine-wide),
  read whole before any student code starts; the notebook (with its hidden tests) never touches a file
  in the sandbox.
- stdout: ``{"cell": i, "execution_count": n, "outputs": [...]}`` for each code cell ``i`` once it
  is done (so a run killed from outside keeps the cells that finished), then
  ``{"done": true, "status": ..., "message": ...}``. Statuses: "ok", "cell-timeout", "kernel-died",
  "notebook-timeout" (the worst of what happened, in that order; the message lists every event).

The kernel inherits /dev/null as stdin, stdout and stderr, so nothing it writes can be mistaken for
this protocol; the worker keeps private (non-inheritable) copies of its own stdout and stderr.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import logging
import math
import os
import signal
import sys
from time import monotonic

if __name__ == "__main__":
    # nbformat imports jsonschema, which then builds a grammar for one URI format (about 1 s of every run); the
    # worker never validates a notebook, and jsonschema skips that format when rfc3987_syntax is absent.
    sys.modules.setdefault("rfc3987_syntax", None)

import nbformat  # noqa: E402 (after the line above)
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

PR_SET_DUMPABLE = 4  # <linux/prctl.h>
ERROR_TEXT_LIMIT = 8_000  # characters of an error's ename/evalue/traceback kept, whatever the budget
SEVERITY = ["sandbox-error", "notebook-timeout", "kernel-died", "cell-timeout"]  # the run's status: its worst event
INTERRUPT_GRACE = 5.0  # seconds a timed-out cell gets to stop after SIGINT before the kernel is restarted


def not_dumpable() -> None:
    """Make this process undumpable: same-uid code can no longer open /proc/PID/mem, fd/ or ptrace it.

    The notebook read from stdin holds the hidden tests; the student's kernel runs as the same uid,
    and PR_SET_DUMPABLE=0 makes the kernel treat this process like a setuid one (files under
    /proc/PID owned by root, ptrace denied) (prctl(2), ptrace(2) "Ptrace access mode checking").
    """
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE, 0) failed")


def error_output(ename: str, evalue: str, traceback: list[str] | None = None) -> nbformat.NotebookNode:
    """An nbformat "error" output: what nbgrader looks for to mark a test cell as failed."""
    return nbformat.v4.new_output("error", ename=ename, evalue=evalue, traceback=traceback or [f"{ename}: {evalue}"])


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"... [{len(text) - limit} characters cut]"


class _ThisPythonOnly(KernelSpecManager):
    """Always this interpreter's ipykernel, whatever kernelspecs lie in the (student-writable) HOME."""

    def get_kernel_spec(self, kernel_name: str, *args, **kwargs) -> KernelSpec:
        return KernelSpec(argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                          display_name="Python 3 (sandbox)", language="python", resource_dir="")


class GuardedClient(NotebookClient):
    """nbclient with a notebook-wide output budget and errors that cannot be hidden.

    - Outputs are trimmed as their messages arrive: at most ``output_bytes`` of stream text and
      display data are kept per notebook (one message is held at a time, so a 100 MB print costs
      one message, not a 100 MB notebook); the rest is counted and replaced by a note.
    - Error outputs are always kept (shortened), whatever the budget: they decide nbgrader's score.
    - A cell whose execute_reply says "error" gets an error output even when the student's code
      hid the traceback (``showtraceback`` patched, ``clear_output`` in a post_run_cell hook).
    - Widget comm messages are ignored, so they cannot grow the worker's memory, and output
      captured by an Output widget stays in its cell.
    """

    def __init__(self, nb, *, output_bytes: int, **kw) -> None:
        super().__init__(nb, **kw)
        self.budget_left = output_bytes
        self.output_bytes = output_bytes
        self.dropped = {}  # cell index -> bytes of output dropped in that cell
        self.kernel_groups = []  # process groups of every kernel started, killed on SIGTERM
        self.on_cell_error = self._mark_error

    def process_message(self, msg, cell, cell_index):
        msg_type = msg["msg_type"]
        if msg_type.startswith("comm"):
            return None
        if msg_type in ("stream", "display_data", "execute_result", "update_display_data", "error"):
            if not self._fit(msg, cell_index):
                return None
        return super().process_message(msg, cell, cell_index)

    def _fit(self, msg, cell_index: int) -> bool:
        """Trim ``msg`` in place to the budget left; False when nothing of it is kept."""
        content = msg["content"]
        msg_type = msg["msg_type"]
        if msg_type == "error":
            content["ename"] = _cut(str(content.get("ename", "")), 200)
            content["evalue"] = _cut(str(content.get("evalue", "")), ERROR_TEXT_LIMIT)
            lines, size = [], 0
            for line in reversed([str(x) for x in content.get("traceback", [])]):  # the end says most
                if size + len(line) > ERROR_TEXT_LIMIT:
                    lines.append("... [earlier traceback lines cut]")
                    break
                lines.append(line)
                size += len(line)
            content["traceback"] = lines[::-1]
            self.budget_left = max(0, self.budget_left - size)
            return True
        if msg_type == "stream":
            data = str(content.get("text", "")).encode("utf-8", "replace")
            if len(data) <= self.budget_left:
                self.budget_left -= len(data)
                return True
            kept = data[: self.budget_left].decode("utf-8", "ignore")
            self._drop(cell_index, len(data) - len(kept.encode("utf-8")))
            self.budget_left = 0
            content["text"] = kept
            return bool(kept)
        size = len(json.dumps(content.get("data", {})))  # rich output: kept whole or not at all
        if size <= self.budget_left:
            self.budget_left -= size
            return True
        self._drop(cell_index, size)
        return False

    def _drop(self, cell_index: int, n: int) -> None:
        self.dropped[cell_index] = self.dropped.get(cell_index, 0) + n

    def _mark_error(self, cell, cell_index, execute_reply) -> None:
        if any(out.get("output_type") == "error" for out in cell.outputs):
            return
        content = execute_reply.get("content", {})
        ename = _cut(str(content.get("ename") or "Error"), 200)
        evalue = _cut(str(content.get("evalue") or ""), ERROR_TEXT_LIMIT)
        cell.outputs.append(error_output(ename, evalue, [
            f"{ename}: {evalue}",
            "(the cell failed, but its traceback was hidden; the sandbox added this error)"]))

    def truncation_note(self, cell_index: int):
        n = self.dropped.pop(cell_index, 0)
        if not n:
            return None
        # stdout, not stderr: nbgrader scores a graded cell with any stderr output as 0 points, so a note on
        # stderr would fail a passing test cell that prints (grading.passed) once a student spent the budget
        return nbformat.v4.new_output("stream", name="stdout", text=(
            f"\n[{n} bytes of output dropped: a graded notebook keeps at most {self.output_bytes} bytes of output]\n"))


def _ancestors(pid: int) -> set[int]:
    """``pid`` and its parents, read from /proc (the pid namespace's own)."""
    chain = set()
    while pid > 0 and pid not in chain:
        chain.add(pid)
        try:
            with open(f"/proc/{pid}/status") as status:
                pid = next(int(line.split()[1]) for line in status if line.startswith("PPid:"))
        except (OSError, StopIteration, ValueError):
            break
    return chain


def reap_strays(kernel_pid: int | None) -> int:
    """Kill every process of this pid namespace except this worker, its parents and the kernel; return how many.

    A fork bomb's copies of the kernel, or a background process a failed cell left behind, would
    otherwise hold the RLIMIT_NPROC budget (and memory) of every later cell, so that a scipy import
    starting its threads stalls, and the student loses points for cells that have nothing to do
    with the bomb. Only called when the sandbox gave the worker a pid namespace of its own: there,
    every process it can see belongs to this one submission.
    """
    keep = _ancestors(os.getpid()) | ({kernel_pid} if kernel_pid else set())
    killed = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) not in keep:
            try:
                os.kill(int(entry), signal.SIGKILL)
                killed += 1
            except OSError:  # gone already, or not ours (bwrap's own init runs as root)
                pass
    return killed


# Run silently in the kept kernel after its children were killed: they stay zombies, still counted by
# RLIMIT_NPROC, until their parent (the kernel) waits for them; nothing else of the student's state changes.
REAP_ZOMBIES = """
import os as _os
while True:
    try:
        _os.waitpid(-1, 0)
    except ChildProcessError:
        break
del _os
"""


async def _reap_zombies(client: GuardedClient, grace: float = 5.0) -> bool:
    """Make the kernel wait for its killed children; True when it answered within ``grace`` seconds."""
    return await _replied(client, client.kc.execute(REAP_ZOMBIES, silent=True, store_history=False), grace)


def _kernel_pid(client: GuardedClient) -> int | None:
    try:
        return client.km.provisioner.process.pid
    except AttributeError:  # no kernel running
        return None


class KernelStartFailed(RuntimeError):
    """The kernel did not start (or restart): nothing more can run."""


async def _fresh_kernel(client: GuardedClient, cwd: str) -> None:
    """(Re)start the kernel on new ports: a dead kernel's children may still hold the old ones."""
    try:
        await _start_kernel(client, cwd)
    except Exception as e:
        raise KernelStartFailed(f"the kernel did not start ({e}); are Limits.processes and Limits.memory_bytes "
                                "enough for a kernel?") from e


async def _start_kernel(client: GuardedClient, cwd: str) -> None:
    if client.kc is not None:
        client.kc.stop_channels()
        client.kc = None
    if client.km is not None and client.km.has_kernel:
        await client.km.shutdown_kernel(now=True)
    client.km = client.kernel_manager_class(kernel_name="python3", kernel_spec_manager=_ThisPythonOnly())
    await client.async_start_new_kernel(cwd=cwd)
    client.kernel_groups.append(client.km.provisioner.pgid)
    await client.async_start_new_kernel_client()


async def _replied(client: GuardedClient, msg_id: str, grace: float) -> bool:
    """True when the kernel answers the shell request ``msg_id`` within ``grace`` seconds."""
    deadline = monotonic() + grace
    while (left := deadline - monotonic()) > 0:
        try:
            msg = await client.kc.shell_channel.get_msg(timeout=left)
        except Exception:  # queue.Empty: no answer in time
            return False
        if msg["parent_header"].get("msg_id") == msg_id:
            return True
    return False


async def _stopped_after_interrupt(client: GuardedClient, grace: float) -> bool:
    """Interrupt the kernel; True when it answers again within ``grace`` seconds (its state kept)."""
    await client.km.interrupt_kernel()
    return await _replied(client, client.kc.kernel_info(), grace)  # queued behind the interrupted cell


def _exit_reason(client: GuardedClient) -> str:
    code = None
    try:
        code = client.km.provisioner.process.poll()
    except Exception:  # no process to ask: say nothing rather than guess
        pass
    if code is None:
        return ""
    if code < 0:
        name = signal.Signals(-code).name
        hint = {"SIGKILL": " (killed: often the memory limit)", "SIGXCPU": " (the CPU-time limit)",
                "SIGSEGV": " (a crash: often a failed allocation under the memory limit)"}.get(name, "")
        return f" by {name}{hint}"
    return f" with exit code {code}"


async def run(nb, *, cwd: str, cell_timeout: float, deadline_at: float, notebook_timeout: float,
              output_bytes: int, emit, client_box: list | None = None, reap: bool = False,
              iopub_timeout: float = 60.0) -> tuple[str, str]:
    """Execute every code cell of ``nb``; ``emit(dict)`` each finished cell. Returns (status, message).

    ``client_box``, when given, receives the client (for a signal handler that must reach its kernels).
    ``reap``: after a cell that failed, kill the processes it left behind (:func:`reap_strays`).
    """
    end = deadline_at  # time.monotonic() value: the clock is shared with the process that set it
    client = GuardedClient(nb, output_bytes=output_bytes, allow_errors=True, interrupt_on_timeout=False,
                           timeout_func=lambda cell: max(0.5, min(cell_timeout, end - monotonic())),
                           startup_timeout=60, kernel_name="python3",
                           iopub_timeout=int(math.ceil(iopub_timeout)))  # a busy machine's late output
    if client_box is not None:
        client_box.append(client)
    events = []  # (status, text) in the order they happened
    try:
        await _run_cells(client, nb, cwd, cell_timeout, end, notebook_timeout, emit, events, reap)
    except KernelStartFailed as e:
        events.append(("sandbox-error", str(e)))
    finally:
        if client.kc is not None:
            client.kc.stop_channels()
        if client.km is not None and client.km.has_kernel:
            await client.km.shutdown_kernel(now=True)
    if not events:
        return "ok", ""
    worst = min((status for status, _ in events), key=SEVERITY.index)
    return worst, "; ".join(text for _, text in events)


def _cell_name(cell, index: int) -> str:
    """A cell as an instructor finds it: its grade_id when it has one, and its position counted from 1."""
    grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    return f"cell {grade_id!r} (cell {index + 1})" if grade_id else f"cell {index + 1}"


async def _run_cells(client, nb, cwd, cell_timeout, end, notebook_timeout, emit, events, reap) -> None:
    """The cell loop of `run`: appends (status, text) to ``events``; KernelStartFailed ends it."""
    count = 0
    await _fresh_kernel(client, cwd)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if monotonic() >= end:
            events.append(("notebook-timeout", f"the notebook ran past its {notebook_timeout:g} s limit"))
            break
        if cell.source.strip():
            count += 1
        restart = False
        try:
            await client.async_execute_cell(cell, index, execution_count=count)
        except CellTimeoutError:
            if monotonic() >= end - 0.5:
                cell.outputs.append(error_output(
                    "NotebookTimeout", f"the notebook ran past its {notebook_timeout:g} s limit during this cell"))
                events.append(("notebook-timeout", f"the notebook ran past its limit in {_cell_name(cell, index)}"))
                emit({"cell": index, "execution_count": count, "outputs": cell.outputs})
                break
            kept = await _stopped_after_interrupt(client, min(INTERRUPT_GRACE, cell_timeout))
            how = "interrupted" if kept else "interrupted, then the kernel was restarted"
            cell.outputs.append(error_output(
                "CellTimeout", f"this cell ran longer than {cell_timeout:g} s and was stopped ({how})"))
            events.append(("cell-timeout", f"{_cell_name(cell, index)} ran past {cell_timeout:g} s ({how})"))
            restart = not kept
        except DeadKernelError:
            reason = _exit_reason(client)
            cell.outputs.append(error_output("KernelDied", (
                f"the kernel died{reason} while running this cell; it was restarted, "
                "so later cells run without anything defined before")))
            events.append(("kernel-died", f"the kernel died{reason} in {_cell_name(cell, index)} (restarted)"))
            restart = True
        note = client.truncation_note(index)
        if note is not None:
            cell.outputs.append(note)
        emit({"cell": index, "execution_count": count if cell.source.strip() else None, "outputs": cell.outputs})
        failed = restart or any(out.get("output_type") == "error" for out in cell.outputs)
        if reap and failed and reap_strays(None if restart else _kernel_pid(client)) and not restart:
            restart = not await _reap_zombies(client)
        if restart:
            await _fresh_kernel(client, cwd)


def main() -> int:
    not_dumpable()
    request = json.loads(sys.stdin.buffer.read())
    # Private copies of stdout/stderr (os.dup gives non-inheritable fds); 0, 1, 2 become /dev/null,
    # which is what the kernel (and anything it starts) inherits.
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    err = os.fdopen(os.dup(2), "w", encoding="utf-8", buffering=1)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    sys.stdout = sys.stderr = err
    logging.basicConfig(stream=err, level=logging.WARNING, format="sandbox worker: %(message)s")

    def emit(record: dict) -> None:
        out.write(json.dumps(record) + "\n")
        out.flush()

    nb = nbformat.from_dict(request["notebook"])
    client_box = []  # the GuardedClient once made, for the SIGTERM handler

    def terminate(signum, frame) -> None:
        # Without a sandbox (--unsafe) kernels run in sessions of their own: stop them before we go.
        for group in (client_box[0].kernel_groups if client_box else []):
            try:
                os.killpg(group, signal.SIGKILL)
            except OSError:
                pass
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    status, message = asyncio.run(run(
        nb, cwd=os.getcwd(), cell_timeout=float(request["cell_timeout"]), deadline_at=float(request["deadline_at"]),
        notebook_timeout=float(request["notebook_timeout"]), output_bytes=int(request["output_bytes"]), emit=emit,
        client_box=client_box, reap=bool(request.get("reap_strays")),
        iopub_timeout=float(request.get("iopub_timeout", 60.0))))
    emit({"done": True, "status": status, "message": message})
    return 0


if __name__ == "__main__":
    sys.exit(main())
