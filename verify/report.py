"""``nnverify report``: one self-contained HTML page from result files.

Reads result records, bench runs and robustness sweeps (the JSON documents nnverify writes)
and shows a summary, plots (matplotlib, embedded as PNG), a per-instance table, the
certified-accuracy-versus-radius curve of a sweep, and for image inputs each
counterexample beside its original with their difference.
"""

from __future__ import annotations

import base64
import io
import math
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from verify import __version__
from verify.artifact import SCHEMA, read_json
from verify.errors import QueryError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MAX_COUNTEREXAMPLE_FIGURES = 12
COLOURS = {"sat": "#d95f02", "unsat": "#1b9e77", "unknown": "#7570b3", "timeout": "#e7298a", "error": "#666666"}


@dataclass(frozen=True)
class Entry:
    """One row of the report: an instance (or a point at a radius) for one tool."""

    source: str
    tool: str
    name: str
    verdict: str
    expected: str
    seconds: float
    record: dict[str, Any] | None


@dataclass(frozen=True)
class Sweep:
    source: str
    document: dict[str, Any]


def _entries(path: str, document: dict[str, Any]) -> list[Entry]:
    schema = document["schema"]
    if schema == SCHEMA:
        name = Path(document["query"].get("path") or "query").name
        return [Entry(path, "nnverify", name, document["verdict"], "", float(document["time_s"]), document)]
    if schema == "nnverify.bench":
        return [
            Entry(path, r["tool"], f"{r['onnx']} {r['vnnlib']}", r["verdict"], r["expected"], r["seconds"], r["result"])
            for r in document["rows"]
        ]
    return [
        Entry(path, "nnverify", f"point {r['index']} eps {r['eps']:g}", r["verdict"], "", r["time_s"], r["result"])
        for r in document["results"]
    ]


def build_report(paths: Sequence[str | os.PathLike[str]]) -> str:
    """The HTML page for the given result files."""
    entries: list[Entry] = []
    sweeps: list[Sweep] = []
    for path in paths:
        document = read_json(path)
        try:
            entries += _entries(str(path), document)
        except (KeyError, TypeError, ValueError) as error:
            raise QueryError(
                f"{path}: malformed {document['schema']} document ({type(error).__name__}: {error})"
            ) from None
        if document["schema"] == "nnverify.robustness":
            sweeps.append(Sweep(str(path), document))
    sections = [_summary(entries, sweeps)]
    if sweeps:
        sections.append(_robustness(sweeps))
    if entries:
        sections.append(_plots(entries))
        sections.append(_table(entries))
    counterexamples = _counterexamples(entries, sweeps)
    if counterexamples:
        sections.append(counterexamples)
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    sources = ", ".join(escape(str(p)) for p in paths)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>nnverify report</title>
<style>
body {{ font-family: sans-serif; margin: 2em; max-width: 70em; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
th, td {{ border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: right; }}
th {{ background: #eee; }} td.name {{ text-align: left; }}
.sat {{ color: {COLOURS["sat"]}; }} .unsat {{ color: {COLOURS["unsat"]}; }} .wrong {{ background: #fdd; }}
img {{ max-width: 100%; }} figure {{ display: inline-block; margin: 0.5em; }}
</style>
</head>
<body>
<h1>nnverify report</h1>
<p>nnverify {escape(__version__)}, {created}; from {sources}.</p>
{"".join(sections)}
</body>
</html>
"""


def write_report(paths: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str]) -> None:
    html = build_report(paths)
    try:
        Path(out).write_text(html)
    except OSError as error:
        raise QueryError(f"{out}: cannot write: {error.strerror or error}") from error


def _summary(entries: Sequence[Entry], sweeps: Sequence[Sweep]) -> str:
    tools = sorted({e.tool for e in entries}, key=lambda t: (t != "nnverify", t))
    verdicts = ["sat", "unsat", "unknown", "timeout", "error", "misclassified"]
    rows = []
    for tool in tools:
        mine = [e for e in entries if e.tool == tool]
        counts = Counter(e.verdict for e in mine)
        wrong = sum(_wrong(e) for e in mine)
        times = [e.seconds for e in mine]
        cells = "".join(f"<td>{counts.get(v, 0)}</td>" for v in verdicts)
        median = float(np.median(times)) if times else 0.0
        rows.append(
            f"<tr><td class=name>{escape(tool)}</td>{cells}<td>{wrong}</td><td>{len(mine)}</td>"
            f"<td>{median:.2f}</td><td>{sum(times):.1f}</td></tr>"
        )
    header = "".join(f"<th>{v}</th>" for v in [*verdicts, "wrong", "total", "median s", "total s"])
    body = f"<table><tr><th>tool</th>{header}</tr>{''.join(rows)}</table>" if rows else "<p>No results.</p>"
    for sweep in sweeps:
        doc = sweep.document
        body += (
            f"<p>{escape(sweep.source)}: {doc['points']} points, clean accuracy {doc['clean_accuracy']:.1%}; "
            "certified accuracy "
            + ", ".join(
                f"{a:.1%} at eps {e:g}" for e, a in zip(doc["epsilons"], doc["certified_accuracy"], strict=True)
            )
            + ".</p>"
        )
    return f'<section id="summary"><h2>Summary</h2>{body}</section>\n'


def _wrong(entry: Entry) -> bool:
    decided = ("sat", "unsat")
    return entry.verdict in decided and entry.expected in decided and entry.verdict != entry.expected


def _robustness(sweeps: Sequence[Sweep]) -> str:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 4))
    axes = figure.add_subplot()
    for sweep in sweeps:
        doc = sweep.document
        eps = doc["epsilons"]
        certified = doc["certified_accuracy"]
        upper = [1 - f for f in doc["falsified"]]
        label = Path(sweep.source).name
        (line,) = axes.plot(eps, certified, marker="o", label=f"{label}: certified (unsat)")
        axes.plot(eps, upper, linestyle="--", color=line.get_color(), label=f"{label}: not falsified")
        axes.fill_between(eps, certified, upper, color=line.get_color(), alpha=0.15)
    axes.set_xlabel("epsilon (L-inf radius)")
    axes.set_ylabel("accuracy")
    axes.set_ylim(0, 1.02)
    axes.set_title("Certified accuracy versus epsilon")
    axes.legend(fontsize="small")
    rows = []
    for sweep in sweeps:
        doc = sweep.document
        for e, c, f in zip(doc["epsilons"], doc["certified_accuracy"], doc["falsified"], strict=True):
            rows.append(f"<tr><td class=name>{escape(Path(sweep.source).name)}</td><td>{e:g}</td>")
            rows[-1] += f"<td>{c:.1%}</td><td>{1 - f:.1%}</td></tr>"
    table = "<table><tr><th>sweep</th><th>eps</th><th>certified</th><th>not falsified</th></tr>"
    table += "".join(rows) + "</table>"
    note = (
        "<p>The true robust accuracy lies between the certified share (proved unsat) and the "
        "share not falsified (no counterexample found, model correct).</p>"
    )
    return (
        f'<section id="robustness"><h2>Robustness sweep</h2>{_image(figure, "certified accuracy versus epsilon")}'
        f"{note}{table}</section>\n"
    )


def _plots(entries: Sequence[Entry]) -> str:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(11, 4))
    cactus, bounds = figure.subplots(1, 2)
    for tool in sorted({e.tool for e in entries}):
        solved = sorted(e.seconds for e in entries if e.tool == tool and e.verdict in ("sat", "unsat"))
        cactus.step([0, *solved], range(len(solved) + 1), where="post", label=tool)
    cactus.set_xlabel("time (s)")
    cactus.set_ylabel("instances solved")
    cactus.set_title("Solved within a time")
    cactus.legend(fontsize="small")
    plotted = False
    for verdict, colour in COLOURS.items():
        points = [
            (e.seconds, (_domains(e.record["statistics"]) or 0) + 1)
            for e in entries
            if e.record is not None and e.verdict == verdict
        ]
        if points:
            xs, ys = zip(*points, strict=True)
            bounds.scatter(xs, ys, color=colour, label=verdict, s=14)
            plotted = True
    bounds.set_yscale("log")
    bounds.set_xlabel("time (s)")
    bounds.set_ylabel("domains bounded + 1")
    bounds.set_title("Search size")
    if plotted:
        bounds.legend(fontsize="small")
    figure.tight_layout()
    return f'<section id="plots"><h2>Time and bounds</h2>{_image(figure, "time and search size")}</section>\n'


def _table(entries: Sequence[Entry]) -> str:
    rows = []
    for e in entries:
        stats = e.record["statistics"] if e.record else {}
        reason = e.record.get("reason", "") if e.record else ""
        cells = [
            f"<td class=name>{escape(e.name)}</td>",
            f"<td class=name>{escape(e.tool)}</td>",
            f'<td class="{escape(e.verdict)}">{escape(e.verdict)}</td>',
            f"<td>{escape(e.expected)}</td>",
            f"<td>{e.seconds:.2f}</td>",
            *(f"<td>{_number(v)}</td>" for v in (_domains(stats), stats.get("splits"), stats.get("max_depth"))),
            f"<td class=name>{escape(str(reason))}</td>",
        ]
        rows.append(f"<tr{' class=wrong' if _wrong(e) else ''}>{''.join(cells)}</tr>")
    header = "".join(
        f"<th>{h}</th>"
        for h in ("instance", "tool", "verdict", "expected", "time s", "domains", "splits", "depth", "reason")
    )
    return f'<section id="instances"><h2>Instances</h2><table><tr>{header}</tr>{"".join(rows)}</table></section>\n'


def _domains(stats: dict[str, Any]) -> Any:
    """Search-tree nodes bounded: ``domains_bounded``, or ``boxes_bounded`` in older records."""
    return stats.get("domains_bounded", stats.get("boxes_bounded"))


def _number(value: Any) -> str:
    return "" if value is None else f"{value:g}"


def _counterexamples(entries: Sequence[Entry], sweeps: Sequence[Sweep]) -> str:
    shapes = {s.source: s.document.get("image_shape") for s in sweeps}
    figures = []
    for entry in entries:
        record = entry.record
        if record is None or record.get("counterexample") is None:
            continue
        counterexample = record["counterexample"]
        shape = _image_shape(shapes.get(entry.source) or counterexample["input_shape"])
        found = np.asarray(counterexample["input"], dtype=np.float64)
        original = _original(record, found) if shape is not None else None
        if shape is None or original is None:
            continue
        image, title = original
        predicted = int(np.argmax(counterexample["output"]))
        figures.append(_pair(entry.name, image.reshape(shape), title, found.reshape(shape), predicted))
        if len(figures) == MAX_COUNTEREXAMPLE_FIGURES:
            break
    if not figures:
        return ""
    return f'<section id="counterexamples"><h2>Counterexamples</h2>{"".join(figures)}</section>\n'


def _original(record: dict[str, Any], found: np.ndarray) -> tuple[np.ndarray, str] | None:
    """What a counterexample is drawn against: the point a robustness check was centred on,
    else the centre of the query's input box that holds it (read from the query file or the
    embedded text; for a clipped L-inf ball that is near, not at, the original)."""
    from specs import SpecError, parse_vnnlib1, read_property

    context = record.get("context", {})
    if context.get("reference") is not None:
        return np.asarray(context["reference"], dtype=np.float64), f"original (class {context.get('label')})"
    query = record["query"]
    try:
        if query.get("path"):
            prop = read_property(query["path"])
        elif query.get("vnnlib1"):
            prop = parse_vnnlib1(query["vnnlib1"])
        else:
            return None
    except (SpecError, OSError):
        return None
    for case in prop.cases:
        box = case.region.box
        if box.size == found.size and box.contains(found):
            return (np.asarray(box.lower) + np.asarray(box.upper)) / 2, "input box centre"
    return None


def _image_shape(shape: Iterable[int]) -> tuple[int, ...] | None:
    """(H, W) or (C, H, W) for an input that looks like an image: at least two axes of 4 or
    more once unit axes are dropped, channels (3) first in ONNX layout; or a flat input of
    k*k values, k >= 7 (flattened grey images such as MNIST's 28x28 or the digits' 8x8)."""
    dims = [int(d) for d in shape if int(d) != 1]
    side = math.isqrt(dims[0]) if len(dims) == 1 else 0
    if side >= 7 and side * side == dims[0]:
        return (side, side)
    if len(dims) == 2 and min(dims) >= 4:
        return (dims[0], dims[1])
    if len(dims) == 3 and dims[0] == 3 and min(dims[1:]) >= 4:
        return (dims[0], dims[1], dims[2])
    return None


def _pair(name: str, original: np.ndarray, title: str, found: np.ndarray, predicted: int) -> str:
    from matplotlib.figure import Figure

    def shown(image: np.ndarray) -> np.ndarray:
        return np.moveaxis(image, 0, -1) if image.ndim == 3 else image

    figure = Figure(figsize=(7.5, 2.6))
    axes = figure.subplots(1, 3)
    low, high = float(min(original.min(), found.min())), float(max(original.max(), found.max()))
    axes[0].imshow(shown(original), cmap="gray", vmin=low, vmax=high)
    axes[0].set_title(title)
    axes[1].imshow(shown(found), cmap="gray", vmin=low, vmax=high)
    axes[1].set_title(f"counterexample ({predicted})")
    difference = found - original
    scale = float(np.abs(difference).max()) or 1.0
    image = axes[2].imshow(shown(difference if difference.ndim == 2 else difference.mean(axis=0)), cmap="RdBu_r")
    image.set_clim(-scale, scale)
    axes[2].set_title(f"difference (max {scale:.3g})")
    figure.colorbar(image, ax=axes[2], fraction=0.046)
    for axis in axes:
        axis.set_xticks([])
        axis.set_yticks([])
    figure.tight_layout()
    return f"<figure>{_image(figure, f'counterexample for {name}')}<figcaption>{escape(name)}</figcaption></figure>"


def _image(figure: Figure, alt: str) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="{escape(alt)}" src="data:image/png;base64,{data}">'
