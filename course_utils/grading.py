"""Assertions for the notebooks' graded test cells.

Every helper checks the exact type first (``type(x) is float``, ``type(t) is torch.Tensor``), so
that an object with a rigged ``__eq__`` or a tensor subclass cannot pass, then the value against
an expected value that the *test* computes. Each failure is an ``AssertionError`` whose message
says what was wrong and what to do about it, because that message is what nbgrader shows the
student.

A failing check raises :class:`CheckFailed`, an ``AssertionError`` that IPython (a notebook's
kernel) shows with the message first, then the student's line in the test cell, without this
module's frames (``__tracebackhide__`` alone would still show the frame that raised). A test cell
ends its visible part with :func:`passed`, which prints one line a student can trust.
"""

from __future__ import annotations

import math
import traceback
import types
from collections.abc import Callable, Sequence

import torch

__all__ = [
    "CheckFailed",
    "passed",
    "expect_callable",
    "expect_close",
    "expect_float",
    "expect_raises",
    "expect_tensor",
    "expect_type",
]


class CheckFailed(AssertionError):
    """A check of a graded test cell failed; the message says what was wrong and what to do.

    IPython asks an exception for ``_render_traceback_`` before formatting it: this one puts the
    message first and leaves out the frames of this module, which the student did not write.
    """

    def _render_traceback_(self) -> list[str]:
        try:
            from IPython import get_ipython

            body = get_ipython().InteractiveTB.structured_traceback(
                type(self), self, without_frames_of(__name__, self.__traceback__))
        except Exception:  # no IPython, or it changed: the plain traceback rather than a second error
            body = traceback.format_exception(type(self), self, self.__traceback__)
        return [f"\x1b[1;31m✗ {self}\x1b[0m", *body]


def _type_name(value_or_type) -> str:
    kind = value_or_type if isinstance(value_or_type, type) else type(value_or_type)
    module = kind.__module__
    return kind.__qualname__ if module in ("builtins", None) else f"{module}.{kind.__qualname__}"


def expect_type(value, expected: type | tuple[type, ...], name: str):
    """Assert that ``type(value)`` is exactly ``expected`` (or one of them); return ``value``.

    Subclasses are refused on purpose: ``numpy.float64`` is a ``float`` subclass, and a subclass
    can override ``__eq__`` to pass any comparison.
    """
    __tracebackhide__ = True  # IPython shows the test cell's line and the message, not this frame
    allowed = expected if isinstance(expected, tuple) else (expected,)
    if type(value) not in allowed:
        wanted = " or ".join(_type_name(t) for t in allowed)
        hint = "; convert with float(...) (for a tensor: .item())" if float in allowed else ""
        raise CheckFailed(f"{name} should be a {wanted}, got {_type_name(value)}{hint}")
    return value


def expect_float(value, name: str, *, finite: bool = True) -> float:
    """Assert ``value`` is a built-in ``float`` (not a tensor, not numpy), finite unless told otherwise."""
    __tracebackhide__ = True  # IPython shows the test cell's line and the message, not this frame
    expect_type(value, float, name)
    if finite and not math.isfinite(value):
        raise CheckFailed(f"{name} should be a finite number, got {value}")
    return value


def expect_tensor(
    value,
    name: str,
    *,
    shape: Sequence[int] | None = None,
    dtype: torch.dtype | None = None,
    finite: bool = True,
) -> torch.Tensor:
    """Assert ``value`` is a plain ``torch.Tensor`` with the given shape and dtype, all finite."""
    __tracebackhide__ = True  # IPython shows the test cell's line and the message, not this frame
    if type(value) is not torch.Tensor:
        hint = " (use torch.as_tensor(...) or torch functions, not numpy or lists)"
        raise CheckFailed(f"{name} should be a torch.Tensor, got {_type_name(value)}{hint}")
    if shape is not None and tuple(value.shape) != tuple(shape):
        raise CheckFailed(f"{name} should have shape {tuple(shape)}, got {tuple(value.shape)}")
    if dtype is not None and value.dtype != dtype:
        raise CheckFailed(f"{name} should have dtype {dtype}, got {value.dtype}")
    if finite and value.is_floating_point() and not bool(torch.isfinite(value).all()):
        bad = int((~torch.isfinite(value)).sum())
        raise CheckFailed(f"{name} should be finite everywhere; {bad} entries are inf or nan")
    return value


def expect_close(actual, expected, name: str, *, rtol: float = 1e-5, atol: float = 1e-6) -> None:
    """Assert ``actual`` equals ``expected`` within ``atol + rtol·|expected|`` elementwise.

    ``actual`` must have the type of ``expected`` (float, or a torch.Tensor of the same shape);
    ``expected`` comes from the test, never from the student's namespace.
    """
    __tracebackhide__ = True  # IPython shows the test cell's line and the message, not this frame
    if isinstance(expected, torch.Tensor):
        expect_tensor(actual, name, shape=expected.shape, finite=False)
        diff = (actual.detach().double() - expected.detach().double()).abs()
        allowed = atol + rtol * expected.detach().double().abs()
        both_inf = torch.isinf(actual.detach().double()) & (actual.detach().double() == expected.detach().double())
        # an infinite expected value makes `allowed` infinite too: only an equal inf is close to it
        wrong = ~(((diff <= allowed) & torch.isfinite(expected.detach().double())) | both_inf)
        if bool(wrong.any()):
            index = tuple(int(i) for i in wrong.nonzero()[0])
            where = f"[{', '.join(map(str, index))}]" if index else ""
            raise CheckFailed(f"{name}{where} should be {expected[index].item():.10g}, got "
                                 f"{actual[index].item():.6g} ({int(wrong.sum())} of {wrong.numel()} entries are off)")
        return
    expect_float(actual, name, finite=False)
    expected = float(expected)
    if actual == expected:  # inf == inf counts as close
        return
    if math.isfinite(expected) and abs(actual - expected) <= atol + rtol * abs(expected):
        return
    # enough digits that a near miss does not read "should be 4.24926, got 4.24926"
    raise CheckFailed(f"{name} should be {expected:.10g}, got {actual:.10g} (off by {abs(actual - expected):.3g}; "
                         f"allowed {atol + rtol * abs(expected):.3g})")


def expect_callable(value, name: str) -> Callable:
    """Assert ``value`` is a function the student defined (or any callable)."""
    __tracebackhide__ = True  # IPython shows the test cell's line and the message, not this frame
    if not callable(value):
        raise CheckFailed(f"{name} should be a function, got {_type_name(value)}")
    return value


def expect_raises(exception: type[BaseException], call: Callable[[], object], name: str, why: str) -> None:
    """Assert that ``call()`` raises ``exception`` (e.g. ``ValueError`` on bad input).

    ``why`` completes the sentence "it should raise ... when ..." in the message. It cannot tell a
    deliberate ``raise ValueError`` from one raised by accident (``math.log(0)``): the check is on
    behaviour, so both pass.
    """
    __tracebackhide__ = True  # IPython shows the test cell's line and the message, not this frame
    try:
        call()
    except exception:
        return
    except Exception as err:  # a different error is a different mistake: say which
        raise CheckFailed(f"{name} should raise {exception.__name__} when {why}, "
                             f"but raised {type(err).__name__}: {err}") from None
    raise CheckFailed(f"{name} should raise {exception.__name__} when {why}, but returned normally")


def passed(exercise: str) -> None:
    """Print that ``exercise`` passed the visible tests: the last line of a test cell's visible part.

    The hidden tests, which ``course grade`` runs after it, check the same requirements on other values.
    """
    print(f"✓ {exercise}: the visible tests pass (the hidden tests check the same requirements when graded)")


def without_frames_of(module_name: str, tb: types.TracebackType | None) -> types.TracebackType | None:
    """The traceback ``tb`` with the frames of the module ``module_name`` left out."""
    frames = []
    while tb is not None:
        if tb.tb_frame.f_globals.get("__name__") != module_name:
            frames.append(tb)
        tb = tb.tb_next
    kept = None
    for frame in reversed(frames):  # rebuild the chain from its end
        kept = types.TracebackType(kept, frame.tb_frame, frame.tb_lasti, frame.tb_lineno)
    return kept
