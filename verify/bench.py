"""``nnverify bench``: run a VNN-COMP instance list, in parallel or on a Dask cluster.

Every instance runs as its own ``nnverify run`` process, as in the competition, so times
include loading. Results are appended to a CSV as they arrive (a rerun skips the instances
already there, so an interrupted run resumes), and a JSON document with every result
record is written at the end. ``--workers N`` runs N at a time on a Dask LocalCluster;
``--scheduler ADDRESS`` sends the same tasks to a running Dask cluster (its workers need
this package and the benchmark files at the same paths). Run in parallel, each nnverify
instance gets one torch thread (``--threads 1``); run one at a time, it uses every core,
or the global ``--threads`` given to ``bench``. ``--command`` runs another verifier on the
same instances for a side-by-side table.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from verify.errors import QueryError
from verify.outputs import check_destination

BENCH_SCHEMA = "nnverify.bench"
NNVERIFY = "nnverify"
VERDICTS = ("sat", "unsat", "unknown", "timeout", "error")
_SYNONYMS = {"violated": "sat", "holds": "unsat", "timed-out": "timeout", "timed_out": "timeout"}
INTERRUPTED = "interrupted"
"""The detail of a row whose process was stopped by Ctrl-C: never stored, so it reruns."""
GRACE_S = 30.0
"""Seconds a verifier may overrun an instance's timeout before its process is killed."""


@dataclass(frozen=True)
class Instance:
    """One row of the instance list; ``onnx`` and ``vnnlib`` as written there (the key)."""

    onnx: str
    vnnlib: str
    model: Path
    prop: Path
    timeout: float
    expected: str | None


@dataclass(frozen=True)
class Tool:
    """A verifier: ``command`` is a prefix to which ``run MODEL PROPERTY --timeout T --out
    RESULT`` is appended, or a template with ``{model} {property} {timeout} {result}``."""

    name: str
    command: tuple[str, ...]

    def argv(self, instance: Instance, timeout: float, result: Path) -> list[str]:
        values = {"model": str(instance.model), "property": str(instance.prop), "timeout": f"{timeout:g}"}
        if any("{" in part for part in self.command):
            return [part.format(**values, result=str(result)) for part in self.command]
        argv = [*self.command, "run", values["model"], values["property"], "--timeout", values["timeout"]]
        return [*argv, "--out", str(result)]


@dataclass(frozen=True)
class Task:
    instance: Instance
    tool: Tool
    timeout: float
    record: Path | None  # where nnverify writes its JSON result record


@dataclass(frozen=True)
class Row:
    """One finished instance for one tool, as stored in the results CSV."""

    tool: str
    onnx: str
    vnnlib: str
    timeout: float
    expected: str
    verdict: str
    seconds: float
    record: str
    detail: str

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.tool, self.onnx, self.vnnlib)

    @property
    def solved(self) -> bool:
        return self.verdict in ("sat", "unsat")

    @property
    def wrong(self) -> bool:
        return self.solved and self.expected in ("sat", "unsat") and self.verdict != self.expected


COLUMNS = tuple(f.name for f in fields(Row))


def read_instances(path: Path, expected: Path | None = None) -> list[Instance]:
    """A VNN-COMP ``*_instances.csv`` (``model,property,timeout``, no header) or an
    ``expected.csv`` (header ``onnx,vnnlib,timeout,expected``); paths relative to the csv,
    made absolute here (a Dask worker may run in another directory).
    ``expected`` names another csv of that second form to take expected verdicts from."""
    rows = _csv_rows(path)
    verdicts = {(r[0], r[1]): r[3] for _, r in _csv_rows(expected) if len(r) > 3} if expected else {}
    instances = []
    for line, row in rows:
        if len(row) < 3:
            raise QueryError(f"{path}:{line}: expected model,property,timeout, got {','.join(row)!r}")
        try:
            timeout = float(row[2])
        except ValueError:
            timeout = math.nan
        if not 0 < timeout < math.inf:
            raise QueryError(f"{path}:{line}: timeout {row[2]!r} is not a positive number of seconds")
        verdict = row[3] if len(row) > 3 and row[3] else verdicts.get((row[0], row[1]))
        verdict = _SYNONYMS.get(verdict or "", verdict) or None
        model, prop = (Path(os.path.abspath(path.parent / name)) for name in row[:2])
        instances.append(Instance(row[0], row[1], model, prop, timeout, verdict))
    if not instances:
        raise QueryError(f"{path}: lists no instance")
    return instances


def _csv_rows(path: Path) -> list[tuple[int, list[str]]]:
    """Non-empty rows with their line numbers, without a header row."""
    text = _read_text(path)
    rows = [(n, [c.strip() for c in r]) for n, r in enumerate(csv.reader(text.splitlines()), 1)]
    rows = [(n, r) for n, r in rows if any(r)]
    if rows and rows[0][1][0] in ("onnx", "model"):
        rows = rows[1:]
    return rows


def _read_text(path: Path) -> str:
    """A csv's text; ``QueryError`` naming it when it is not a readable UTF-8 file."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise QueryError(f"{path}: cannot read: {error.strerror or error}") from error
    except UnicodeDecodeError as error:
        raise QueryError(f"{path}: not UTF-8 text (byte {error.start})") from error


def verdict_of(text: str) -> str:
    """The verdict on the first line of a VNN-COMP result file, in our words."""
    first = text.strip().splitlines()[0].strip().lower() if text.strip() else ""
    first = _SYNONYMS.get(first, first)
    return first if first in VERDICTS else "unknown"


def run_task(task: Task) -> Row:
    """Run one instance in its own process (the unit a worker executes)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.txt"
        argv = task.tool.argv(task.instance, task.timeout, out)
        if task.record is not None:
            argv += ["--json", str(task.record)]
        start = time.monotonic()
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=task.timeout + GRACE_S)
        except subprocess.TimeoutExpired:
            return _row(task, "timeout", time.monotonic() - start, "killed after the timeout and grace")
        except OSError as error:
            return _row(task, "error", time.monotonic() - start, f"cannot start: {error}")
        elapsed = time.monotonic() - start
        if proc.returncode in (130, -signal.SIGINT):
            return _row(task, "error", elapsed, INTERRUPTED)
        if proc.returncode != 0 or not out.exists():
            last = proc.stderr.strip().splitlines()[-1:] or [f"exit {proc.returncode}, no result file"]
            return _row(task, "error", elapsed, last[0])
        has_record = task.record is not None and task.record.exists()
        return _row(task, verdict_of(out.read_text()), elapsed, "", str(task.record) if has_record else "")


def _row(task: Task, verdict: str, seconds: float, detail: str, record: str = "") -> Row:
    instance = task.instance
    return Row(
        task.tool.name,
        instance.onnx,
        instance.vnnlib,
        task.timeout,
        instance.expected or "",
        verdict,
        seconds,
        record,
        detail,
    )


class ResultsFile:
    """The results CSV: rows already there are done; new ones are appended and flushed at once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: list[Row] = []
        if path.exists():
            for entry in csv.DictReader(io.StringIO(_read_text(path), newline="")):
                row = _parse_row(entry)
                if row is not None:
                    self.rows.append(row)

    def done(self) -> set[tuple[str, str, str]]:
        return {row.key for row in self.rows}

    def append(self, row: Row) -> None:
        new = not self.path.exists() or self.path.stat().st_size == 0
        with self.path.open("a", newline="") as handle:
            writer = csv.writer(handle)
            if new:
                writer.writerow(COLUMNS)
            writer.writerow([f"{v:.3f}" if isinstance(v, float) else v for v in asdict(row).values()])
        self.rows.append(row)


def _parse_row(entry: dict[str, str]) -> Row | None:
    """A stored row, or None for one cut short by an interruption."""
    if any(entry.get(column) is None for column in COLUMNS):
        return None
    try:
        timeout, seconds = float(entry["timeout"]), float(entry["seconds"])
    except ValueError:
        return None
    text = {column: entry[column] for column in COLUMNS if column not in ("timeout", "seconds")}
    return Row(timeout=timeout, seconds=seconds, **text)


def execute(
    tasks: Sequence[Task],
    on_row: Callable[[Row], None],
    *,
    workers: int = 1,
    scheduler: str | None = None,
) -> None:
    """Run the tasks, calling ``on_row`` (in this process) as each finishes: in this process
    one after another, or as Dask tasks on a LocalCluster of ``workers`` processes or on the
    cluster at ``scheduler``."""
    if scheduler is None and workers <= 1:
        for task in tasks:
            on_row(run_task(task))
        return
    for row in _dask_rows(tasks, workers, scheduler):
        on_row(row)


def _dask_rows(tasks: Sequence[Task], workers: int, scheduler: str | None) -> Iterator[Row]:
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler is None:
        cluster = LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
        )
    client = Client(cluster if cluster is not None else scheduler)
    if cluster is not None:
        client.run(_ignore_ctrl_c)
    futures = client.map(run_task, list(tasks), pure=False)
    try:
        for future in as_completed(futures):
            yield future.result()
    finally:
        client.cancel(futures)
        client.close()
        if cluster is not None:
            cluster.close()


def _ignore_ctrl_c() -> None:
    """In a local worker: let Ctrl-C (sent to the whole process group) stop the verifier
    processes and this run's client, not the worker itself, which would print a traceback.
    A Python handler, unlike SIG_IGN, is reset by exec, so the verifiers still get Ctrl-C."""
    signal.signal(signal.SIGINT, lambda signum, frame: None)


@dataclass(frozen=True)
class Summary:
    tool: str
    total: int
    solved: int
    sat: int
    unsat: int
    correct: int
    wrong: int
    unknown: int
    errors: int
    median_s: float
    total_s: float

    @staticmethod
    def of(tool: str, rows: Iterable[Row]) -> Summary:
        mine = [r for r in rows if r.tool == tool]
        times = [r.seconds for r in mine]
        return Summary(
            tool,
            len(mine),
            sum(r.solved for r in mine),
            sum(r.verdict == "sat" for r in mine),
            sum(r.verdict == "unsat" for r in mine),
            sum(r.solved and r.verdict == r.expected for r in mine),
            sum(r.wrong for r in mine),
            sum(r.verdict in ("unknown", "timeout") for r in mine),
            sum(r.verdict == "error" for r in mine),
            statistics.median(times) if times else 0.0,
            sum(times),
        )


def bench_document(rows: Sequence[Row], tools: Sequence[str], instances_file: Path) -> dict[str, Any]:
    """The run as JSON (schema ``nnverify.bench``), every nnverify result record inlined."""
    import json

    def record(row: Row) -> Any:
        try:
            return json.loads(Path(row.record).read_text()) if row.record else None
        except (OSError, ValueError):
            return None

    return {
        "schema": BENCH_SCHEMA,
        "schema_version": 1,
        "instances": str(instances_file),
        "summary": [asdict(Summary.of(tool, rows)) for tool in tools],
        "rows": [{**asdict(row), "result": record(row)} for row in rows],
    }


@dataclass(frozen=True)
class BenchOptions:
    instances: Path
    out: Path
    json: Path
    expected: Path | None = None
    timeout_cap: float | None = None
    only: str | None = None
    workers: int = 1
    scheduler: str | None = None
    command: str | None = None
    command_name: str = "other"
    verifier: tuple[str, ...] = (sys.executable, "-m", "verify")
    threads: int | None = None  # torch threads per nnverify instance run one at a time (None: its default)


def plan(options: BenchOptions) -> tuple[list[Instance], list[Tool], list[Task], ResultsFile]:
    """The instances, tools, the tasks still to run, and the results file they go to."""
    for destination in (options.out, options.json):  # before any instance runs
        check_destination(destination, [options.instances])
    instances = read_instances(options.instances, options.expected)
    if options.only:
        try:
            pattern = re.compile(options.only)
        except re.error as error:
            raise QueryError(f"--only: not a regular expression: {error}") from error
        instances = [i for i in instances if pattern.search(f"{i.onnx},{i.vnnlib}")]
    parallel = options.workers > 1 or options.scheduler is not None
    threads = 1 if parallel else options.threads
    tools = [Tool(NNVERIFY, options.verifier if threads is None else (*options.verifier, "--threads", str(threads)))]
    if options.command:
        tools.append(Tool(options.command_name, tuple(shlex.split(options.command))))
    results = ResultsFile(options.out)
    done = results.done()
    records = options.out.with_name(options.out.stem + "-records")
    tasks = []
    for instance in instances:
        timeout = min(instance.timeout, options.timeout_cap) if options.timeout_cap else instance.timeout
        for tool in tools:
            if (tool.name, instance.onnx, instance.vnnlib) in done:
                continue
            record = None
            if tool.name == NNVERIFY:
                records.mkdir(parents=True, exist_ok=True)
                record = (records / _slug(f"{instance.onnx}__{instance.vnnlib}")).with_suffix(".json").resolve()
            tasks.append(Task(instance, tool, timeout, record))
    return instances, tools, tasks, results


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text.replace(os.sep, "_"))


def run_bench(options: BenchOptions) -> int:
    """The ``bench`` command: progress while running, a summary, the CSV and JSON results.
    Exit 1 if any verdict contradicts an expected one."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from verify.artifact import write_json

    instances, tools, tasks, results = plan(options)
    console = Console(stderr=True, soft_wrap=True)
    skipped = len(instances) * len(tools) - len(tasks)
    if skipped:
        console.print(f"resuming: {skipped} results already in {options.out}")
    colours = {"sat": "yellow", "unsat": "green", "error": "red"}
    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    )

    def on_row(row: Row) -> None:
        if row.detail == INTERRUPTED:
            return
        results.append(row)
        mark = " [bold red]WRONG[/]" if row.wrong else ""
        colour = colours.get(row.verdict, "white")
        expected = f" (expected {row.expected})" if row.expected else ""
        detail = f" {row.detail}" if row.detail else ""
        progress.console.print(
            f"{row.tool:>9} {row.onnx} {row.vnnlib}: [{colour}]{row.verdict}[/]{expected} {row.seconds:.2f}s{mark}"
            f"{detail}",
            highlight=False,
        )
        progress.advance(bar)

    interrupted = False
    with progress:
        bar = progress.add_task(f"bench {options.instances.name}", total=len(tasks))
        try:
            execute(tasks, on_row, workers=options.workers, scheduler=options.scheduler)
        except KeyboardInterrupt:
            interrupted = True
    names = [tool.name for tool in tools]
    wanted = {(i.onnx, i.vnnlib) for i in instances}
    rows = [r for r in results.rows if (r.onnx, r.vnnlib) in wanted and r.tool in names]
    write_json(options.json, bench_document(rows, names, options.instances))
    _print_summary(Console(), rows, names, instances)
    if interrupted:
        console.print(f"interrupted: {len(results.rows)} results kept in {options.out}; run again to resume")
        return 130
    return 1 if any(r.wrong for r in rows) else 0


def _print_summary(console: Any, rows: Sequence[Row], tools: Sequence[str], instances: Sequence[Instance]) -> None:
    from rich.table import Table

    if len(tools) > 1:
        table = Table(title="side by side")
        table.add_column("instance")
        table.add_column("expected")
        for tool in tools:
            table.add_column(tool)
        by_key = {r.key: r for r in rows}
        for instance in instances:
            cells = []
            for tool in tools:
                row = by_key.get((tool, instance.onnx, instance.vnnlib))
                cells.append(f"{row.verdict} {row.seconds:.1f}s" if row else "-")
            table.add_row(f"{instance.onnx} {instance.vnnlib}", instance.expected or "", *cells)
        console.print(table)
    summary = Table(title="summary")
    summary.add_column("")
    summaries = [Summary.of(tool, rows) for tool in tools]
    for tool in tools:
        summary.add_column(tool, justify="right")
    lines: dict[str, Callable[[Summary], str]] = {
        "solved": lambda s: f"{s.solved} ({s.sat} sat, {s.unsat} unsat)",
        "correct": lambda s: str(s.correct),
        "wrong": lambda s: str(s.wrong),
        "unknown/timeout": lambda s: str(s.unknown),
        "errors": lambda s: str(s.errors),
        "total": lambda s: str(s.total),
        "median time": lambda s: f"{s.median_s:.2f} s",
        "total time": lambda s: f"{s.total_s:.1f} s",
    }
    for label, value in lines.items():
        summary.add_row(label, *(value(s) for s in summaries))
    console.print(summary)
