"""`course doctor`: findings, the device line, and a fix for each problem."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from conftest import REPO_ROOT

from course_utils import doctor
from course_utils.cli import main
from course_utils.device import describe_device, get_device
from course_utils.doctor import Finding, diagnose, format_report


def test_diagnose_returns_every_check() -> None:
    """Does diagnose() check Python, packages, device, CUDA, Lab, kernel, environment, chromium and a CJK font?"""
    findings = diagnose()
    assert all(isinstance(f, Finding) for f in findings)
    names = [f.name for f in findings]
    for name in ("python", *doctor.PACKAGES, "device", "cuda", "kernel", "environment", "course_utils", "chromium",
                 "cjk font"):
        assert name in names
    assert sum(name.startswith("lab: ") for name in names) == len(doctor.LAB_EXTENSIONS)
    assert all(f.fix for f in findings if f.status == "problem")


def test_the_device_line_names_the_training_device() -> None:
    """Does the report say which device training will use, as describe_device(get_device()) names it?"""
    device = next(f for f in diagnose() if f.name == "device")
    assert device.status == "ok"
    assert f"training will use {describe_device(get_device())}" in device.detail
    assert "device" in format_report([device])


def test_missing_lab_extension_is_a_problem_with_a_fix(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """With the widget extension absent from every labextension folder, is it a problem with a pip fix?"""
    ipympl = tmp_path / "jupyter-matplotlib"
    ipympl.mkdir()
    (ipympl / "package.json").write_text(json.dumps({"name": "jupyter-matplotlib", "version": "0.12.0"}))
    monkeypatch.setattr(doctor, "labextension_dirs", lambda: [str(tmp_path)])
    findings = {f.name: f for f in diagnose()}
    widgets = findings["lab: @jupyter-widgets/jupyterlab-manager"]
    assert widgets.status == "problem"
    assert "jupyterlab_widgets" in widgets.fix
    assert findings["lab: jupyter-matplotlib"].status == "ok"
    assert "0.12.0" in findings["lab: jupyter-matplotlib"].detail
    report = format_report(list(findings.values()))
    assert "PROBLEM  lab: @jupyter-widgets/jupyterlab-manager" in report
    assert f"fix: {widgets.fix}" in report
    assert "problem(s)" in report.splitlines()[-1]


def test_doctor_exit_status(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                            capsys: pytest.CaptureFixture[str]) -> None:
    """Does `course doctor` exit 1 when something is wrong and 0 when nothing is (notes allowed)?"""
    monkeypatch.setattr(doctor, "labextension_dirs", lambda: [str(tmp_path)])
    assert main(["doctor"]) == 1
    assert "PROBLEM" in capsys.readouterr().out
    healthy = [Finding("python", "ok", "3.11"),
               Finding("chromium", "note", "not found", "apt-get install chromium")]
    monkeypatch.setattr(doctor, "diagnose", lambda root=None: healthy)
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "fix: apt-get install chromium" in out and out.rstrip().endswith("the course should run here.")


def test_cpu_torch_on_a_gpu_machine_is_a_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    """When nvidia-smi lists a GPU but torch is a CPU build, is the fix to reinstall torch for CUDA?"""
    monkeypatch.setattr(torch.version, "cuda", None)
    finding = doctor.check_cuda_build(lambda: ["GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-1234)"])
    assert finding.status == "problem"
    assert "NVIDIA H100 80GB HBM3" in finding.detail and "UUID" not in finding.detail
    assert "reinstall torch for CUDA" in finding.fix and "download.pytorch.org" in finding.fix
    assert doctor.check_cuda_build(lambda: []).status == "ok"


def test_cuda_torch_that_cannot_see_the_gpu_is_a_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    """When torch is a CUDA build but cannot use the listed GPU, does the fix mention the driver?"""
    monkeypatch.setattr(torch.version, "cuda", "12.6")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    finding = doctor.check_cuda_build(lambda: ["GPU 0: NVIDIA A100"])
    assert finding.status == "problem" and "driver" in finding.fix


def test_old_python_missing_package_and_bad_device_setting() -> None:
    """Are Python 3.10, a missing package and COURSE_DEVICE=gpu each a problem with a fix?"""
    assert doctor.check_python((3, 10, 4)).status == "problem"
    assert doctor.check_python((3, 11, 0)).status == "ok"
    missing = doctor.check_packages(["surely-not-an-installed-package"])[0]
    assert missing.status == "problem" and "constraints.txt" in missing.fix
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COURSE_DEVICE", "gpu")
        device = doctor.check_device()
    assert device.status == "problem" and "COURSE_DEVICE" in device.fix


def test_environment_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Is <root>/.venv recognised, and a bare system Python a problem?"""
    monkeypatch.delenv("CONDA_PREFIX", raising=False)
    monkeypatch.setattr(sys, "prefix", str(tmp_path / ".venv"))
    monkeypatch.setattr(sys, "base_prefix", "/usr")
    assert doctor.check_environment(tmp_path).status == "ok"
    assert doctor.check_environment(tmp_path / "elsewhere").status == "note"
    monkeypatch.setattr(sys, "base_prefix", str(tmp_path / ".venv"))
    assert doctor.check_environment(tmp_path / "elsewhere").status == "problem"


def test_a_course_utils_from_another_checkout_is_a_problem(tmp_path: Path) -> None:
    """Does doctor notice when the imported course_utils is another checkout's (a .venv shared by two clones)?"""
    here = doctor.check_package_source(REPO_ROOT)
    assert (here.status, here.name) == ("ok", "course_utils")
    other = doctor.check_package_source(tmp_path, imported=REPO_ROOT / "course_utils")
    assert other.status == "problem"
    assert str(REPO_ROOT / "course_utils") in other.detail and str(tmp_path / "course_utils") in other.detail
    assert f"pip install --no-deps -e {tmp_path}" in other.fix
    assert doctor.check_package_source(None).status == "ok"  # outside a checkout there is nothing to compare


def test_a_foreign_python3_kernel_is_a_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    """When the python3 kernelspec runs another interpreter, is that reported with a fix?"""
    from jupyter_client import kernelspec

    class Spec:
        argv = ["/opt/other/bin/python3.9", "-m", "ipykernel_launcher", "-f", "{connection_file}"]
        resource_dir = "/home/me/.local/share/jupyter/kernels/python3"

    monkeypatch.setattr(kernelspec.KernelSpecManager, "get_kernel_spec", lambda self, name: Spec())
    finding = doctor.check_kernel()
    assert finding.status == "problem" and "kernelspec remove python3" in finding.fix


def test_finding_rejects_an_unknown_status() -> None:
    """Is a Finding with a status other than ok/note/problem refused?"""
    with pytest.raises(ValueError, match="status"):
        Finding("x", "fine", "")


def test_no_chinese_font_is_a_note_with_the_debian_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a font that covers Chinese, does the doctor say the quotes show as boxes, and how to install one?"""
    monkeypatch.setattr(doctor, "cjk_fonts", lambda: [])
    finding = next(f for f in diagnose() if f.name == "cjk font")
    if sys.platform == "linux":
        assert finding.status == "note" and "empty boxes" in finding.detail
        assert "sudo apt-get install fonts-noto-cjk" in finding.fix
        assert "fix: sudo apt-get install fonts-noto-cjk" in format_report([finding])
    assert finding.ok  # the course runs; only the quotes are unreadable
    found = doctor.check_cjk_font("linux", fonts=lambda: ["Noto Sans CJK SC", "Noto Serif CJK SC"])
    assert found.status == "ok" and "Noto Sans CJK SC" in found.detail
    assert doctor.check_cjk_font("darwin", fonts=lambda: []).status == "ok"
    unknown = doctor.check_cjk_font("linux", fonts=lambda: None)
    assert unknown.status == "note" and "fonts-noto-cjk" in unknown.fix


def test_chinese_fonts_from_fontconfig_or_matplotlib(monkeypatch: pytest.MonkeyPatch) -> None:
    """Does cjk_fonts read `fc-list :lang=zh family`, and without fc-list fall back to matplotlib's font list?"""
    import subprocess
    from types import SimpleNamespace

    from matplotlib import font_manager

    asked = []

    def fc_list(argv, **kwargs):
        asked.append(argv)
        return SimpleNamespace(returncode=0, stdout=listing)

    monkeypatch.setattr(doctor.shutil, "which", lambda name: "/usr/bin/fc-list" if name == "fc-list" else None)
    monkeypatch.setattr(subprocess, "run", fc_list)
    listing = "Noto Sans CJK SC,Noto Sans CJK SC Regular\nNoto Serif CJK JP\nNoto Sans CJK SC\n"
    assert doctor.cjk_fonts() == ["Noto Sans CJK SC", "Noto Serif CJK JP"]
    assert asked[0] == ["/usr/bin/fc-list", ":lang=zh", "family"]
    listing = ""
    assert doctor.cjk_fonts() == []

    monkeypatch.setattr(doctor.shutil, "which", lambda name: None)
    fonts = [SimpleNamespace(name=name) for name in ("DejaVu Sans", "WenQuanYi Zen Hei", "Liberation Serif")]
    monkeypatch.setattr(font_manager.fontManager, "ttflist", fonts)
    assert doctor.cjk_fonts() == ["WenQuanYi Zen Hei"]
    monkeypatch.setattr(font_manager.fontManager, "ttflist", fonts[::2])
    assert doctor.cjk_fonts() == []


def test_a_python_without_jupyter_gets_a_report_not_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without jupyter_core and jupyter_client (a machine with only torch, as chapter 00's first cell met on a GPU
    machine), does diagnose() report the missing JupyterLab with the install fix instead of raising?"""
    import builtins

    real_import = builtins.__import__

    def no_jupyter(name, *args, **kwargs):
        if name.startswith(("jupyter_core", "jupyter_client")):
            raise ModuleNotFoundError(f"No module named '{name}'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_jupyter)
    findings = {finding.name: finding for finding in diagnose()}
    assert findings["lab extensions"].status == "problem" and "jupyter_core" in findings["lab extensions"].detail
    assert findings["lab extensions"].fix == doctor.INSTALL_FIX
    assert findings["kernel"].status == "problem" and "jupyter_client" in findings["kernel"].detail


def test_bubblewrap_is_reported_for_course_grade(monkeypatch: pytest.MonkeyPatch) -> None:
    """Does doctor say where bwrap is, or, without it, that course grade needs it (a note: students do not)?"""
    import shutil

    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/bwrap" if name == "bwrap" else None)
    found = doctor.check_bubblewrap()
    assert found.status == "ok" and "/usr/bin/bwrap" in found.detail and "course grade" in found.detail
    monkeypatch.setattr(shutil, "which", lambda name: None)
    missing = doctor.check_bubblewrap()
    assert missing.status == "note" and "course grade" in missing.detail and "apt-get install bubblewrap" in missing.fix
    assert "bubblewrap" in {finding.name for finding in diagnose()}
