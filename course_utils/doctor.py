"""``course doctor``: what is installed, which device training will use, and what is wrong.

Every check returns a :class:`Finding`; a problem carries a one-line fix. Checks are fast (no
``jupyter`` subprocess; only ``nvidia-smi -L`` and ``fc-list`` when they exist) so students can run it
first thing.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

MIN_PYTHON = (3, 11)
PACKAGES = (
    "torch", "numpy", "scipy", "matplotlib", "ipywidgets", "ipympl", "jupyterlab", "nbgrader", "nbval",
)
INSTALL_FIX = "run `make doctor` in the course folder (it installs .venv from constraints.txt), or " \
              "`pip install -c constraints.txt -e '.[test]'`"
# (what it is for, the Python package that ships it, the JupyterLab extension's folder name)
LAB_EXTENSIONS = (
    ("ipywidgets sliders and buttons", "jupyterlab_widgets", "@jupyter-widgets/jupyterlab-manager"),
    ("interactive matplotlib (%matplotlib widget)", "ipympl", "jupyter-matplotlib"),
    ("nbgrader's Validate button", "nbgrader", "@jupyter/nbgrader"),
)
# The chapters quote a Chinese blog post: without a font that covers Chinese, the browser draws empty boxes.
CJK_FONT_FIX = ("sudo apt-get install fonts-noto-cjk (Debian/Ubuntu; Fedora: google-noto-sans-cjk-fonts), "
                "then reload the JupyterLab page")
# Families that cover Chinese, for the fallback without fontconfig (matplotlib's font list has no coverage).
CJK_FAMILY_HINTS = ("cjk", "wenquanyi", "droid sans fallback", "ar pl ", "simhei", "simsun", "kaiti", "heiti",
                    "songti", "fangsong", "mingliu", "pingfang", "yahei", "noto sans sc", "noto serif sc",
                    "source han")
PYTHON_NAMES = {"python", f"python{sys.version_info[0]}", "python{}.{}".format(*sys.version_info[:2])}

STATUSES = ("ok", "note", "problem")


@dataclass(frozen=True)
class Finding:
    """One line of the doctor's report.

    Attributes
    ----------
    name : str
        What was checked (``"python"``, ``"torch"``, ``"device"``, ...).
    status : {"ok", "note", "problem"}
        ``"note"`` is worth knowing but breaks nothing; only ``"problem"`` makes ``course doctor`` fail.
    detail : str
        What was found.
    fix : str
        One line that repairs a problem (or acts on a note); empty when ``status == "ok"``.
    """

    name: str
    status: str
    detail: str
    fix: str = ""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}; got {self.status!r}")

    @property
    def ok(self) -> bool:
        """Whether this finding leaves the course working (``status`` is not ``"problem"``)."""
        return self.status != "problem"


# ----------------------------------------------------------------------------------------------
# individual checks (each returns findings; the lookups they use are module functions so tests
# can replace them)


def check_python(version: tuple[int, ...] = tuple(sys.version_info[:3])) -> Finding:
    """Is this Python new enough (``MIN_PYTHON``)?

    Parameters
    ----------
    version : tuple of int
        The version to judge; the running interpreter's by default.

    Returns
    -------
    Finding
    """
    text = ".".join(str(v) for v in version)
    need = ".".join(str(v) for v in MIN_PYTHON)
    if tuple(version[:2]) >= MIN_PYTHON:
        return Finding("python", "ok", f"{text} (need >= {need}) at {sys.executable}")
    return Finding("python", "problem", f"{text} is too old (need >= {need})",
                   f"install Python {need} or newer and run `make PYTHON=/path/to/python{need}`")


def package_version(name: str) -> str | None:
    """The installed version of a distribution.

    Parameters
    ----------
    name : str
        The distribution name, e.g. ``"torch"``.

    Returns
    -------
    str or None
        Its version, or ``None`` when it is not installed.
    """
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def check_packages(packages: Sequence[str] = PACKAGES) -> list[Finding]:
    """Is each package the course needs installed, and at which version?

    Parameters
    ----------
    packages : sequence of str
        Distribution names; ``PACKAGES`` by default.

    Returns
    -------
    list of Finding
        One per package.
    """
    findings = []
    for name in packages:
        version = package_version(name)
        if version is None:
            findings.append(Finding(name, "problem", "not installed", INSTALL_FIX))
        else:
            findings.append(Finding(name, "ok", version))
    return findings


def check_device() -> Finding:
    """Which device will training use (``get_device("auto")``: CUDA, then MPS, then CPU)?

    Returns
    -------
    Finding
        Named ``"device"``; its detail names the device as ``describe_device`` does.
    """
    try:
        import torch

        from course_utils.device import describe_device, get_device
    except ImportError as error:
        return Finding("device", "problem", f"cannot import torch: {error}", INSTALL_FIX)
    try:
        device = get_device()
    except ValueError as error:
        return Finding("device", "problem", str(error).split(";")[0],
                       "unset COURSE_DEVICE, or set it to auto, cuda, mps or cpu")
    build = f"CUDA {torch.version.cuda} build" if torch.version.cuda else "CPU-only build"
    forced = os.environ.get("COURSE_DEVICE")
    how = f" (COURSE_DEVICE={forced})" if forced and forced.lower() != "auto" else ""
    return Finding("device", "ok", f"training will use {describe_device(device)}{how}; "
                                   f"torch {torch.__version__} is a {build}")


def nvidia_gpus(timeout: float = 10.0) -> list[str]:
    """The GPUs that ``nvidia-smi -L`` lists.

    Parameters
    ----------
    timeout : float
        Seconds to wait for ``nvidia-smi``.

    Returns
    -------
    list of str
        One line per GPU (``"GPU 0: NVIDIA H100 ... (UUID: ...)"``); empty without nvidia-smi.
    """
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    try:
        out = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.strip().startswith("GPU")]


def check_cuda_build(gpus: Callable[[], list[str]] | None = None) -> Finding:
    """When ``nvidia-smi`` shows an NVIDIA GPU, can this torch use it?

    Parameters
    ----------
    gpus : callable, optional
        Returns the listed GPUs; :func:`nvidia_gpus` by default.

    Returns
    -------
    Finding
        A problem when torch is a CPU-only build, or a CUDA build that cannot see the GPU.
    """
    import torch

    listed = (gpus or nvidia_gpus)()
    if not listed:
        return Finding("cuda", "ok", "no NVIDIA GPU (nvidia-smi absent or lists none): no CUDA needed")
    first = listed[0].split(" (UUID")[0]
    if not torch.version.cuda:
        version = torch.__version__.split("+")[0]
        return Finding("cuda", "problem",
                       f"nvidia-smi shows {first}, but torch {torch.__version__} is a CPU-only build",
                       f"reinstall torch for CUDA: pip install --force-reinstall torch=={version} "
                       "--index-url https://download.pytorch.org/whl/cu126 (a CUDA your driver supports)")
    if not torch.cuda.is_available():
        return Finding("cuda", "problem",
                       f"nvidia-smi shows {first}, but torch (CUDA {torch.version.cuda}) cannot use it",
                       "update the NVIDIA driver, or reinstall torch built for the CUDA nvidia-smi reports")
    return Finding("cuda", "ok", f"{len(listed)} NVIDIA GPU(s); torch uses CUDA {torch.version.cuda}")


def labextension_dirs() -> list[str]:
    """Where JupyterLab looks for prebuilt extensions.

    Returns
    -------
    list of str
        ``jupyter_core.paths.jupyter_path("labextensions")``.
    """
    from jupyter_core.paths import jupyter_path

    return jupyter_path("labextensions")


def check_lab_extensions(dirs: Sequence[str] | None = None) -> list[Finding]:
    """Are the JupyterLab extensions for widgets, ipympl and nbgrader installed where Lab looks?

    Parameters
    ----------
    dirs : sequence of str, optional
        Folders to search; :func:`labextension_dirs` by default.

    Returns
    -------
    list of Finding
        One per entry of ``LAB_EXTENSIONS``.
    """
    if dirs is None:
        try:
            dirs = labextension_dirs()
        except ImportError as error:  # Python with torch but without Jupyter (a bare GPU machine, say)
            return [Finding("lab extensions", "problem", f"JupyterLab is not installed here ({error})", INSTALL_FIX)]
    findings = []
    for purpose, package, extension in LAB_EXTENSIONS:
        for folder in dirs:
            manifest = Path(folder) / extension / "package.json"
            if manifest.is_file():
                try:
                    version = json.loads(manifest.read_text(encoding="utf-8")).get("version", "?")
                except (OSError, ValueError):
                    version = "?"
                findings.append(Finding(f"lab: {extension}", "ok", f"{version} in {folder} ({purpose})"))
                break
        else:
            findings.append(Finding(
                f"lab: {extension}", "problem",
                f"JupyterLab extension not found in {len(dirs)} labextension folder(s): no {purpose}",
                f"pip install --force-reinstall -c constraints.txt {package} (into this environment), "
                "then restart JupyterLab",
            ))
    return findings


def check_kernel() -> Finding:
    """Does the ``python3`` kernel that notebooks ask for run this interpreter?

    Returns
    -------
    Finding
    """
    try:
        from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
    except ImportError as error:  # Python without Jupyter
        return Finding("kernel", "problem", f"cannot import jupyter_client: {error}", INSTALL_FIX)
    try:
        spec = KernelSpecManager().get_kernel_spec("python3")
    except NoSuchKernel:
        return Finding("kernel", "problem", "no 'python3' kernel",
                       f"{sys.executable} -m ipykernel install --sys-prefix")
    exe = spec.argv[0] if spec.argv else ""
    if exe in PYTHON_NAMES:  # jupyter_client starts these with the running interpreter
        return Finding("kernel", "ok", f"'python3' runs this Python ({sys.executable})")
    found = shutil.which(exe) or exe
    if Path(found).resolve() == Path(sys.executable).resolve():
        return Finding("kernel", "ok", f"'python3' runs this Python ({sys.executable})")
    return Finding("kernel", "problem",
                   f"the 'python3' kernel in {spec.resource_dir} runs {exe}, not {sys.executable}",
                   "remove that kernelspec (jupyter kernelspec remove python3) so this environment's is used")


def check_environment(root: Path | None) -> Finding:
    """Is this the course's virtual environment (``<root>/.venv``) or a conda environment?

    Parameters
    ----------
    root : pathlib.Path or None
        The course root, if known.

    Returns
    -------
    Finding
        ok for the course venv or a conda environment, a note for another venv, a problem for a
        system Python.
    """
    prefix = Path(sys.prefix).resolve()
    if root is not None and prefix == (Path(root) / ".venv").resolve():
        return Finding("environment", "ok", f"the course venv ({prefix})")
    conda = os.environ.get("CONDA_PREFIX")
    if conda and Path(conda).resolve() == prefix:
        return Finding("environment", "ok", f"conda environment {prefix} (from environment.yml)")
    if sys.prefix != sys.base_prefix:
        return Finding("environment", "note", f"a virtual environment, not the course's .venv: {prefix}",
                       "use `make lab` / `make test` (they run the course's .venv) if anything misbehaves")
    return Finding("environment", "problem", f"not in a virtual environment: system Python {sys.executable}",
                   "run `make doctor` in the course folder: it creates .venv from constraints.txt, uses it")


def check_package_source(root: Path | None, imported: Path | None = None) -> Finding:
    """Is the ``course_utils`` that Python imports the one in this checkout?

    One ``.venv`` shared by two checkouts (or an editable install made from another clone) silently runs
    the other checkout's code: the tests pass or fail on code you are not editing.

    Parameters
    ----------
    root : pathlib.Path or None
        The course root (the checkout), if known.
    imported : pathlib.Path, optional
        The folder of the imported package; ``course_utils.__file__``'s by default.

    Returns
    -------
    Finding
        ok when it is ``<root>/course_utils`` (or no checkout is known), a problem otherwise.
    """
    import course_utils

    imported = (imported or Path(course_utils.__file__).parent).resolve()
    if root is None:
        return Finding("course_utils", "ok", f"imported from {imported}")
    expected = (Path(root) / "course_utils").resolve()
    if imported == expected:
        return Finding("course_utils", "ok", f"this checkout's ({imported})")
    return Finding("course_utils", "problem", f"imported from {imported}, not from this checkout's {expected}",
                   f"install this checkout into the environment: {sys.executable} -m pip install --no-deps -e "
                   f"{Path(root).resolve()} (or give each checkout its own .venv)")


def check_chromium() -> Finding:
    """Is Debian's chromium there for the real-browser test (nothing else needs it)?

    Returns
    -------
    Finding
        ok, or a note (never a problem).
    """
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return Finding("chromium", "ok", f"{found} (for the browser test)")
    return Finding("chromium", "note", "not found: only the browser test needs it (skipped without)",
                   "sudo apt-get install chromium (Debian/Ubuntu), or let `make test` install it as root")


def check_bubblewrap() -> Finding:
    """Is bubblewrap there for ``course grade``, which runs each student's notebook inside it?

    Returns
    -------
    Finding
        ok, or a note (students never need it). Whether it can create a sandbox on this machine
        (user namespaces) only ``course grade`` finds out, by trying it.
    """
    found = shutil.which("bwrap")
    if found:
        return Finding("bubblewrap", "ok", f"{found} (course grade sandboxes each student's notebook in it)")
    return Finding("bubblewrap", "note", "not found: `course grade` cannot sandbox students' notebooks without it "
                   "(it refuses, or runs them unsandboxed with --unsafe); students do not need it",
                   "sudo apt-get install bubblewrap (Debian/Ubuntu), or let `make test` install it as root")


def cjk_fonts(timeout: float = 10.0) -> list[str] | None:
    """The installed font families that cover Chinese.

    Asks fontconfig (``fc-list :lang=zh family``: what the browser on Linux uses) when it exists;
    otherwise guesses from matplotlib's font list by family name (``CJK_FAMILY_HINTS``).

    Parameters
    ----------
    timeout : float
        Seconds to wait for ``fc-list``.

    Returns
    -------
    list of str or None
        Family names (empty when there is none); ``None`` when neither fontconfig nor matplotlib can tell.
    """
    exe = shutil.which("fc-list")
    if exe is not None:
        try:
            out = subprocess.run([exe, ":lang=zh", "family"], capture_output=True, text=True, timeout=timeout,
                                 check=False)
        except (OSError, subprocess.SubprocessError):
            out = None
        if out is not None and out.returncode == 0:
            return sorted({line.split(",")[0].strip() for line in out.stdout.splitlines() if line.strip()})
    try:
        from matplotlib import font_manager
    except ImportError:
        return None
    names = {font.name for font in font_manager.fontManager.ttflist}
    return sorted(name for name in names if any(hint in name.lower() for hint in CJK_FAMILY_HINTS))


def check_cjk_font(platform: str = sys.platform, fonts: Callable[[], list[str] | None] | None = None) -> Finding:
    """Is there a font for the Chinese quotes (else the browser shows them as empty boxes)?

    Parameters
    ----------
    platform : str
        ``sys.platform`` by default; macOS and Windows always ship Chinese fonts.
    fonts : callable, optional
        Returns the Chinese font families; :func:`cjk_fonts` by default.

    Returns
    -------
    Finding
        Named ``"cjk font"``: ok, or a note with the command that installs one (the course runs without,
        but the quoted Chinese text is unreadable).
    """
    if platform == "darwin" or platform.startswith("win"):
        return Finding("cjk font", "ok", "macOS and Windows ship fonts for the Chinese quotes")
    found = (fonts or cjk_fonts)()
    if found is None:
        return Finding("cjk font", "note",
                       "cannot tell whether a Chinese font is installed (no fc-list, no matplotlib)",
                       f"if the Chinese quotes show as empty boxes: {CJK_FONT_FIX}")
    if not found:
        return Finding("cjk font", "note", "no font covers Chinese: the quotes from the source post will show "
                                           "as empty boxes (□□□)", CJK_FONT_FIX)
    more = f" (+{len(found) - 3} more)" if len(found) > 3 else ""
    return Finding("cjk font", "ok", f"Chinese quotes render with {', '.join(found[:3])}{more}")


# ----------------------------------------------------------------------------------------------
# report


def diagnose(root: str | os.PathLike[str] | None = None) -> list[Finding]:
    """Run every check.

    Parameters
    ----------
    root : path-like, optional
        The course root, used to recognise the course's ``.venv``; found from the working
        directory when omitted (and skipped when there is none).

    Returns
    -------
    list of Finding
        Python, package versions, the training device, the CUDA build, the JupyterLab extensions,
        the notebook kernel, the environment, where ``course_utils`` is imported from, chromium, bubblewrap and a
        font for the Chinese quotes, in that order.
    """
    if root is None:
        from course_utils._layout import find_course_root

        try:
            root = find_course_root()
        except FileNotFoundError:
            root = None
    findings = [check_python(), *check_packages(), check_device(), check_cuda_build(),
                *check_lab_extensions(), check_kernel(),
                check_environment(Path(root) if root is not None else None),
                check_package_source(Path(root) if root is not None else None), check_chromium(), check_bubblewrap(),
                check_cjk_font()]
    return findings


def format_report(findings: Sequence[Finding]) -> str:
    """The findings as aligned lines, each problem followed by its fix, and a verdict at the end.

    Parameters
    ----------
    findings : sequence of Finding

    Returns
    -------
    str
    """
    labels = {"ok": "ok", "note": "note", "problem": "PROBLEM"}
    width = max((len(f.name) for f in findings), default=0)
    lines = []
    for finding in findings:
        lines.append(f"{labels[finding.status]:<8} {finding.name:<{width}}  {finding.detail}")
        if finding.fix and finding.status != "ok":
            lines.append(f"{'':<8} {'':<{width}}  fix: {finding.fix}")
    problems = sum(f.status == "problem" for f in findings)
    lines.append("")
    lines.append("All good: the course should run here." if not problems else
                 f"{problems} problem(s): apply the fix under each PROBLEM, then run `course doctor` again.")
    return "\n".join(lines)
