"""The `course` command line: exit codes, one-line errors, and what each subcommand prints."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import one_line_error, snapshot

from course_utils.cli import COMMANDS, Command, main
from course_utils.cli.lab import (
    CONTENTS_MANAGER,
    DISABLED_LAB_PLUGINS,
    DISABLED_SERVER_EXTENSIONS,
    LAB_CONFIG_DIR,
    lab_command,
    lab_environment,
)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["frob"], "argument COMMAND: invalid choice: 'frob'"),
        ([], "the following arguments are required: COMMAND"),
        (["release", "--bogus"], "unrecognized arguments: --bogus"),
        (["check"], "the following arguments are required: NOTEBOOK"),
        (["check", "--timeout", "soon", "x.ipynb"], "argument --timeout: 'soon' is not a whole number"),
        (["check", "--timeout", "0", "x.ipynb"], "argument --timeout: '0' must be at least 1"),
        (["check", "no_such_notebook.ipynb"], "argument NOTEBOOK: no such file 'no_such_notebook.ipynb'"),
        (["--root", "/nonexistent", "release"], "argument --root: no nbgrader_config.py in /nonexistent"),
    ],
)
def test_bad_input_exits_2_with_one_line(argv: list[str], expected: str, capsys: pytest.CaptureFixture[str],
                                         course: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Does bad input exit 2 with one line that names the argument and points to --help?"""
    monkeypatch.chdir(course)
    assert main(argv) == 2
    line = one_line_error(capsys)
    assert expected in line
    assert "--help" in line


def test_check_refuses_a_file_that_is_not_a_notebook(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """Are a non-.ipynb path and an .ipynb that is not JSON both bad input (exit 2)?"""
    (tmp_path / "notes.txt").write_text("hi")
    (tmp_path / "broken.ipynb").write_text("{")
    assert main(["check", str(tmp_path / "notes.txt")]) == 2
    assert "is not a notebook" in one_line_error(capsys)
    assert main(["check", str(tmp_path / "broken.ipynb")]) == 2
    assert "not a readable notebook" in one_line_error(capsys)


def test_commands_outside_the_course_say_where_to_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """Outside a course repository, do `release` and `lab` exit 2 saying nbgrader_config.py is missing?"""
    monkeypatch.chdir(tmp_path)
    for argv in (["release"], ["lab", "--dry-run"]):
        assert main(argv) == 2
        assert "no nbgrader_config.py" in one_line_error(capsys)


def test_help_lists_every_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    """Does `course --help` exit 0 and list lab, release, check and doctor?"""
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in ("lab", "release", "check", "doctor"):
        assert name in out


def test_release_prints_what_it_wrote(course: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    """Does `course release` write chapters/ and print each file, relative to the course?"""
    monkeypatch.chdir(course / "solutions")  # the root is found from below
    assert main(["release"]) == 0
    out = capsys.readouterr().out
    assert "wrote chapters/ex/ex.ipynb" in out
    assert "wrote chapters/ex/data.txt" in out
    assert "released 1 assignment(s) into chapters/: ex" in out
    assert (course / "chapters" / "ex" / "ex.ipynb").is_file()


def test_release_of_a_malformed_notebook_exits_1_and_keeps_chapters(
        course: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Does a malformed source make `course release` exit 1, naming file and cell, chapters/ untouched?"""
    monkeypatch.chdir(course)
    assert main(["release"]) == 0
    capsys.readouterr()
    before = snapshot(course / "chapters")
    source = course / "solutions" / "ex" / "ex.ipynb"
    source.write_text(source.read_text().replace("    ### END SOLUTION", ""), encoding="utf-8")
    assert main(["release"]) == 1
    line = one_line_error(capsys)
    assert line.startswith("course release: error: solutions/ex/ex.ipynb: cell 2 (grade_id 'ex_double')")
    assert "'BEGIN SOLUTION' on line 2 has no 'END SOLUTION'" in line
    assert "chapters/ was left unchanged" in line
    assert snapshot(course / "chapters") == before


def test_release_of_an_unknown_assignment_exits_2(course: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """Does naming an assignment that does not exist exit 2, listing the ones that do?"""
    monkeypatch.chdir(course)
    assert main(["release", "nope"]) == 2
    assert "argument ASSIGNMENT: unknown assignment 'nope'; choose from: ex" in one_line_error(capsys)
    assert not (course / "chapters").exists()


def test_lab_dry_run_prints_a_jupyter_lab_command_on_chapters(
        course: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Does `course lab --dry-run` print (not run) jupyter lab on chapters/, passing extra args on?"""
    monkeypatch.chdir(course)
    monkeypatch.setattr(os, "geteuid", lambda: 1000, raising=False)
    assert main(["lab", "--dry-run", "--port", "8890", "--", "--no-browser"]) == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith(f"cd {course.resolve()} && PATH={Path(sys.executable).parent}{os.pathsep}")
    assert f"JUPYTER_CONFIG_PATH={LAB_CONFIG_DIR}" in out
    assert "-m jupyter lab --ServerApp.root_dir=chapters " in out
    assert out.splitlines()[0].endswith(" --port 8890 --no-browser")
    assert "--ServerApp.jpserver_extensions=nbgrader.server_extensions.formgrader=False" in out
    assert "disabled JupyterLab plugins (nbgrader's instructor tools): @jupyter/nbgrader:formgrader, " \
           "@jupyter/nbgrader:create-assignment" in out


def test_lab_environment_puts_course_first_on_path() -> None:
    """Is `course` found in Lab's terminal although the venv was never activated (its bin first on PATH, once)?"""
    bin_dir = str(Path(sys.executable).parent)
    env = lab_environment({"PATH": os.pathsep.join(["/usr/bin", bin_dir, "/bin"]), "HOME": "/home/student"})
    assert env["PATH"].split(os.pathsep) == [bin_dir, "/usr/bin", "/bin"]
    assert shutil.which("course", path=env["PATH"]) == str(Path(bin_dir) / "course")
    assert env["HOME"] == "/home/student"
    assert env["JUPYTER_CONFIG_PATH"] == str(LAB_CONFIG_DIR)
    kept = lab_environment({"PATH": "", "JUPYTER_CONFIG_PATH": "/etc/mine"})["JUPYTER_CONFIG_PATH"]
    assert kept == os.pathsep.join([str(LAB_CONFIG_DIR), "/etc/mine"])


def test_lab_terminal_is_not_a_login_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    """Does Lab's terminal run the user's shell as given (a login shell's /etc/profile would reset PATH)?"""
    monkeypatch.setenv("SHELL", "/bin/zsh")
    assert "--ServerApp.terminado_settings=shell_command=/bin/zsh" in lab_command()


def test_lab_config_disables_nbgrader_instructor_plugins() -> None:
    """Does page_config.json disable exactly DISABLED_LAB_PLUGINS, ids that nbgrader's labextension defines,
    while the Validate button, the assignment list and the menu stay; are the disabled server extensions real?"""
    import importlib.util

    from jupyter_core.paths import jupyter_path

    page_config = json.loads((LAB_CONFIG_DIR / "labconfig" / "page_config.json").read_text(encoding="utf-8"))
    assert page_config == {"disabledExtensions": dict.fromkeys(DISABLED_LAB_PLUGINS, True)}
    bundles = [path for folder in jupyter_path("labextensions")
               for path in (Path(folder) / "@jupyter" / "nbgrader" / "static").glob("*.js")]
    assert bundles, "nbgrader's labextension is not installed"
    code = "".join(path.read_text(encoding="utf-8", errors="replace") for path in bundles)
    for plugin in (*DISABLED_LAB_PLUGINS, "@jupyter/nbgrader:validate-assignment",
                   "@jupyter/nbgrader:assignment-list", "@jupyter/nbgrader:menu"):
        assert f'"{plugin}"' in code, f"nbgrader no longer defines the plugin {plugin}"
    for module in DISABLED_SERVER_EXTENSIONS:
        assert importlib.util.find_spec(module) is not None, module


def test_lab_starts_jupyter_in_the_student_environment(course: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Does `course lab` start jupyter from the course root with lab_environment's PATH and config path?"""
    (course / "chapters").mkdir()
    monkeypatch.chdir(course)
    calls = []
    monkeypatch.setattr(subprocess, "call", lambda command, **kwargs: calls.append((command, kwargs)) or 0)
    assert main(["lab", "--", "--no-browser"]) == 0
    [(command, kwargs)] = calls
    assert command[-1] == "--no-browser" and kwargs["cwd"] == course.resolve()
    assert kwargs["env"]["PATH"].startswith(str(Path(sys.executable).parent) + os.pathsep)
    assert kwargs["env"]["JUPYTER_CONFIG_PATH"].startswith(str(LAB_CONFIG_DIR))


def test_lab_as_root_allows_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """As root (a container, a cloud VM), does the lab command pass --allow-root, which jupyter requires?"""
    monkeypatch.setattr(os, "geteuid", lambda: 0, raising=False)
    assert "--allow-root" in lab_command()
    monkeypatch.setattr(os, "geteuid", lambda: 1000, raising=False)
    assert "--allow-root" not in lab_command()


def test_lab_without_chapters_says_to_release(course: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """Without chapters/, does `course lab` exit 1 and say to run `course release` (starting nothing)?"""
    monkeypatch.chdir(course)
    monkeypatch.setattr(subprocess, "call", lambda *a, **k: pytest.fail("jupyter lab must not start"))
    assert main(["lab"]) == 1
    assert "run `course release` first" in one_line_error(capsys)


def test_check_exit_codes(released_course: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Does `course check` exit 0 on the solution, 1 on the release (naming cells), 0 with --invert?"""
    solution = released_course / "solutions" / "ex" / "ex.ipynb"
    chapter = released_course / "chapters" / "ex" / "ex.ipynb"
    assert main(["check", str(solution)]) == 0
    assert capsys.readouterr().out.startswith("PASS ")
    assert main(["check", "-v", str(chapter)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("FAIL ")
    assert "  ex_double_test: NotImplementedError" in out
    assert "  ex_double_data_test: NotImplementedError" in out
    assert "raise NotImplementedError()" in out  # --verbose shows the traceback
    assert main(["check", "--invert", str(chapter)]) == 0


def test_a_registered_command_becomes_a_subcommand(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """Is adding a subcommand (as train/bench/grade will) just registering a Command?"""
    def configure(parser):  # noqa: ANN001, ANN202
        parser.add_argument("--steps", type=int, default=1)

    def run(args):  # noqa: ANN001, ANN202
        print(f"trained {args.steps} steps")
        return 0

    command = Command("train", "train a model", configure, run, needs_root=False)
    monkeypatch.setitem(COMMANDS, "train", command)
    assert main(["train", "--steps", "3"]) == 0
    assert capsys.readouterr().out == "trained 3 steps\n"


def test_console_script_prints_no_traceback(tmp_path: Path) -> None:
    """Run as a program, does a bad subcommand exit 2 with one line on stderr and no traceback?"""
    proc = subprocess.run([sys.executable, "-m", "course_utils.cli", "frob"], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120, check=False)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_lab_loads_notebooks_with_the_kernels_language_info(tmp_path: Path) -> None:
    """Does `course lab`'s contents manager hand Lab a Python notebook with the language_info its kernel
    will report (so that opening it changes nothing), leave the file on disk and other kernels alone?"""
    import asyncio
    import importlib

    import nbformat
    from ipykernel.ipkernel import IPythonKernel

    module_name, class_name = CONTENTS_MANAGER.rsplit(".", 1)
    manager = getattr(importlib.import_module(module_name), class_name)(root_dir=str(tmp_path))
    python, other = nbformat.v4.new_notebook(), nbformat.v4.new_notebook()
    python.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                       "language_info": {"name": "python"}}
    other.metadata = {"kernelspec": {"name": "ir", "display_name": "R", "language": "R"},
                      "language_info": {"name": "R"}}
    nbformat.write(python, tmp_path / "python.ipynb")
    nbformat.write(other, tmp_path / "other.ipynb")
    on_disk = (tmp_path / "python.ipynb").read_bytes()

    loaded = asyncio.run(manager.get("python.ipynb"))["content"]["metadata"]["language_info"]
    assert loaded == IPythonKernel.language_info and loaded["version"] == platform.python_version()
    assert asyncio.run(manager.get("other.ipynb"))["content"]["metadata"]["language_info"] == {"name": "R"}
    assert (tmp_path / "python.ipynb").read_bytes() == on_disk
    assert f"--ServerApp.contents_manager_class={CONTENTS_MANAGER}" in lab_command()
