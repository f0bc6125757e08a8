"""Numbers in a chapter's prose that none of its cells computed: where a text and its evidence drift apart.

The course's rule (CONTRIBUTING.md): every figure the text quotes is printed by a cell of the chapter, or
is a constant its code sets. :func:`uncomputed_numbers` reads an *executed* notebook and lists the
decimals and percentages of its markdown that appear neither in any code cell's output nor in any code
cell's source, at the precision the text gives them (the text's 0.88 matches an output's -0.8836, its 98%
matches 0.981 or 98.1%).

A number that is not a result (a year, a version, an arXiv id) is not a decimal or is skipped by
:data:`NOT_RESULTS`; one that the chapter cannot print (a figure from a paper) goes in the notebook's
metadata, ``course.quoted_numbers`` (figure -> reason), where a reviewer sees it.

How much it catches: a figure that drifted to a random value still matches some number of a chapter
by chance about 10-17% of the time at two decimals, 1-2% at three, and half the time at one decimal
(measured on chapters 00-04), so it is a net, not a proof.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# A decimal or integer, with thousands separators and either minus sign; a trailing % makes a percentage.
NUMBER = re.compile(r"(?<![\w.])[-−]?\d{1,3}(?:,\d{3})+(?:\.\d+)?%?|(?<![\w.])[-−]?\d+(?:\.\d+)?%?")
# Spans of markdown whose numbers are not results: links and URLs, arXiv ids, inline code, version
# strings (v1.2, 3.11), section numbers (§4.3.2), equation and figure references.
NOT_RESULTS = re.compile(
    r"\]\([^)]*\)|https?://\S+|arXiv:\s*\S+|`[^`]*`|\bv?\d+\.\d+\.\d+\S*|§\s*[\d.]+(?:\s*[-–]\s*[\d.]+)?|\b(?:Python|torch|PyTorch|"
    r"version|nbgrader|ipywidgets|JupyterLab|matplotlib)\s+\d+(?:\.\d+)*|\b(?:[Ee]q\.|[Ff]ig\.|[Ss]ection|"
    r"[Cc]hapter|[Tt]able|[Aa]lgorithm|[Tt]heorem|[Ll]emma|[Ee]xercise|[Pp]art|[Ss]tep|ch\.|pp?\.)\s*\d+(?:\.\d+)*",
)


@dataclass(frozen=True)
class ProseNumber:
    """A figure quoted in a markdown cell: its text, the cell (0-based index) and the words around it."""

    text: str
    cell: int
    context: str

    def __str__(self) -> str:
        return f"cell {self.cell}: {self.text} in \"…{self.context}…\""


def _value(text: str) -> float:
    return float(text.replace("−", "-").replace(",", "").rstrip("%"))


def _decimals(text: str) -> int:
    digits = text.rstrip("%").replace(",", "")
    return len(digits.split(".", 1)[1]) if "." in digits else 0


def quoted_figures(markdown: str) -> list[tuple[str, int]]:
    """The decimals and percentages in ``markdown`` (text, offset), skipping :data:`NOT_RESULTS`."""
    cleaned = NOT_RESULTS.sub(lambda match: " " * len(match.group()), markdown)
    return [(match.group(), match.start()) for match in NUMBER.finditer(cleaned)
            if "." in match.group() or match.group().endswith("%")]


def numbers_in(texts: Iterable[str]) -> list[float]:
    """Every number written in ``texts`` (outputs, code), as floats; scientific notation included."""
    found = []
    for text in texts:
        for match in re.finditer(r"[-−]?\d[\d,]*(?:\.\d+)?(?:[eE][-+]?\d+)?", text):
            try:
                found.append(float(match.group().replace("−", "-").replace(",", "")))
            except ValueError:
                continue
    return found


def matches(figure: str, computed: Iterable[float]) -> bool:
    """Does some computed number, rounded to the figure's precision, equal it (up to sign; a percentage
    also as a fraction)?"""
    target, places = abs(_value(figure)), _decimals(figure)
    scales = (1.0, 100.0) if figure.endswith("%") else (1.0,)
    tolerance = 0.5 * 10.0 ** -places + 1e-9
    return any(math.isfinite(x) and abs(abs(x) * scale - target) <= tolerance for x in computed for scale in scales)


def _output_texts(cell: Mapping) -> Iterable[str]:
    for output in cell.get("outputs", []):
        if "text" in output:
            yield output["text"] if isinstance(output["text"], str) else "".join(output["text"])
        for mime, data in output.get("data", {}).items():
            if mime.startswith("text/"):
                yield data if isinstance(data, str) else "".join(data)
        if "traceback" in output:
            yield "\n".join(output["traceback"])


def uncomputed_numbers(notebook: Mapping) -> list[ProseNumber]:
    """The figures of ``notebook``'s markdown that no code cell printed or set (see the module's doc).

    Parameters
    ----------
    notebook : mapping
        An executed notebook (``nbformat.NotebookNode`` or its JSON), outputs included.

    Returns
    -------
    list of ProseNumber
        In notebook order; empty when the prose and the evidence agree.
    """
    cells = notebook["cells"]
    code = [cell for cell in cells if cell["cell_type"] == "code"]
    computed = numbers_in(text for cell in code for text in (*_output_texts(cell), cell["source"]))
    allowed = set(notebook.get("metadata", {}).get("course", {}).get("quoted_numbers", {}))
    missing = []
    for index, cell in enumerate(cells):
        if cell["cell_type"] != "markdown":
            continue
        source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        for figure, offset in quoted_figures(source):
            if figure not in allowed and not matches(figure, computed):
                context = " ".join(source[max(0, offset - 40):offset + len(figure) + 40].split())
                missing.append(ProseNumber(figure, index, context))
    return missing
