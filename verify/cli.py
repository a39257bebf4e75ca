"""The ``nnverify`` command: the VNN-LIB 2.0 standard interface and the VNN-COMP conventions.

Exit codes: 0 a verdict was given (whatever it is), 2 bad usage, 3 bad input (model,
property, or the two do not fit), 1 an internal error. Errors are one line on stderr;
``--debug`` adds the traceback.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import math
import os
import sys
import time
import traceback
import typing
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bounds.errors import ModelError
from bounds.kernel_names import CHOICES as KERNEL_CHOICES
from bounds.onnx_file import read_model_bytes
from solvers.options import BOUND_METHODS
from specs import Query, SpecError, read_property
from specs.property import Property
from specs.read import read_query_or_property
from verify import __version__, capabilities
from verify.artifact import ModelRecord, QueryRecord, result_record, write_json
from verify.assignments import write_assignments
from verify.errors import QueryError
from verify.limits import Limits, WorkerError, check_within, usable_cores
from verify.options import ENGINES, Options
from verify.outputs import check_destination, check_folder, remove_stale, write_text
from verify.result import Result, Status
from verify.sampling import sampled_counterexample

if TYPE_CHECKING:
    from bounds.ops.base import Shape
    from verify.pipeline import Model

NAME = "nnverify"
EXIT_OK, EXIT_INTERNAL, EXIT_USAGE, EXIT_INPUT = 0, 1, 2, 3


MAX_TIMEOUT = 1e7
"""Seconds (about 116 days): far longer would overflow the clocks a run waits on."""
MAX_MEMORY = 2**50
"""Bytes (1024T): larger values overflow the OS's memory limit."""
THREADS_PER_CORE = 4
"""``--threads`` may oversubscribe the usable cores this many times, no more (100,000
threads crashed the worker)."""


SAMPLING_SHARE = 0.01
"""Share of the timeout, at most ``SAMPLING_MAX`` seconds, that ``run`` and ``verify`` sample
for a counterexample in onnxruntime before they load the analysis (``verify.sampling``)."""
SAMPLING_MAX = 0.5


def _load_analysis() -> None:
    """Import ``verify.pipeline``, the analysis and its engines, on first need, with the
    garbage collector paused (importing torch and the rest allocates millions of objects,
    and the collections they set off took a tenth of the start), the objects then frozen
    (they live as long as the process: later collections, here and in forked workers, skip
    them). This process's torch keeps to one thread: the verification worker is forked
    and gets ``--threads`` (``Limits.threads``)."""
    if "verify.pipeline" not in sys.modules:
        gc.disable()
        try:
            importlib.import_module("verify.pipeline")
        finally:
            gc.freeze()
            gc.enable()
    import torch

    torch.set_num_threads(1)


def _timeout(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value <= MAX_TIMEOUT:
        raise argparse.ArgumentTypeError(f"timeout must be a positive number of seconds up to 1e7, got {text!r}")
    return value


_UNITS = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def _memory(text: str) -> int:
    """Bytes from ``N`` (MiB) or ``N`` with a K, M, G or T suffix (binary units)."""
    unit = text[-1:].upper()
    number, scale = (text[:-1], _UNITS[unit]) if unit in _UNITS else (text, _UNITS["M"])
    try:
        value = float(number) * scale
    except ValueError:
        value = math.nan
    if not 2**20 <= value <= MAX_MEMORY:
        raise argparse.ArgumentTypeError(
            f"memory must be from 1M to 1024T, as N (MiB) or N with K, M, G or T, got {text!r}"
        )
    return int(value)


def _network(text: str) -> tuple[str, str]:
    """A ``--network NAME=MODEL.onnx`` mapping as (name, model path)."""
    name, sep, model_path = text.partition("=")
    if not sep or not name or not model_path:
        raise argparse.ArgumentTypeError(f"expects NAME=MODEL.onnx, got {text!r}")
    return name, model_path


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line on stderr (exit 2), like every other error."""

    def error(self, message: str) -> typing.NoReturn:
        _usage_error(message, self.prog)


def _usage_error(message: str, prog: str = "nnverify") -> typing.NoReturn:
    """Exit with a usage error of ``prog`` (a command line's whole name, such as ``nnverify run``)."""
    print(f"nnverify: error: {message} (see {prog} --help)", file=sys.stderr)
    sys.exit(EXIT_USAGE)


def _add_search_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--timeout", type=_timeout, default=300.0, help="seconds (default 300)")
    command.add_argument(
        "--bounds",
        choices=BOUND_METHODS,
        metavar="METHOD",
        default="auto",
        help="bound method in the search: %(choices)s (default auto: alpha-CROWN where possible)",
    )
    command.add_argument(
        "--engine",
        choices=ENGINES,
        metavar="ENGINE",
        default="auto",
        help="%(choices)s; after falsification: auto (input split for <=16 inputs, else ReLU split), a search by name, "
        "or an exact engine (milp, smt) alone, for cross-checking",
    )
    command.add_argument(
        "--no-search",
        dest="search",
        action="store_false",
        help="stop after bounding each case's box once: unsat if the bounds prove it, else unknown",
    )
    command.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        default="cpu",
        help="where the input-split search's CROWN bounds run (default cpu)",
    )
    command.add_argument(
        "--kernels",
        choices=KERNEL_CHOICES,
        metavar="KERNELS",
        default="auto",
        help=(
            "back-substitution kernels: %(choices)s (default auto: torch on cuda; on cpu torch, then numba once "
            "a search runs long; numba and numpy need cpu)"
        ),
    )
    command.add_argument(
        "--float-rounding",
        action="store_true",
        help="prove for the model as executed in its float type (float32), as a VNN-LIB 2.0 query "
        "declaring float32 also asks; default: over the reals",
    )
    command.add_argument(
        "--max-memory",
        type=_memory,
        metavar="SIZE",
        help="cap on the verification worker's data memory, e.g. 4G (it starts near 300M); running out answers unknown",
    )


def _add_json_option(command: argparse.ArgumentParser) -> None:
    command.add_argument("--json", metavar="FILE", help="write the JSON result artifact (docs/result-schema.md)")


def _write_record(args: argparse.Namespace, result: Result, model: Callable[[], ModelRecord], query_path: str) -> None:
    """The JSON record where ``--json`` asks for one; ``model`` identifies the model (called
    only then: reading a model's declarations parses it)."""
    if args.json:
        write_json(args.json, result_record(result, model(), QueryRecord.of_file(query_path), _options(args)))


def _prepare_outputs(paths: Sequence[str | None], inputs: Sequence[str]) -> None:
    """Check every output file given before any work (a bad one would lose the verdict
    after the search) and remove an earlier run's, so a run that fails leaves none."""
    given = [path for path in paths if path]
    if len({os.path.abspath(path) for path in given}) < len(given):
        raise QueryError(f"{given[0]}: given for two outputs")
    for path in given:
        check_destination(path, inputs)
    for path in given:
        remove_stale(path)


def _options(args: argparse.Namespace) -> Options:
    return Options(
        timeout=args.timeout,
        bounds=args.bounds,
        engine=args.engine,
        search=args.search,
        device=args.device,
        kernels=args.kernels,
        float_rounding=args.float_rounding,
    )


def _limits(args: argparse.Namespace) -> Limits:
    """The timeout counts from the command's start: reading the files spends it too."""
    return Limits(deadline=args.started + args.timeout, max_memory=args.max_memory, threads=args.threads)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="nnverify", description="Formal verification of neural networks.")
    parser.add_argument("--name", action="store_true", help="print the verifier's name")
    parser.add_argument("--version", action="store_true", help="print the verifier's version")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads of the verification worker of run and verify, and of each instance bench runs "
        "one at a time (default: one per core this "
        "process may use; with 2 or more, a ReLU-split search gives one to the MILP engine it runs beside it, "
        "and an input split shares its boxes among that many single-threaded processes, the MILP engine joining "
        "them after half the time; on a busy machine "
        "give 1 to queries with wide inputs, since the ReLU split's torch threads then wait on each other)",
    )
    commands = parser.add_subparsers(dest="command")

    verify = commands.add_parser("verify", help="decide a VNN-LIB query (VNN-LIB 2.0 interface)")
    verify.add_argument("query", help="VNN-LIB 2.0 (or 1.0) query file")
    verify.add_argument(
        "--network",
        type=_network,
        action="append",
        default=[],
        metavar="NAME=MODEL.onnx",
        help="ONNX model of a declared network",
    )
    _add_search_options(verify)
    verify.add_argument(
        "--serialise-assignments",
        metavar="DIR",
        help="on sat, write each variable's values to DIR/NAME.pb (ONNX TensorProto) instead of stdout",
    )
    _add_json_option(verify)

    run = commands.add_parser("run", help="decide a VNN-COMP instance and write its result file")
    run.add_argument("model", help="ONNX model")
    run.add_argument("property", help="VNN-LIB 1.0 property")
    _add_search_options(run)
    run.add_argument("--out", help="VNN-COMP result file to write")
    _add_json_option(run)

    supports = commands.add_parser("supports", help="report a capability (VNN-LIB 2.0 interface)")
    # one flag is required, but checked after parsing (``_check_arguments``): argparse would
    # report an unknown flag as a missing one
    flags = supports.add_mutually_exclusive_group()
    for capability in capabilities.CAPABILITIES:
        flags.add_argument(f"--{capability}", dest="capability", action="store_const", const=capability)

    commands.add_parser("demo", help="train a small network and verify it (no files needed)")
    _add_check_result_parser(commands)
    _add_bench_parser(commands)
    _add_report_parser(commands)
    return parser


def _verify_command(args: argparse.Namespace) -> int:
    mappings = dict(args.network)
    _prepare_outputs([args.json], inputs=[args.query, *mappings.values()])
    if args.serialise_assignments:
        check_folder(args.serialise_assignments, "assignments")
    spec = read_query_or_property(args.query)
    if isinstance(spec, Query) and args.json and not spec.is_single:
        raise QueryError(f"{args.query}: --json records are written for single-network queries only")
    sampled = _sampled_query(args, spec, mappings) if args.search else None  # --no-search: bounds alone
    if sampled is not None:
        result, data, path = sampled
        identity = partial(ModelRecord.of_bytes, data, path)
    else:
        result, model = _analysed_query(args, spec, mappings)
        identity = partial(ModelRecord.of_model, model)
    found = result.counterexample if result.status is Status.SAT else None
    assignment = (
        []
        if found is None
        else spec.assignment(found.input, found.output)
        if isinstance(spec, Query)
        else [(spec.input, found.input), (spec.output, found.output)]
    )
    if assignment and args.serialise_assignments:
        write_assignments(args.serialise_assignments, assignment)  # before the verdict: a failure prints none
    _write_record(args, result, identity, args.query)
    print("timed-out" if result.status is Status.TIMEOUT else result.status.value)
    if not args.serialise_assignments:
        for variable, values in assignment:
            print(f"{variable.name} {variable.element_type} [{','.join(str(d) for d in variable.shape)}]")
            print("\n".join(repr(float(v)) for v in np.asarray(values).reshape(-1)))
    _log(result)
    return EXIT_OK


def _sampled_query(
    args: argparse.Namespace, spec: Query | Property, mappings: Mapping[str, str]
) -> tuple[Result, bytes, str] | None:
    """``_sampled`` for a query on one model with one input and one output, over the reals
    and in the model's own shapes: a VNN-LIB 1.0 property, or a 2.0 query that ``is_single``
    with ``real`` variables (the result, the model's bytes and path). None for any other
    query, mapping or model: the analysis then checks the declarations and says what does
    not fit (``float32`` variables need its float error rules)."""
    if isinstance(spec, Query):
        variables = [v for network in spec.networks for v in (*network.inputs, *network.outputs)]
        names = [network.name for network in spec.networks]
        if not spec.is_single or list(mappings) != names or any(v.element_type != "real" for v in variables):
            return None
        prop, shapes = spec.prop, (variables[0].shape, variables[1].shape)
    elif len(mappings) == 1:  # VNN-LIB 1.0: flat real variables, one unnamed network
        prop, shapes = spec, None
    else:
        return None
    ((_, path),) = mappings.items()
    data = read_model_bytes(path)
    result = _sampled(args, data, prop, shapes)
    return None if result is None else (result, data, path)


def _analysed_query(
    args: argparse.Namespace, spec: Query | Property, mappings: Mapping[str, str]
) -> tuple[Result, Model]:
    """The query decided by the analysis: its models imported and checked against the
    declarations (composed where it has several), then searched."""
    _load_analysis()
    from verify.pipeline import load_model
    from verify.query import query_model, recheck

    if isinstance(spec, Query):
        fitted = query_model(spec, mappings, args.query)
        result = check_within(fitted.model, spec.prop, _options(args), _limits(args))
        return recheck(spec, fitted.parts, result), fitted.model
    if len(mappings) != 1:  # VNN-LIB 1.0: one unnamed network
        raise QueryError(f"{args.query}: the query declares 1 network, {len(mappings)} --network mappings given")
    ((_, model_path),) = mappings.items()
    model = load_model(model_path)
    capabilities.check_declarations(spec, model.graph, args.query)
    return check_within(model, spec, _options(args), _limits(args)), model


def vnncomp_result_text(result: Result) -> str:
    """The VNN-COMP result file: the verdict, and on sat ``((X_0 v) ... (Y_0 v) ...)``."""
    if result.status is not Status.SAT or result.counterexample is None:
        return f"{result.status.value if result.status is not Status.ERROR else 'unknown'}\n"
    pairs = [f"(X_{i} {float(v)!r})" for i, v in enumerate(result.counterexample.input.reshape(-1))]
    pairs += [f"(Y_{i} {float(v)!r})" for i, v in enumerate(result.counterexample.output.reshape(-1))]
    return "sat\n(" + "\n ".join(pairs) + ")\n"


def _run_command(args: argparse.Namespace) -> int:
    _prepare_outputs([args.out, args.json], inputs=[args.model, args.property])
    prop = read_property(args.property)
    data = read_model_bytes(args.model)
    result = _sampled(args, data, prop) if args.search else None  # --no-search: bounds alone
    if result is None:
        _load_analysis()
        from bounds.onnx_import import parse_onnx
        from verify.pipeline import Model

        model = Model(parse_onnx(data, args.model), data, args.model)
        result = check_within(model, prop, _options(args), _limits(args))
        _write_record(args, result, partial(ModelRecord.of_model, model), args.property)
    else:  # found by sampling: the record reads the model's declarations, still without the analysis
        _write_record(args, result, partial(ModelRecord.of_bytes, data, args.model), args.property)
    text = vnncomp_result_text(result)
    if args.out:
        write_text(args.out, text)
    print(text.splitlines()[0])
    _log(result)
    return EXIT_OK


def _sampled(
    args: argparse.Namespace, model: bytes, prop: Property, shapes: tuple[Shape, Shape] | None = None
) -> Result | None:
    """SAT with a counterexample found by sampling in onnxruntime (``verify.sampling``; for
    a model of the input and output ``shapes`` a query declares, if given) within
    ``SAMPLING_SHARE`` of the timeout, before the analysis is loaded; else None."""
    budget = min(SAMPLING_SHARE * args.timeout, SAMPLING_MAX)
    found, tried = sampled_counterexample(model, prop, deadline=time.monotonic() + budget, shapes=shapes)
    if found is None:
        return None
    statistics = {"cases": len(prop.cases), "candidates_checked": tried}
    reason = "counterexample found by sampling in onnxruntime"
    return Result(Status.SAT, found, time.monotonic() - args.started, statistics, reason)


def _add_check_result_parser(commands: argparse._SubParsersAction[_Parser]) -> None:
    check = commands.add_parser(
        "check-result", help="re-check a JSON result: hashes, digest, and a sat counterexample through onnxruntime"
    )
    check.add_argument("result", help="result artifact, or a bench / robustness JSON holding several")
    check.add_argument("model", nargs="?", help="ONNX model (default: the path recorded)")
    check.add_argument("query", nargs="?", help="query file (default: the path recorded, or the embedded query)")


def _check_result_command(args: argparse.Namespace) -> int:
    """Exit 0 when every record checks out; a rejected record is bad input (exit 3)."""
    from verify.artifact import check_file

    print("\n".join(check_file(args.result, args.model, args.query)))
    return EXIT_OK


def _workers(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"workers must be a positive integer, got {text!r}")
    return value


def _add_bench_parser(commands: argparse._SubParsersAction[_Parser]) -> None:
    bench = commands.add_parser("bench", help="run a VNN-COMP instance list (resumable, parallel, Dask)")
    bench.add_argument("instances", type=Path, help="VNN-COMP instances csv, or an expected.csv with verdicts")
    bench.add_argument("--out", type=Path, help="results csv, appended and resumed (default: INSTANCES-results.csv)")
    bench.add_argument("--json", type=Path, help="results JSON with every result record (default: OUT with .json)")
    bench.add_argument("--expected", type=Path, help="csv onnx,vnnlib,timeout,expected to compare verdicts with")
    bench.add_argument("--timeout-cap", type=_timeout, help="cap every instance's timeout (seconds)")
    bench.add_argument("--only", help="regular expression on 'onnx,vnnlib' selecting instances")
    bench.add_argument("--workers", type=_workers, default=1, help="parallel processes on a Dask LocalCluster")
    bench.add_argument("--scheduler", metavar="ADDRESS", help="Dask scheduler address (tcp://host:8786)")
    bench.add_argument(
        "--command",
        dest="other_command",
        help="another verifier to run side by side: a prefix taking 'run MODEL PROPERTY --timeout T --out RESULT', "
        "or a template with {model} {property} {timeout} {result}",
    )
    bench.add_argument("--command-name", default="other", help="its name in the tables (default other)")


def _bench_command(args: argparse.Namespace) -> int:
    from verify.bench import BenchOptions, run_bench

    out = args.out or Path(f"{args.instances.stem}-results.csv")
    options = BenchOptions(
        instances=args.instances,
        out=out,
        json=args.json or out.with_suffix(".json"),
        expected=args.expected,
        timeout_cap=args.timeout_cap,
        only=args.only,
        workers=args.workers,
        scheduler=args.scheduler,
        command=args.other_command,
        command_name=args.command_name,
        threads=args.threads_given,
    )
    return run_bench(options)


def _add_report_parser(commands: argparse._SubParsersAction[_Parser]) -> None:
    report = commands.add_parser("report", help="an HTML report with plots from result / bench / robustness JSON")
    report.add_argument("results", nargs="+", help="JSON files written by nnverify (--json, bench, sweeps)")
    report.add_argument("-o", "--out", default="report.html", help="HTML file to write (default report.html)")


def _report_command(args: argparse.Namespace) -> int:
    from verify.report import write_report

    write_report(args.results, args.out)
    print(args.out)
    return EXIT_OK


def _log(result: Result) -> None:
    stats = ", ".join(f"{k}={v:g}" for k, v in result.statistics.items())
    print(f"[nnverify] {result.status.value} in {result.time:.2f}s: {result.reason} ({stats})", file=sys.stderr)


def _check_arguments(args: argparse.Namespace) -> None:
    """The usage rules argparse cannot state without hiding a clearer error."""
    if args.command == "supports" and args.capability is None:
        _usage_error("name one capability, such as --vnnlib-versions", "nnverify supports")
    if args.command == "verify":
        names = [name for name, _ in args.network]
        twice = next((name for name in names if names.count(name) > 1), None)
        if twice is not None:
            _usage_error(f"--network {twice} given twice", "nnverify verify")


def main(argv: Sequence[str] | None = None) -> int:
    started = time.monotonic()
    parser = _parser()
    args = parser.parse_args(argv)
    _check_arguments(args)
    args.started = started
    args.threads_given = args.threads  # None unless given: bench passes it on only then
    if args.threads is None:
        args.threads = usable_cores()
    most = THREADS_PER_CORE * usable_cores()
    if not 1 <= args.threads <= most:
        parser.error(f"--threads must be from 1 to {most} ({THREADS_PER_CORE} per usable core)")
    if getattr(args, "device", "cpu") == "cuda":
        import torch

        if not torch.cuda.is_available():
            parser.error("--device cuda: CUDA is not available on this machine")
        if args.kernels in ("numba", "numpy"):
            parser.error(f"--kernels {args.kernels} runs on the CPU only; use --kernels torch with --device cuda")
    try:
        if args.name:
            print(NAME)
            return EXIT_OK
        if args.version:
            print(__version__)
            return EXIT_OK
        if args.command == "verify":
            return _verify_command(args)
        if args.command == "run":
            return _run_command(args)
        if args.command == "supports":
            print("\n".join(capabilities.answer(args.capability)))
            return EXIT_OK
        if args.command == "demo":
            _load_analysis()
            from verify.demo import run_demo

            return run_demo()
        if args.command == "check-result":
            return _check_result_command(args)
        if args.command == "bench":
            return _bench_command(args)
        if args.command == "report":
            return _report_command(args)
        parser.print_usage(sys.stderr)
        return EXIT_USAGE
    except (SpecError, ModelError, QueryError) as error:
        if args.debug:
            traceback.print_exc()
        print(f"nnverify: error: {error}", file=sys.stderr)
        return EXIT_INPUT
    except WorkerError as error:
        if args.debug:
            print(error.details, file=sys.stderr)
        if error.input_error:
            print(f"nnverify: error: {error}", file=sys.stderr)
            return EXIT_INPUT
        print(f"nnverify: internal error: {error} (run with --debug for details)", file=sys.stderr)
        return EXIT_INTERNAL
    except KeyboardInterrupt:
        print("nnverify: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # the last line of defence: still one line unless --debug
        if args.debug:
            traceback.print_exc()
        print(
            f"nnverify: internal error: {type(error).__name__}: {error} (run with --debug for details)", file=sys.stderr
        )
        return EXIT_INTERNAL


if __name__ == "__main__":  # `python -m verify.cli`, as it ran before `python -m verify`
    from verify.__main__ import main_entry

    main_entry()
