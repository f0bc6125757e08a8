"""Real-browser check: the course notebooks' widgets render and react in JupyterLab.

Why this exists: a notebook can execute cleanly under nbval/nbclient while a student
sees nothing usable, e.g. when the ipywidgets lab extension is missing (the page shows
only a text repr such as ``IntSlider(value=3)``), when a widget model is lost ("Error
displaying widget: model not found"), or when a slider no longer triggers a redraw.
Only a real browser talking to a real JupyterLab and kernel sees that.

One JupyterLab per module (127.0.0.1, free port, random token), isolated from the
user's setup (own config, data, settings, workspaces, runtime and IPython dirs in tmp)
and always stopped at the end (process group). Each case copies its notebook's folder
into the server's tmp root (outputs stripped, as a student gets it), opens it in a fresh
browser context and workspace in Debian's chromium through playwright, waits for the
kernel, runs all cells from the Run menu and asserts:

* every non-empty code cell got an execution count, no error output (traceback) appears;
* widget DOM is present (``.jupyter-widgets``/``.widget-slider``), no text repr of a
  widget (``IntSlider(...)``, ``VBox(...)``...) is printed instead, and no
  "Error displaying widget" / "model not found" text is on the page;
* a plot is shown: a PNG ``<img>`` inside an ipywidgets Output (``.widget-output img``)
  or an ipympl canvas (``.jupyter-matplotlib canvas``);
* pressing ArrowRight on the slider of the first cell that has both a slider and a plot
  changes the slider value and makes the kernel redraw the figure (image ``src``/canvas
  pixels change), and no error appears afterwards.

Skipped (with the reason) only when chromium or the playwright package is missing;
playwright never downloads a browser here. Screenshots land in pytest's tmp_path and
their paths are printed (see them with ``-s`` or in the failure report).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]

# Every chapter, as the instructor wrote it: the released notebooks stop at their first exercise.
SOLUTION_NOTEBOOKS = sorted(str(p.relative_to(REPO)) for p in REPO.glob("solutions/*/*.ipynb"))

STUDENT_CHAPTER = "01_probability_densities"  # a released chapter with widgets and exercises
CASE_BUDGET_S = 120  # everything one notebook does in the browser, start to end
SERVER_START_S = 60  # JupyterLab answering /api/status
REDRAW_S = 30  # slider moved -> figure redrawn (inside the case budget)

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# What the kernel printing a widget instead of the browser rendering it looks like.
WIDGET_REPR = re.compile(r"^(VBox|HBox|IntSlider|FloatSlider)\(", re.MULTILINE)
# Error outputs: a traceback, or IPython's short form for SyntaxError and friends.
ERROR_LINE = re.compile(r"Traceback|^[A-Za-z_][\w.]*(Error|Exception)(:|$)", re.MULTILINE)
WIDGET_ERRORS = ("Error displaying widget", "model not found")

PLOT_SELECTOR = ".widget-output img, .jupyter-matplotlib canvas"
WIDGET_SELECTOR = ".jupyter-widgets, .widget-slider"

FIXTURE_CELLS = [
    (
        "markdown",
        "# Browser smoke test\nA slider redraws an inline matplotlib figure shown in an Output widget.",
    ),
    (
        "code",
        "import ipywidgets as w\n"
        "import matplotlib.pyplot as plt\n"
        "import numpy as np\n"
        "from IPython.display import display, clear_output",
    ),
    (
        "code",
        "slider = w.IntSlider(value=3, min=1, max=10, description='freq')\n"
        "out = w.Output()\n"
        "\n"
        "def redraw(change=None):\n"
        "    with out:\n"
        "        clear_output(wait=True)\n"
        "        fig, ax = plt.subplots(figsize=(4, 2.5))\n"
        "        x = np.linspace(0, 1, 200)\n"
        "        ax.plot(x, np.sin(2 * np.pi * slider.value * x))\n"
        "        ax.set_title(f'freq = {slider.value}')\n"
        "        display(fig)\n"
        "        plt.close(fig)\n"
        "\n"
        "slider.observe(redraw, names='value')\n"
        "redraw()\n"
        "display(w.VBox([w.HBox([slider]), out]))",
    ),
    ("code", ""),  # an empty cell gets no execution count: must not stall the wait
]


# --------------------------------------------------------------------------- helpers


class Deadline:
    """One time budget shared by all the waits of a case."""

    def __init__(self, seconds: float, what: str):
        self.end = time.monotonic() + seconds
        self.what = what

    def left(self) -> float:
        return self.end - time.monotonic()

    def ms(self, cap_s: float | None = None) -> float:
        left = max(self.left(), 0.001)
        return 1000 * (min(left, cap_s) if cap_s else left)

    def check(self, doing: str, detail: str = "") -> None:
        if self.left() <= 0:
            pytest.fail(f"{self.what}: timed out while {doing}\n{detail}".rstrip())


def find_chromium() -> str | None:
    path = shutil.which("chromium")
    if path:
        return path
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


class LabServer:
    """A JupyterLab on 127.0.0.1 with a random token, isolated from the user's setup."""

    def __init__(self, root: Path, home: Path):
        self.root = root
        self.token = secrets.token_hex(24)
        self.port = 0
        self.log_path = home / "jupyterlab.log"
        self.proc: subprocess.Popen | None = None
        settings = home / "settings"
        # No news / update requests (no internet here), and attach every cell to the DOM
        # so that prompts, outputs and widgets of off-screen cells are all inspectable.
        write_json(
            settings / "@jupyterlab/apputils-extension/notification.jupyterlab-settings",
            {"fetchNews": "false", "checkForUpdates": False},
        )
        write_json(
            settings / "@jupyterlab/notebook-extension/tracker.jupyterlab-settings",
            {"windowingMode": "none"},
        )
        self.env = {
            **os.environ,
            "JUPYTER_CONFIG_DIR": str(home / "config"),
            "JUPYTER_DATA_DIR": str(home / "data"),
            "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
            "JUPYTERLAB_SETTINGS_DIR": str(settings),
            "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
            "IPYTHONDIR": str(home / "ipython"),
            "PYTHONUNBUFFERED": "1",
        }
        self.env.pop("MPLBACKEND", None)  # the kernel must use its inline backend
        self.env.pop("JUPYTER_TOKEN", None)

    def server_arguments(self) -> list[str]:
        """Where and how this test's server listens: 127.0.0.1, the chosen port, the token, no browser."""
        return [
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            "--ServerApp.allow_root=True",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ]

    def command(self) -> list[str]:
        return [sys.executable, "-m", "jupyterlab", *self.server_arguments(), f"--ServerApp.root_dir={self.root}"]

    def environment(self) -> dict[str, str]:
        return self.env

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return "(no server log)"

    def api(self, method: str, path: str, timeout: float = 5):
        req = urllib.request.Request(self.base + path, method=method, headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def start(self) -> None:
        for _attempt in range(3):  # a free port can be taken between probe and bind
            self.port = free_port()
            log = open(self.log_path, "wb")
            try:
                self.proc = subprocess.Popen(
                    self.command(), cwd=self.root, env=self.environment(), stdin=subprocess.DEVNULL,
                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                )  # fmt: skip
            finally:
                log.close()
            deadline = time.monotonic() + SERVER_START_S
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                try:
                    self.api("GET", "/api/status", timeout=2)
                    return
                except (urllib.error.URLError, OSError, ValueError):
                    time.sleep(0.2)
            else:
                self.stop()
                pytest.fail(f"JupyterLab did not answer within {SERVER_START_S}s:\n{self.log_tail()}")
            if "address already in use" not in self.log_tail().lower():
                break
        pytest.fail(f"JupyterLab exited (rc={self.proc.returncode}) before answering:\n{self.log_tail()}")

    def shutdown_sessions(self) -> None:
        try:
            for session in self.api("GET", "/api/sessions"):
                self.api("DELETE", f"/api/sessions/{session['id']}", timeout=15)
        except (urllib.error.URLError, OSError, ValueError):
            pass  # the server is going away anyway; stop() still ends it

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.shutdown_sessions()
        pgid = os.getpgid(self.proc.pid)
        # SIGTERM lets the server shut its kernels down (they run in their own sessions
        # and would otherwise only notice their parent is gone); then the whole group.
        for sig, wait_s in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                return
            try:
                self.proc.wait(timeout=wait_s)
                return
            except subprocess.TimeoutExpired:
                continue


class StudentLabServer(LabServer):
    """The Lab that ``course lab`` starts (its command and environment), serving ``root/chapters``."""

    def command(self) -> list[str]:
        from course_utils.cli.lab import lab_command

        return lab_command(self.server_arguments())

    def environment(self) -> dict[str, str]:
        from course_utils.cli.lab import lab_environment

        return lab_environment(self.env)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def chromium_path() -> str:
    path = find_chromium()
    if path is None:
        pytest.skip("chromium not found (neither `chromium` on PATH nor /usr/bin/chromium)")
    return path


@pytest.fixture(scope="module")
def browser(chromium_path):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the playwright Python package is not installed")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS, timeout=60_000)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def lab(tmp_path_factory, chromium_path):
    # chromium_path first: no server is started just to be skipped.
    server = LabServer(tmp_path_factory.mktemp("lab_root"), tmp_path_factory.mktemp("lab_home"))
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def student_lab(tmp_path_factory, chromium_path):
    """``course lab`` on a course whose chapters/ holds one released chapter, as a student has it."""
    root = tmp_path_factory.mktemp("student_course")
    chapter = REPO / "chapters" / STUDENT_CHAPTER
    shutil.copytree(chapter, root / "chapters" / chapter.name,
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    server = StudentLabServer(root, tmp_path_factory.mktemp("student_home"))
    try:
        server.start()
        yield server
    finally:
        server.stop()


# ------------------------------------------------------------------ the browser part


PAGE_STATE_JS = """() => {
  const q = (s, root = document) => Array.from(root.querySelectorAll(s));
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  const indicator = panel && panel.querySelector('.jp-Notebook-ExecutionIndicator');
  const kernelName = panel && panel.querySelector('.jp-KernelName');
  return {
    panel: !!panel,
    kernel: kernelName ? kernelName.textContent.trim() : null,
    status: indicator ? indicator.dataset.status : null,
    prompts: panel ? q('.jp-CodeCell .jp-InputArea-prompt', panel).map(e => e.textContent.trim()) : [],
    dialogs: q('.jp-Dialog').map(d => d.innerText.trim()),
    errors: q('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
              .map(e => e.innerText),
  };
}"""

# Fingerprint of the plots in one cell: image sources and canvas pixels.
PLOT_SIGNATURE_JS = """(cell) => {
  const imgs = Array.from(cell.querySelectorAll('.widget-output img')).map(i => i.src);
  const canvases = Array.from(cell.querySelectorAll('.jupyter-matplotlib canvas'))
    .map(c => { try { return c.toDataURL(); } catch (e) { return 'tainted'; } });
  return imgs.concat(canvases).join('|');
}"""

FIRST_INTERACTIVE_CELL_JS = """(plotSel) => {
  const cells = Array.from(document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell'));
  return cells.findIndex(c => c.querySelector('.widget-slider .noUi-handle') && c.querySelector(plotSel));
}"""


def error_outputs(state: dict) -> list[str]:
    return [text for text in state["errors"] if ERROR_LINE.search(text)]


def fail_on_errors(state: dict, doing: str, page_log: list[str]) -> None:
    errors = error_outputs(state)
    if errors:
        pytest.fail(f"error output while {doing}:\n" + "\n---\n".join(errors) + debug_log(page_log))


def debug_log(page_log: list[str]) -> str:
    return ("\nbrowser console:\n" + "\n".join(page_log[-30:])) if page_log else ""


def wait_for_kernel_idle(page, deadline: Deadline, page_log: list[str]) -> None:
    """Notebook open and kernel idle; accepts the kernel chooser if the notebook has
    no kernelspec metadata (students would see that dialog too)."""
    state = {}
    while True:
        state = page.evaluate(PAGE_STATE_JS)
        for text in state["dialogs"]:
            if "Select Kernel" in text:
                page.locator(".jp-Dialog .jp-mod-accept").click(timeout=deadline.ms(10))
            else:
                pytest.fail(f"unexpected dialog while opening the notebook:\n{text}")
        # The indicator also reads "idle" before any kernel exists ("No Kernel").
        if state["kernel"] not in (None, "", "No Kernel") and state["status"] == "idle":
            return
        deadline.check("waiting for the notebook's kernel to be idle", str(state) + debug_log(page_log))
        time.sleep(0.2)


def run_all_cells(page, deadline: Deadline) -> None:
    page.locator(".lm-MenuBar-item", has_text=re.compile(r"^\s*Run\s*$")).click(timeout=deadline.ms(10))
    page.locator(".lm-Menu .lm-Menu-itemLabel", has_text=re.compile(r"^\s*Run All Cells\s*$")).click(
        timeout=deadline.ms(10)
    )


def wait_for_execution(page, n_code_cells: int, deadline: Deadline, page_log: list[str]) -> dict:
    """Until every non-empty code cell has an execution count, nothing is queued or
    running and the kernel is idle; fails early on error output or a dialog (kernel died)."""
    started = False
    settled_since = None
    start_by = time.monotonic() + 15
    while True:
        state = page.evaluate(PAGE_STATE_JS)
        fail_on_errors(state, "running all cells", page_log)
        if state["dialogs"]:
            pytest.fail("dialog while running all cells:\n" + "\n".join(state["dialogs"]))
        prompts = state["prompts"]
        running = sum("*" in p for p in prompts)
        numbered = sum(bool(re.search(r"\[\d+\]", p)) for p in prompts)
        started = started or running > 0 or numbered > 0
        idle = state["status"] == "idle" and running == 0
        if idle and numbered >= n_code_cells:
            return state
        # Run All started but stopped short without an error output: give it a moment
        # (status updates lag), then report what did not run.
        if started and idle:
            settled_since = settled_since or time.monotonic()
            if time.monotonic() - settled_since > 5:
                pytest.fail(
                    f"execution stopped after {numbered} of {n_code_cells} code cells; "
                    f"prompts: {prompts}" + debug_log(page_log)
                )
        else:
            settled_since = None
        if not started and time.monotonic() > start_by:
            pytest.fail(f"Run All Cells did not start any cell within 15s; state: {state}")
        deadline.check(
            "waiting for all cells to finish",
            f"{numbered}/{n_code_cells} cells executed, {running} running, kernel "
            f"{state['status']}; prompts: {prompts}" + debug_log(page_log),
        )
        time.sleep(0.25)


def assert_no_widget_reprs(page) -> None:
    outputs = page.locator(".jp-OutputArea-output").all_inner_texts()
    reprs = [t[:300] for t in outputs if WIDGET_REPR.search(t)]
    assert not reprs, (
        "a widget was printed as text instead of rendered (is the ipywidgets lab "
        f"extension installed and enabled?): {reprs[:3]}"
    )


def assert_widgets_rendered(page, deadline: Deadline, page_log: list[str]) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    # Text reprs are plain outputs, there once the kernel is idle: fail fast on them.
    assert_no_widget_reprs(page)
    # Widget views and the images in Output widgets render asynchronously after the
    # kernel went idle: wait for them (bounded), then check the whole page.

    for selector, what in ((WIDGET_SELECTOR, "widget DOM"), (PLOT_SELECTOR, "plot")):
        try:
            page.locator(selector).first.wait_for(state="attached", timeout=deadline.ms(30))
            continue
        except PlaywrightTimeout:
            pass  # report what the page shows instead, outside the except block
        outputs = page.locator(".jp-OutputArea-output").all_inner_texts()
        pytest.fail(
            f"no {what} ({selector}) on the page after running all cells. Outputs:\n"
            + "\n---\n".join(t[:300] for t in outputs)
            + debug_log(page_log)
        )
    body = page.locator("body").inner_text()
    for text in WIDGET_ERRORS:
        assert text not in body, f"{text!r} on the page (widget failed to render)" + debug_log(page_log)
    assert_no_widget_reprs(page)
    fail_on_errors(page.evaluate(PAGE_STATE_JS), "rendering widgets", page_log)
    assert page.locator(WIDGET_SELECTOR).count() >= 1
    assert page.locator(PLOT_SELECTOR).count() >= 1


def slider_value(handle) -> str:
    # noUiSlider rounds aria-valuenow to one decimal (0.53 reads 0.5); valuetext is exact.
    return handle.get_attribute("aria-valuetext") or handle.get_attribute("aria-valuenow") or ""


def assert_slider_redraws(page, deadline: Deadline, page_log: list[str]) -> None:
    index = page.evaluate(FIRST_INTERACTIVE_CELL_JS, PLOT_SELECTOR)
    assert index >= 0, (
        f"no cell output has both a slider (.widget-slider .noUi-handle) and a plot ({PLOT_SELECTOR}) in it"
    )
    cell = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell").nth(index)
    handle = cell.locator(".widget-slider .noUi-handle").first
    handle.scroll_into_view_if_needed(timeout=deadline.ms(10))
    before_plot = cell.evaluate(PLOT_SIGNATURE_JS)
    before_value = slider_value(handle)
    handle.focus(timeout=deadline.ms(10))
    for key in ("ArrowRight", "ArrowLeft"):  # ArrowLeft if the slider sits at its max
        for _ in range(3):
            page.keyboard.press(key)
        if slider_value(handle) != before_value:
            break
    after_value = slider_value(handle)
    assert after_value != before_value, f"the slider did not move with the keyboard ({before_value})"
    redraw_end = min(time.monotonic() + REDRAW_S, deadline.end)
    last_plot, stable_since = before_plot, time.monotonic()
    # Redrawn = the plot differs from before, the kernel is idle again and the plot has
    # not changed for a moment (callbacks may redraw several times, or fail after drawing).
    while True:
        state = page.evaluate(PAGE_STATE_JS)
        fail_on_errors(state, "redrawing after the slider moved", page_log)
        plot = cell.evaluate(PLOT_SIGNATURE_JS)
        if plot != last_plot:
            last_plot, stable_since = plot, time.monotonic()
        if (
            plot != before_plot
            and plot  # a plot is shown, not just cleared
            and state["status"] == "idle"
            and time.monotonic() - stable_since > 0.5
        ):
            break
        if time.monotonic() > redraw_end:
            pytest.fail(
                f"slider moved {before_value} -> {after_value} but the plot was not redrawn "
                f"within {REDRAW_S}s" + debug_log(page_log)
            )
        time.sleep(0.1)
    fail_on_errors(page.evaluate(PAGE_STATE_JS), "redrawing after the slider moved", page_log)
    body = page.locator("body").inner_text()
    for text in WIDGET_ERRORS:
        assert text not in body, f"{text!r} on the page after moving the slider"


def count_code_cells(notebook: Path) -> int:
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    return sum(1 for cell in nb["cells"] if cell["cell_type"] == "code" and "".join(cell["source"]).strip())


def strip_outputs(notebook: Path) -> None:
    """Start like a student does: no saved outputs or execution counts (those would
    also look like a finished run to the wait below)."""
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    nb.get("metadata", {}).pop("widgets", None)  # saved widget state
    notebook.write_text(json.dumps(nb, indent=1), encoding="utf-8")


def check_notebook_in_browser(browser, lab: LabServer, notebook: Path, shots: Path) -> None:
    """Open `notebook` (a file under lab.root), run it, check widgets, plot and redraw."""
    rel = notebook.relative_to(lab.root).as_posix()
    deadline = Deadline(CASE_BUDGET_S, rel)
    page_log: list[str] = []
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.on("console", lambda m: m.type in ("error", "warning") and page_log.append(f"{m.type}: {m.text[:500]}"))
    page.on("pageerror", lambda e: page_log.append(f"pageerror: {str(e)[:500]}"))
    shot = shots / f"{notebook.stem}.png"
    try:
        # A workspace of its own: nothing restored from an earlier case opens here.
        workspace = f"w{secrets.token_hex(6)}"
        page.goto(
            f"{lab.base}/lab/workspaces/{workspace}/tree/{rel}?token={lab.token}",
            timeout=deadline.ms(60),
        )
        wait_for_kernel_idle(page, deadline, page_log)
        run_all_cells(page, deadline)
        wait_for_execution(page, count_code_cells(notebook), deadline, page_log)
        assert_widgets_rendered(page, deadline, page_log)
        page.locator(PLOT_SELECTOR).first.scroll_into_view_if_needed(timeout=deadline.ms(10))
        page.screenshot(path=shot)
        print(f"screenshot after Run All: {shot}")
        assert_slider_redraws(page, deadline, page_log)
        shot = shots / f"{notebook.stem}-after-slider.png"
        page.screenshot(path=shot)
        print(f"screenshot after moving the slider: {shot}")
    except BaseException:
        failed = shots / f"{notebook.stem}-failure.png"
        try:
            page.screenshot(path=failed, timeout=10_000)
            print(f"screenshot at failure: {failed}")
        except Exception as exc:  # the page may be gone; keep the real failure
            print(f"no failure screenshot: {exc}")
        print("JupyterLab log tail:\n" + lab.log_tail(2000))
        raise
    finally:
        context.close()
        lab.shutdown_sessions()


# --------------------------------------------------------------------------- tests


def write_fixture_notebook(path: Path, cells=FIXTURE_CELLS) -> None:
    """A notebook of ``cells`` ((kind, source) pairs) at ``path``, with the python3 kernelspec."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_markdown_cell(src) if kind == "markdown" else nbformat.v4.new_code_cell(src)
        for kind, src in cells
    ]
    path.parent.mkdir(parents=True)
    nbformat.write(nb, path)


def test_widget_smoke_notebook(browser, lab, tmp_path):
    """Self-contained: the browser/JupyterLab/ipywidgets stack renders and redraws."""
    notebook = lab.root / "smoke" / "widget_smoke.ipynb"
    write_fixture_notebook(notebook)
    check_notebook_in_browser(browser, lab, notebook, tmp_path)


@pytest.mark.parametrize("notebook", SOLUTION_NOTEBOOKS, ids=lambda p: Path(p).stem)
def test_solution_notebook(browser, lab, tmp_path, notebook):
    source = REPO / notebook
    if not source.is_file():
        pytest.skip(f"{notebook} does not exist yet")
    # The whole chapter folder, so relative data/helper files resolve; the run's
    # outputs and checkpoints stay in tmp, never in the repo.
    folder = lab.root / source.parent.name
    shutil.copytree(source.parent, folder, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    strip_outputs(folder / source.name)
    check_notebook_in_browser(browser, lab, folder / source.name, tmp_path)


@contextlib.contextmanager
def opened_notebook(browser, server: LabServer, rel: str, deadline: Deadline, shot: Path):
    """A fresh browser page on ``rel`` (a path under the server's root) with its kernel idle: ``(page, log)``.

    On failure a screenshot goes to ``shot`` and the server's log tail is printed; the sessions are shut
    down at the end either way.
    """
    page_log: list[str] = []
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.on("console", lambda m: m.type == "error" and page_log.append(f"{m.type}: {m.text[:500]}"))
    try:
        page.goto(f"{server.base}/lab/workspaces/w{secrets.token_hex(6)}/tree/{rel}?token={server.token}",
                  timeout=deadline.ms(60))
        wait_for_kernel_idle(page, deadline, page_log)
        yield page, page_log
    except BaseException:
        page.screenshot(path=shot, timeout=10_000)
        print(f"screenshot at failure: {shot}\n" + server.log_tail(2000))
        raise
    finally:
        context.close()
        server.shutdown_sessions()


def menu_labels(page, menu: str, deadline: Deadline) -> list[str]:
    """The item labels of one menu of the menu bar (opened, read, closed)."""
    page.locator(".lm-MenuBar-item", has_text=re.compile(rf"^\s*{menu}\s*$")).click(timeout=deadline.ms(10))
    page.locator(".lm-Menu").first.wait_for(timeout=deadline.ms(10))
    labels = page.eval_on_selector_all(".lm-Menu .lm-Menu-itemLabel", "els => els.map(e => e.innerText.trim())")
    page.keyboard.press("Escape")
    return [label for label in labels if label]


def test_the_student_lab(browser, student_lab, tmp_path):
    """In the Lab that `course lab` opens (issue 10, item 18): does a chapter open unmodified, with nbgrader's
    Validate button but without its instructor tools, and does `course` run in Lab's terminal?"""
    rel = f"{STUDENT_CHAPTER}/{STUDENT_CHAPTER}.ipynb"
    deadline = Deadline(CASE_BUDGET_S, "the student lab")
    with opened_notebook(browser, student_lab, rel, deadline, tmp_path / "student-lab-failure.png") as (page, page_log):
        time.sleep(2)  # Lab writes the kernel's language_info into the notebook once the kernel has answered
        dirty = page.eval_on_selector_all(".lm-TabBar-tab.jp-mod-dirty", "els => els.map(e => e.innerText.trim())")
        assert not dirty, f"opening the chapter marked it modified: {dirty}"
        assert page.locator(".jp-NotebookPanel-toolbar", has_text="Validate").count() == 1, "no Validate button"
        nbgrader = menu_labels(page, "Nbgrader", deadline)
        assert "Assignment List" in nbgrader
        instructor_tools = [label for label in nbgrader if label in ("Formgrader", "Create Assignment", "Course List")]
        assert not instructor_tools, f"students see nbgrader's instructor tools: {instructor_tools}"

        page.locator(".lm-MenuBar-item", has_text=re.compile(r"^\s*File\s*$")).click(timeout=deadline.ms(10))
        page.locator(".lm-Menu .lm-Menu-itemLabel", has_text=re.compile(r"^\s*New\s*$")).click(timeout=deadline.ms(10))
        page.locator(".lm-Menu .lm-Menu-itemLabel", has_text=re.compile(r"^\s*Terminal\s*$")).click(
            timeout=deadline.ms(10))
        page.locator(".jp-Terminal .xterm-helper-textarea").first.wait_for(state="attached", timeout=deadline.ms(30))
        page.locator(".jp-Terminal").first.click(timeout=deadline.ms(10))
        help_file = tmp_path / "course_help.txt"
        page.keyboard.type(f"course --help > {help_file}\n")
        while not (help_file.is_file() and "usage: course" in help_file.read_text(errors="replace")):
            deadline.check("waiting for `course --help` to run in Lab's terminal", debug_log(page_log))
            time.sleep(0.3)


LAB_CELLS = [
    "from course_utils.widgets.gan_lab import GANLab\n"
    "lab = GANLab('ring', 'gan', hidden=64, steps=100_000)\n"
    "lab",
    "1 + 1",
]
LAB_IMAGE_JS = "() => { const i = document.querySelector('.widget-image'); return i ? i.src : null; }"


def lab_picture_changes(page, seconds: float) -> int:
    """How many times the lab's picture (the Image widget's blob URL) changes within ``seconds``."""
    changes, last, end = 0, page.evaluate(LAB_IMAGE_JS), time.monotonic() + seconds
    while time.monotonic() < end:
        now = page.evaluate(LAB_IMAGE_JS)
        changes, last = changes + (now != last), now
        time.sleep(0.05)
    return changes


def test_the_gan_lab_trains_while_the_notebook_answers(browser, lab, tmp_path):
    """Press play: does the picture change, does another cell run within a second while it trains, and does
    pause stop the picture (issue 11: the lab trains without freezing the notebook)? Does a click on the
    samples panel draw a point?"""

    notebook = lab.root / "gan_lab" / "gan_lab.ipynb"
    write_fixture_notebook(notebook, [("code", source) for source in LAB_CELLS])
    deadline = Deadline(CASE_BUDGET_S, "the GAN lab")
    with opened_notebook(browser, lab, "gan_lab/gan_lab.ipynb", deadline, tmp_path / "gan-lab-failure.png") as (
            page, page_log):
        run_all_cells(page, deadline)
        wait_for_execution(page, 2, deadline, page_log)
        page.locator(".widget-image").first.wait_for(state="attached", timeout=deadline.ms(30))
        assert lab_picture_changes(page, 1.0) == 0, "the lab redraws before play was pressed"

        page.locator(".widget-toggle-button", has_text="play").click(timeout=deadline.ms(10))
        changes = lab_picture_changes(page, 3.0)
        assert changes >= 3, f"the picture changed {changes} times in 3 s of training"

        cells = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell")
        second = cells.nth(1)
        before = second.locator(".jp-InputArea-prompt").inner_text()
        second.locator(".jp-InputArea-editor").click(timeout=deadline.ms(10))
        started = time.monotonic()
        page.keyboard.press("Control+Enter")
        while second.locator(".jp-InputArea-prompt").inner_text() == before or \
                "2" not in second.locator(".jp-OutputArea-output").all_inner_texts():
            deadline.check("waiting for `1 + 1` while the lab trains", debug_log(page_log))
            time.sleep(0.02)
        answered = time.monotonic() - started
        print(f"another cell answered in {answered:.2f} s while the lab trained")
        assert answered < 1.5, f"`1 + 1` took {answered:.2f} s while the lab trained"

        page.locator(".widget-toggle-button", has_text="pause").click(timeout=deadline.ms(10))
        time.sleep(1.0)  # a chunk in flight may still draw once
        assert lab_picture_changes(page, 1.5) == 0, "the picture still changes after pause"
        fail_on_errors(page.evaluate(PAGE_STATE_JS), "pressing play and pause", page_log)

        # drawing: a click in the samples panel adds a point to the smiling face's 46 and trains on them
        image = page.locator(".widget-image").first
        box = image.bounding_box()
        image.click(position={"x": box["width"] * 0.13, "y": box["height"] * 0.5}, timeout=deadline.ms(10))
        points_box = page.locator(".widget-textarea textarea").first
        while not (points_box.is_visible() and len(points_box.input_value().split()) == 2 * 47):
            deadline.check("waiting for the clicked point in the points box", debug_log(page_log))
            time.sleep(0.1)
        page.screenshot(path=tmp_path / "gan-lab.png")


@pytest.fixture(scope="module")
def grading_folder(tmp_path_factory) -> Path:
    """A `course grade` output folder: a tiny course, two students, graded with the fake sandbox."""
    from conftest import make_course
    from test_autograde import FakeBackend, answered, grade, released, submit

    from course_utils.instructor.release import release

    base = tmp_path_factory.mktemp("grading")
    root = make_course(base / "course", ("ex",))
    release(root)
    submit(base / "subs", "alice", answered(root))
    submit(base / "subs", "bob", released(root))
    grade(root, base / "subs", base / "out", FakeBackend())
    return base / "out"


def test_manual_review_as_the_readme_says(browser, grading_folder, tmp_path_factory, tmp_path):
    """Issue 13: JupyterLab started in the output folder, then Nbgrader -> Formgrader: does it show the graded
    chapter with its two submissions (the README's manual-review steps, done in a browser)?"""
    server = LabServer(grading_folder, tmp_path_factory.mktemp("grading_home"))
    server.start()
    deadline = Deadline(CASE_BUDGET_S, "the formgrader")
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    try:
        page.goto(f"{server.base}/lab?token={server.token}", timeout=deadline.ms(60))
        assert "Formgrader" in menu_labels(page, "Nbgrader", deadline)
        page.locator(".lm-MenuBar-item", has_text=re.compile(r"^\s*Nbgrader\s*$")).click(timeout=deadline.ms(10))
        page.locator(".lm-Menu .lm-Menu-itemLabel", has_text=re.compile(r"^\s*Formgrader\s*$")).click(
            timeout=deadline.ms(10))
        frame = page.frame_locator("iframe").first
        name = frame.locator("td a", has_text=re.compile(r"^\s*ex\s*$")).first  # the chapter's row in the table
        name.wait_for(timeout=deadline.ms(60))
        cells = [text.strip() for text in name.locator("xpath=ancestor::tr").locator("td").all_inner_texts()]
        assert "2" in cells, f"the formgrader's row for ex: {cells} (expected 2 submissions)"
        page.screenshot(path=tmp_path / "formgrader.png")
    except BaseException:
        page.screenshot(path=tmp_path / "formgrader-failure.png")
        print(f"screenshot: {tmp_path / 'formgrader-failure.png'}\n" + server.log_tail(2000))
        raise
    finally:
        context.close()
        server.stop()
