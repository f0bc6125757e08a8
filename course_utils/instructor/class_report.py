"""The class summary ``OUT/report.html`` of ``course grade``, and the "flags for review" scan.

The report is one self-contained HTML file (figures embedded as PNG): each chapter's submissions
and mean score, a histogram of the scores of every exercise, the exercises most students fail,
the submissions that could not be graded and why, the files that could not be mapped to a student,
and the submissions flagged for review.

Flags are a static scan of the code a student wrote (answer cells, and cells they added) for words
that graded tests cannot defend against from inside the same kernel: a student who patches
``course_utils.grading``, IPython's error display (``get_ipython``), ``sys.modules``, ``builtins``
or an object's ``__class__`` can make a failing test look like a pass. A flag never changes a
score; it lists the submission for an instructor to read.
"""

from __future__ import annotations

import base64
import html
import io
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import quote

import nbformat

from course_utils._io import atomic_write_text

# (pattern, why it is worth a look); matched in the code a student wrote.
FLAG_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"course_utils\.grading|from\s+course_utils\s+import\s+grading", "touches the grading helpers"),
    (r"get_ipython|\bIPython\b", "reaches into the kernel (error display, hooks, history)"),
    (r"sys\.modules", "replaces modules the tests import"),
    (r"\bbuiltins\b|__builtins__", "changes built-in functions (type, isinstance, float, ...)"),
    (r"__class__", "changes an object's class (type checks)"),
    (r"gc\.get_objects|\bgc\b\s*\.\s*get_referrers", "walks every object in memory"),
    (r"\binspect\b", "reads the calling test's frame or source"),
    (r"sys\._getframe|f_back|f_globals|f_locals", "reads or changes the calling test's variables"),
    (r"sys\.settrace|sys\.setprofile|sys\.excepthook", "intercepts execution or exceptions"),
    (r"\bctypes\b", "writes raw memory"),
)
_COMPILED = tuple((re.compile(p), p, why) for p, why in FLAG_PATTERNS)


def _code_sources(path: Path) -> set[str]:
    if not path.is_file():
        return set()
    nb = nbformat.read(path, as_version=4)
    return {c.source.strip() for c in nb.cells if c.cell_type == "code"}


def scan_flags(nb: nbformat.NotebookNode, released: Path | None = None) -> list[dict]:
    """The cells of a submitted notebook whose code mentions a :data:`FLAG_PATTERNS` word.

    Only code the student wrote is scanned: answer (solution) cells, and cells that are not in the
    released notebook. Test cells are skipped (grading restores them anyway).

    Returns
    -------
    list of dict
        ``{"cell": index, "grade_id": ... or "", "pattern": the word found, "why": ..., "line": ...}``.
    """
    shipped = _code_sources(released) if released is not None else set()
    flags = []
    for index, cell in enumerate(nb.cells):
        if cell.get("cell_type") != "code":
            continue
        meta = cell.get("metadata", {}).get("nbgrader", {})
        meta = meta if isinstance(meta, dict) else {}
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        if meta.get("grade") and not meta.get("solution"):
            continue
        if not meta.get("solution") and source.strip() in shipped:
            continue
        for regex, _pattern, why in _COMPILED:
            for line in source.splitlines():
                if regex.search(line):
                    flags.append({"cell": index, "grade_id": meta.get("grade_id", ""), "pattern": regex.search(
                        line).group(0), "why": why, "line": line.strip()[:160]})
                    break
    return flags


def edited_test_cells(nb: nbformat.NotebookNode, released: Path) -> list[dict]:
    """The released test cells that the submission changed or deleted, as flags (:func:`scan_flags`' form).

    Grading restores every test cell from the gradebook, so the score is safe either way; a flag still tells
    the instructor that the student rewrote (or removed) a test, e.g. replaced it with ``pass``.
    """
    if not released.is_file():
        return []
    shipped = {c.metadata.get("nbgrader", {}).get("grade_id"): (i, c.source.strip())
               for i, c in enumerate(nbformat.read(released, as_version=4).cells)
               if c.metadata.get("nbgrader", {}).get("grade") and not c.metadata.get("nbgrader", {}).get("solution")}
    submitted = {}
    for index, cell in enumerate(nb.cells):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if isinstance(meta, dict) and meta.get("grade_id") in shipped:
            source = cell.get("source", "")
            submitted[meta["grade_id"]] = (index, ("".join(source) if isinstance(source, list) else source).strip())
    flags = []
    for grade_id, (index, source) in shipped.items():
        if grade_id not in submitted:
            flags.append({"cell": index, "grade_id": grade_id, "pattern": "deleted test cell",
                          "why": "the student's notebook has no such test cell (restored before grading)", "line": ""})
        elif submitted[grade_id][1] != source:
            first = (submitted[grade_id][1].splitlines() or [""])[0]
            flags.append({"cell": submitted[grade_id][0], "grade_id": grade_id, "pattern": "edited test cell",
                          "why": "the student changed this test cell (the release's was restored before grading)",
                          "line": first[:160]})
    return flags


# ----------------------------------------------------------------------------------------------
# figures


def _figure_png(chapter: str, scores: Mapping[str, Sequence[float]], points: Mapping[str, float]) -> str:
    """One row of histograms (one per exercise) as a base64 PNG."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    names = list(scores)
    fig = Figure(figsize=(3.2 * max(1, len(names)), 2.6), layout="constrained")
    axes = fig.subplots(1, max(1, len(names)), squeeze=False)[0]
    for ax, name in zip(axes, names, strict=False):
        top = points.get(name, max(scores[name], default=1.0)) or 1.0
        bins = [i * top / 10 - top / 20 for i in range(12)]
        ax.hist(scores[name], bins=bins, color="#4477aa", edgecolor="white")
        ax.set_title(f"{name}\n(out of {top:g})", fontsize=9)
        ax.set_xlabel("points")
        ax.set_xlim(-top / 20, top * 1.05)
    from matplotlib.ticker import MaxNLocator

    for ax in axes:
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts of submissions
    axes[0].set_ylabel("submissions")
    fig.suptitle(chapter, fontsize=10)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


# ----------------------------------------------------------------------------------------------
# the page


def hardest_exercises(scores: Mapping[str, Mapping[str, Sequence[float]]],
                      points: Mapping[str, Mapping[str, float]]) -> list[tuple[str, str, float, int]]:
    """(chapter, grade_id, fraction of submissions without full points, count), worst first."""
    out = []
    for chapter, per_cell in scores.items():
        for grade_id, values in per_cell.items():
            full = points.get(chapter, {}).get(grade_id, 0.0)
            failed = sum(v < full for v in values)
            out.append((chapter, grade_id, failed / len(values) if values else 0.0, len(values)))
    return sorted(out, key=lambda t: (-t[2], t[0], t[1]))


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_PAGE_HEAD = ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>Grading report</title><style>"
              "body{font-family:sans-serif;max-width:70em;margin:2em auto;padding:0 1em}"
              "table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.2em .6em;"
              "text-align:left}th{background:#f3f3f3}img{max-width:100%}</style></head><body>")


def render_report(rows: Sequence[Mapping[str, str]], scores: Mapping[str, Mapping[str, Sequence[float]]],
                  points: Mapping[str, Mapping[str, float]], results: Mapping[tuple[str, str], dict],
                  unmapped: Sequence, isolation: str = "",
                  per_student: Mapping[tuple[str, str], Mapping[str, float]] | None = None,
                  feedback: Mapping[tuple[str, str], str] | None = None) -> str:
    """The report as an HTML string (see the module docstring); ``isolation`` describes this run's sandbox;
    ``per_student`` maps (student, chapter) to each test cell's score and ``feedback`` to its feedback file's
    path relative to the report, for the students' table."""
    parts = [_PAGE_HEAD, "<h1>Grading report</h1>", *_isolation(results, isolation)]
    parts.append("<h2 id='summary'>Summary</h2>")
    parts.append(_table(("chapter", "submitted", "missing", "mean score", "max score", "not ok"), _summary(rows)))

    parts.append("<h2 id='hardest'>Exercises most students fail</h2>")
    hard = [(c, g, f"{frac:.0%}", n) for c, g, frac, n in hardest_exercises(scores, points)]
    parts.append(_table(("chapter", "exercise (grade_id)", "without full points", "submissions"), hard))

    parts += _students_section(rows, per_student or {}, points, feedback or {})

    parts.append("<h2 id='distributions'>Score distribution of each exercise</h2>")
    for chapter in sorted(scores):
        png = _figure_png(chapter, scores[chapter], points.get(chapter, {}))
        parts.append(f"<p><img alt='score histograms of {html.escape(chapter)}' "
                     f"src='data:image/png;base64,{png}'></p>")

    trouble = [(r["student_id"], r["assignment"], r["status"], r["note"]) for r in rows
               if r["status"] not in ("ok", "missing")]
    parts.append("<h2 id='problems'>Submissions not graded normally</h2>")
    parts.append(_table(("student", "chapter", "status", "why"), trouble) if trouble else "<p>None.</p>")

    parts.append("<h2 id='unmapped'>Files not mapped to a student and chapter</h2>")
    parts.append(_table(("file", "why"), [(str(u.path), u.reason) for u in unmapped]) if unmapped
                 else "<p>None.</p>")
    parts += _flags_section(results)
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _isolation(results: Mapping[tuple[str, str], dict], isolation: str) -> list[str]:
    """What sandbox ran the notebooks: this run's, and the others when earlier runs used others."""
    parts = []
    if isolation:
        parts.append(f"<p><b>Isolation:</b> {html.escape(isolation)}</p>")
    backends = Counter(r["backend"] for r in results.values() if r.get("backend"))
    if len(backends) > 1 or any(name.startswith("none") for name in backends):
        used = ", ".join(f"{name}: {n} submission(s)" for name, n in sorted(backends.items()))
        parts.append(f"<p><b>Executed with:</b> {html.escape(used)} (this workspace was graded by several runs)</p>")
    return parts


def _summary(rows: Sequence[Mapping[str, str]]) -> list[tuple]:
    """Per chapter: submitted, missing, mean score, max score, and how many did not run normally."""
    summary = []
    for chapter in sorted({r["assignment"] for r in rows}):
        mine = [r for r in rows if r["assignment"] == chapter]
        submitted = [r for r in mine if r["status"] != "missing"]
        values = [float(r["score"]) for r in submitted]
        mean = sum(values) / len(values) if values else 0.0
        summary.append((chapter, len(submitted), len(mine) - len(submitted), f"{mean:.2f}",
                        mine[0]["max_score"] if mine else "",
                        sum(r["status"] not in ("ok", "missing") for r in submitted)))
    return summary


def _flags_section(results: Mapping[tuple[str, str], dict]) -> list[str]:
    flagged = [(s, c, f["grade_id"] or f"cell {f['cell']}", f["pattern"], f["why"], f["line"])
               for (s, c), result in sorted(results.items()) for f in result.get("flags", [])]
    return ["<h2 id='flags'>Flags for review (not part of the score)</h2>",
            "<p>Answer cells that mention something a test inside the same kernel cannot defend against, and test "
            "cells the student edited or deleted (restored before grading, so the score is the tests'). Most are "
            "innocent; read the cell before deciding.</p>",
            _table(("student", "chapter", "cell", "word", "why it matters", "line"), flagged) if flagged
            else "<p>None.</p>"]


def write_report(path: Path, rows, scores, points, results, unmapped, isolation: str = "",
                 per_student=None, feedback=None) -> Path:
    """Write :func:`render_report` to ``path`` atomically; return ``path``."""
    atomic_write_text(path, render_report(rows, scores, points, results, unmapped, isolation, per_student,
                                          feedback))
    return path


# A click on a column's header sorts the students' table by it (numbers as numbers), again to reverse.
_SORT_SCRIPT = """<script>
document.querySelectorAll('table.sortable th').forEach((th, column) => th.addEventListener('click', () => {
  const body = th.closest('table').tBodies[0], rows = Array.from(body.rows);
  const key = r => { const t = r.cells[column].innerText; return isNaN(parseFloat(t)) ? t : parseFloat(t); };
  const up = th.dataset.up !== '1'; th.dataset.up = up ? '1' : '0';
  rows.sort((a, b) => (key(a) > key(b) ? 1 : key(a) < key(b) ? -1 : 0) * (up ? 1 : -1));
  rows.forEach(r => body.appendChild(r));
}));
</script>"""


def _students_section(rows: Sequence[Mapping[str, str]], per_student: Mapping[tuple[str, str], Mapping[str, float]],
                      points: Mapping[str, Mapping[str, float]], feedback: Mapping[tuple[str, str], str]) -> list[str]:
    """One row per student and chapter: score, status, the exercises without full points (by grade_id), and a
    link to its feedback file (``feedback``: (student, chapter) -> path relative to the report) when it has one;
    a click on a header sorts by that column."""
    header = ("student", "chapter", "score", "max", "status", "exercises without full points", "feedback")
    body = []
    for row in sorted(rows, key=lambda r: (r["student_id"], r["assignment"])):
        student, chapter = row["student_id"], row["assignment"]
        cells = per_student.get((student, chapter), {})
        short = [g for g, score in sorted(cells.items()) if score < points.get(chapter, {}).get(g, 0.0)]
        target = feedback.get((student, chapter))
        link = f"<a href='{quote(target)}'>feedback</a>" if target else ""
        values = [html.escape(v) for v in (student, chapter, row["score"], row["max_score"], row["status"],
                                           ", ".join(short))]
        body.append("<tr>" + "".join(f"<td>{v}</td>" for v in values) + f"<td>{link}</td></tr>")
    head = "".join(f"<th title='sort'>{html.escape(h)}</th>" for h in header)
    return ["<h2 id='students'>Students</h2>", "<p>Click a column's name to sort by it.</p>",
            f"<table class='sortable'><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>",
            _SORT_SCRIPT]
