"""Feedback that keeps hidden tests hidden.

nbgrader's ``GenerateFeedback`` renders the autograded notebook, whose test cells hold the instructor's
tests restored from the gradebook, hidden ones included (nbgrader issues 917 and 1363): handed back, the
feedback would publish every hidden test. :class:`HideHiddenTests` runs last in ``GenerateFeedback``'s
preprocessors and, in each cell with a hidden region:

- replaces the region (``### BEGIN HIDDEN TESTS`` to ``### END HIDDEN TESTS``) by one comment line saying that
  hidden tests ran there;
- cuts each error's traceback (which quotes the failing source lines) down to ``ename: evalue``: the student's
  failure message, which says what to fix, without the code that found it.

``course grade --full-feedback`` leaves nbgrader's feedback as it is.
"""

from __future__ import annotations

from nbconvert.preprocessors import Preprocessor
from traitlets import Bool, Unicode

HIDDEN_NOTE = "# [hidden tests ran here; their code is not shown]"


def hide_hidden_region(source: str, begin: str = "BEGIN HIDDEN TESTS", end: str = "END HIDDEN TESTS") -> str:
    """``source`` with each hidden region (the delimiter lines included) replaced by :data:`HIDDEN_NOTE`.

    A region left open runs to the end of the cell (what nbgrader's ClearHiddenTests removes too).
    """
    kept, hiding = [], False
    for line in source.splitlines():
        if not hiding and begin in line:
            hiding = True
            kept.append(line[: len(line) - len(line.lstrip())] + HIDDEN_NOTE)
        elif hiding:
            hiding = end not in line
        else:
            kept.append(line)
    return "\n".join(kept)


class HideHiddenTests(Preprocessor):
    """Removes hidden tests, and the tracebacks that could quote them, from the cells that hold them."""

    enabled = Bool(True, help="On wherever it is registered (nbconvert's Preprocessor default is off)").tag(config=True)
    begin_test_delimeter = Unicode("BEGIN HIDDEN TESTS", help="The line marking the start of hidden tests "
                                   "(nbgrader's ClearHiddenTests spelling)").tag(config=True)
    end_test_delimeter = Unicode("END HIDDEN TESTS", help="The line marking their end").tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or self.begin_test_delimeter not in cell.source:
            return cell, resources
        cell.source = hide_hidden_region(cell.source, self.begin_test_delimeter, self.end_test_delimeter)
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                output["traceback"] = [f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"]
        return cell, resources
