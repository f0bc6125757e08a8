"""instructor.prose_numbers: the figures a chapter's text quotes must come from its cells."""

from __future__ import annotations

import nbformat
import pytest

from course_utils.instructor.prose_numbers import matches, quoted_figures, uncomputed_numbers


def notebook(markdown: str, code: str = "", output: str = "", quoted: dict | None = None):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(code)
    if output:
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=output)]
    nb.cells = [nbformat.v4.new_markdown_cell(markdown), cell]
    if quoted:
        nb.metadata["course"] = {"quoted_numbers": quoted}
    return nb


@pytest.mark.parametrize(("figure", "computed", "expected"), [
    ("0.88", [-0.8836], True),  # the text rounds, and may drop the sign
    ("0.88", [0.8951], False),
    ("−0.88", [-0.88], True),  # a typographic minus
    ("98%", [0.981], True),  # a percentage is also a fraction
    ("98%", [98.4], True),
    ("98%", [0.974], False),
    ("1,000.5", [1000.5], True),
    ("3.0", [3], True),
])
def test_a_figure_matches_a_number_at_its_own_precision(figure, computed, expected):
    assert matches(figure, computed) is expected


def test_only_results_are_quoted_figures():
    """Are links, arXiv ids, inline code, versions, section ranges and chapter numbers left out, and
    decimals and percentages kept?"""
    text = ("KL is 0.88 nats [paper](https://arxiv.org/abs/1406.2661) arXiv:1701.07875 `x = 0.5` "
            "Python 3.11, §2.3–2.6, chapter 3.1, 2014, 16.7 nats and 98% of them")
    assert [figure for figure, _ in quoted_figures(text)] == ["0.88", "16.7", "98%"]


def test_a_figure_no_cell_printed_is_listed_with_its_place():
    """Is a figure that no output or code holds reported with its cell and words, and one that is printed
    or set in code, or quoted with a reason in the metadata, left out?"""
    nb = notebook("The floor is 0.69 nats; the model reaches 0.91, with σ = 0.1 and 12.5% error.",
                  code="sigma = 0.1", output="floor 0.6931\n")
    [missing, percent] = uncomputed_numbers(nb)
    assert (missing.text, missing.cell) == ("0.91", 0) and "model reaches 0.91" in missing.context
    assert percent.text == "12.5%"
    assert uncomputed_numbers(notebook(nb.cells[0].source, "sigma = 0.1", "floor 0.6931\naccuracy 0.914\n",
                                       quoted={"12.5%": "Goodfellow et al. (2014), table 1"})) == []
