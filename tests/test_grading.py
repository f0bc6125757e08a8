"""course_utils.grading: the assertions behind the notebooks' graded cells."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from course_utils.grading import (
    expect_callable,
    expect_close,
    expect_float,
    expect_raises,
    expect_tensor,
    expect_type,
)


class AlwaysEqualFloat(float):
    """A float whose == is rigged to pass any comparison."""

    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = float.__hash__


class TensorSubclass(torch.Tensor):
    """A tensor subclass (could override comparisons the same way)."""


# --------------------------------------------------------------------------- expect_type
def test_expect_type_passes_and_returns_value():
    """Does expect_type accept the exact type (or one of a tuple) and return the value unchanged?"""
    value = [1, 2]
    assert expect_type(value, list, "xs") is value
    assert expect_type(3, (float, int), "n") == 3


def test_expect_type_refuses_subclasses_with_names():
    """Is bool refused where int is expected, with a message naming the variable and both types?"""
    with pytest.raises(AssertionError, match="^flag should be a int, got bool$"):
        expect_type(True, int, "flag")


def test_expect_type_float_hint():
    """When a float is expected, does the message say how to convert (float(...), .item())?"""
    with pytest.raises(
        AssertionError,
        match=r"p should be a float, got numpy\.float64; convert with float\(\.\.\.\) "
        r"\(for a tensor: \.item\(\)\)",
    ):
        expect_type(np.float64(0.5), float, "p")


def test_expect_type_lists_every_allowed_type():
    """Does the message list all allowed types joined by 'or'?"""
    with pytest.raises(AssertionError, match="x should be a float or int, got str"):
        expect_type("1", (float, int), "x")


# --------------------------------------------------------------------------- expect_float
def test_expect_float_passes_builtin_float():
    """Does a built-in float pass and come back unchanged?"""
    assert expect_float(0.25, "p") == 0.25


@pytest.mark.parametrize(
    "bad, shown",
    [
        (np.float64(0.5), "numpy.float64"),
        (np.float32(0.5), "numpy.float32"),
        (torch.tensor(0.5), "torch.Tensor"),
        (1, "int"),
        ("0.5", "str"),
        (AlwaysEqualFloat(0.5), "AlwaysEqualFloat"),
    ],
)
def test_expect_float_refuses_non_floats(bad, shown):
    """Are numpy scalars, tensors, ints, strings and a rigged float subclass refused, naming their type?"""
    with pytest.raises(AssertionError, match=f"p should be a float, got .*{shown}.*convert with float"):
        expect_float(bad, "p")


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan])
def test_expect_float_refuses_non_finite(bad):
    """Is inf or nan refused with 'should be a finite number', unless finite=False?"""
    with pytest.raises(AssertionError, match="p should be a finite number"):
        expect_float(bad, "p")
    assert expect_float(bad, "p", finite=False) is bad


# --------------------------------------------------------------------------- expect_tensor
def test_expect_tensor_passes_matching_tensor():
    """Does a plain tensor with the right shape and dtype pass and come back unchanged?"""
    t = torch.zeros(2, 3)
    assert expect_tensor(t, "z", shape=(2, 3), dtype=torch.float32) is t


@pytest.mark.parametrize(
    "bad, shown",
    [
        (np.zeros(3), "numpy.ndarray"),
        ([0.0, 0.0], "list"),
        (torch.zeros(3).as_subclass(TensorSubclass), "TensorSubclass"),
        (torch.nn.Parameter(torch.zeros(3)), "Parameter"),
    ],
)
def test_expect_tensor_refuses_non_tensors_and_subclasses(bad, shown):
    """Are numpy arrays, lists and torch.Tensor subclasses refused, with a hint to use torch.as_tensor?"""
    with pytest.raises(AssertionError, match=f"z should be a torch.Tensor, got .*{shown}.*torch.as_tensor"):
        expect_tensor(bad, "z")


def test_expect_tensor_shape_message():
    """Does a wrong shape give 'should have shape (2, 3), got (3, 2)'?"""
    with pytest.raises(AssertionError, match=r"^z should have shape \(2, 3\), got \(3, 2\)$"):
        expect_tensor(torch.zeros(3, 2), "z", shape=[2, 3])


def test_expect_tensor_dtype_message():
    """Does a wrong dtype give 'should have dtype torch.float32, got torch.float64'?"""
    with pytest.raises(AssertionError, match="^z should have dtype torch.float32, got torch.float64$"):
        expect_tensor(torch.zeros(3, dtype=torch.float64), "z", dtype=torch.float32)


def test_expect_tensor_non_finite_message_counts_entries():
    """Does a tensor with one inf and one nan report that 2 entries are inf or nan?"""
    t = torch.tensor([1.0, math.inf, math.nan, 0.0])
    with pytest.raises(AssertionError, match="z should be finite everywhere; 2 entries are inf or nan"):
        expect_tensor(t, "z")
    assert expect_tensor(t, "z", finite=False) is t


def test_expect_tensor_integer_tensors_skip_the_finite_check():
    """Does an int64 tensor pass (it cannot hold inf or nan)?"""
    expect_tensor(torch.arange(3), "idx", shape=(3,), dtype=torch.int64)


# --------------------------------------------------------------------------- expect_close
def test_expect_close_floats_within_tolerance():
    """Does a float within atol + rtol·|expected| pass, and one just outside fail with both values shown?"""
    expect_close(1.0 + 5e-6, 1.0, "p")
    with pytest.raises(AssertionError, match=r"^p should be 1, got 1.0001 \(off by 0.0001; allowed 1.1e-05\)$"):
        expect_close(1.0001, 1.0, "p")
    with pytest.raises(AssertionError, match="should be 4.249260001, got 4.249260002"):  # a near miss stays legible
        expect_close(4.249260002, 4.249260001, "p", rtol=0, atol=1e-12)
    expect_close(1.05, 1.0, "p", rtol=0.1)


def test_expect_close_accepts_numpy_expected_but_not_numpy_actual():
    """Is the expected value allowed to be numpy (the test computes it) while the answer must be a float?"""
    expect_close(0.5, np.float64(0.5), "p")
    with pytest.raises(AssertionError, match="p should be a float, got numpy.float64"):
        expect_close(np.float64(0.5), 0.5, "p")


def test_expect_close_refuses_rigged_float_subclass():
    """Is a float subclass whose == is always True refused instead of passing the comparison?"""
    with pytest.raises(AssertionError, match="should be a float, got .*AlwaysEqualFloat"):
        expect_close(AlwaysEqualFloat(123.0), 0.5, "p")


def test_expect_close_inf_equals_inf():
    """Does inf count as close to inf (and -inf to -inf), for floats and tensors?"""
    expect_close(math.inf, math.inf, "x")
    expect_close(-math.inf, -math.inf, "x")
    expect_close(torch.tensor([1.0, math.inf, -math.inf]), torch.tensor([1.0, math.inf, -math.inf]), "x")


@pytest.mark.parametrize("actual", [1.0, 1e300, -math.inf, math.nan])
def test_expect_close_finite_is_not_close_to_inf(actual):
    """Is a finite value, -inf or nan refused when +inf is expected (infinite tolerance must not pass it)?"""
    with pytest.raises(AssertionError, match="x should be inf"):
        expect_close(actual, math.inf, "x")
    with pytest.raises(AssertionError, match=r"x\[1\] should be inf"):
        expect_close(torch.tensor([0.0, actual], dtype=torch.float64), torch.tensor([0.0, math.inf]), "x")


def test_expect_close_nan_is_never_close():
    """Is nan refused even where nan is expected and where a number is expected?"""
    with pytest.raises(AssertionError):
        expect_close(math.nan, 0.0, "x")
    with pytest.raises(AssertionError, match=r"x\[0\] should be 0"):
        expect_close(torch.tensor([math.nan]), torch.tensor([0.0]), "x")


def test_expect_close_tensor_reports_first_wrong_index():
    """On tensors, does the message give the first wrong index, expected and actual values, and the count?"""
    expected = torch.arange(12.0).reshape(3, 4)
    actual = expected.clone()
    actual[1, 2] = 99.0
    actual[2, 0] = -1.0
    with pytest.raises(AssertionError, match=r"^y\[1, 2\] should be 6, got 99 \(2 of 12 entries are off\)$"):
        expect_close(actual, expected, "y")


def test_expect_close_tensor_passes_within_tolerance_and_other_dtypes():
    """Does a float64 answer within tolerance of a float32 expectation pass (values, not dtypes, count)?"""
    expected = torch.tensor([1.0, 2.0, 3.0])
    expect_close(expected.double() * (1 + 1e-7), expected, "y")


def test_expect_close_zero_dim_tensor():
    """Does a 0-d tensor compare without an index in the message?"""
    expect_close(torch.tensor(2.0), torch.tensor(2.0), "s")
    with pytest.raises(AssertionError, match=r"^s should be 2, got 3 \(1 of 1 entries are off\)$"):
        expect_close(torch.tensor(3.0), torch.tensor(2.0), "s")


def test_expect_close_tensor_type_and_shape_checked():
    """Are a numpy answer, a tensor subclass and a wrong shape refused when a tensor is expected?"""
    expected = torch.zeros(3)
    with pytest.raises(AssertionError, match="y should be a torch.Tensor, got numpy.ndarray"):
        expect_close(np.zeros(3), expected, "y")
    with pytest.raises(AssertionError, match="y should be a torch.Tensor, got .*TensorSubclass"):
        expect_close(torch.zeros(3).as_subclass(TensorSubclass), expected, "y")
    with pytest.raises(AssertionError, match=r"y should have shape \(3,\), got \(1, 3\)"):
        expect_close(torch.zeros(1, 3), expected, "y")


def test_expect_close_tensor_with_grad():
    """Does a tensor that requires grad compare without the student having to detach it?"""
    x = torch.ones(2, requires_grad=True)
    expect_close(x * 2, torch.full((2,), 2.0), "y")


# --------------------------------------------------------------------------- expect_callable
def test_expect_callable():
    """Does a function pass and a non-callable fail with 'should be a function, got int'?"""
    assert expect_callable(len, "f") is len
    with pytest.raises(AssertionError, match="^f should be a function, got int$"):
        expect_callable(3, "f")


# --------------------------------------------------------------------------- expect_raises
def test_expect_raises_passes_on_the_right_exception():
    """Does expect_raises pass when the call raises the expected exception or a subclass of it?"""
    expect_raises(ValueError, lambda: int("x"), "int", "given letters")
    expect_raises(LookupError, lambda: {}["k"], "lookup", "the key is missing")


def test_expect_raises_reports_a_normal_return():
    """When nothing is raised, does the message say it returned normally?"""
    with pytest.raises(AssertionError, match="^f should raise ValueError when n < 0, but returned normally$"):
        expect_raises(ValueError, lambda: None, "f", "n < 0")


def test_expect_raises_reports_the_wrong_exception():
    """When a different exception is raised, does the message name it and its text?"""

    def call():
        raise TypeError("bad type")

    with pytest.raises(
        AssertionError, match="^f should raise ValueError when n < 0, but raised TypeError: bad type$"
    ):
        expect_raises(ValueError, call, "f", "n < 0")


def test_passed_prints_one_line_naming_the_exercise(capsys) -> None:
    """Does passed("Exercise 2") print one line a student reads as 'the visible tests pass'?"""
    from course_utils.grading import passed

    passed("Exercise 2")
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith("✓ Exercise 2: the visible tests pass")


def run_in_ipython(code: str) -> str:
    """What IPython prints for ``code`` (a cell), with its traceback colours stripped."""
    import io
    import re
    from contextlib import redirect_stdout

    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        shell.run_cell(code)
    return re.sub(r"\x1b\[[0-9;]*m", "", buffer.getvalue())


def test_a_failing_check_shows_the_message_first_and_no_frame_of_the_checks() -> None:
    """Does a failing check (expect_close -> expect_float -> expect_type) show "✗ <message>" first, then the
    test cell's line, and none of course_utils.grading's frames (issue 10, item 17)?"""
    shown = run_in_ipython("import course_utils.grading as g\ng.expect_close('1.0', 2.0, 'f(0)')")
    lines = shown.strip().splitlines()
    message = "f(0) should be a float, got str; convert with float(...) (for a tensor: .item())"
    assert lines[0] == f"✗ {message}", shown
    assert "g.expect_close('1.0', 2.0, 'f(0)')" in shown  # the student's line
    assert "grading.py" not in shown and "expect_type" not in shown and "skipping hidden" not in shown, shown
    assert lines[-1] == f"CheckFailed: {message}"


def test_without_frames_of_keeps_the_order_of_the_other_frames() -> None:
    """Does without_frames_of drop exactly the named module's frames and keep the rest in order?"""
    import sys

    from course_utils.grading import expect_float, without_frames_of

    def outer():
        expect_float("x", "value")

    try:
        outer()
    except AssertionError:
        tb = sys.exc_info()[2]
    names = []
    kept = without_frames_of("course_utils.grading", tb)
    while kept is not None:
        names.append(kept.tb_frame.f_code.co_name)
        kept = kept.tb_next
    assert names == ["test_without_frames_of_keeps_the_order_of_the_other_frames", "outer"]


def test_a_busy_machine_gets_the_same_iopub_wait_in_validate_check_and_grade(tmp_path):
    """Issue 21: nbclient's 4 s wait for a finished cell's output failed honest notebooks at load 4. Does the
    course's wait reach the Validate button / `course check` (nbgrader_config.py through the validator's config)
    and `course grade` (the sandbox's request to its worker)?"""
    from pathlib import Path

    import nbformat

    from course_utils.instructor import validation
    from course_utils.instructor.nbgrader_run import IOPUB_TIMEOUT, load_nbgrader_config
    from course_utils.instructor.sandbox import backend

    root = Path(__file__).resolve().parents[1]
    assert IOPUB_TIMEOUT >= 30
    assert load_nbgrader_config(root).Execute.iopub_timeout == IOPUB_TIMEOUT  # the course's file says the same
    assert load_nbgrader_config(None).Execute.iopub_timeout == IOPUB_TIMEOUT
    chapter = next((root / "chapters").glob("*/*.ipynb"))
    assert validation._validator_config(chapter, False, None).Execute.iopub_timeout == IOPUB_TIMEOUT
    request = backend._request(nbformat.v4.new_notebook(), backend.Limits(), 0.0)
    assert request["iopub_timeout"] == IOPUB_TIMEOUT
