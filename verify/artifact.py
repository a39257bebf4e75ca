"""The result artifact: a JSON record of one verification that someone else can check later.

The schema (``nnverify.result``, version 1) is documented in docs/result-schema.md. A record
names the tool and version, the SHA-256 of the model and of the query, the options, the
verdict, time, statistics and, for ``sat``, the counterexample with the model's actual
outputs. ``digest`` is the SHA-256 of the record's canonical JSON without it: it detects
edits and corruption, not forgery (anyone can recompute it). ``check_record`` re-runs a
counterexample through onnxruntime, so a ``sat`` record is checked independently of the
search that produced it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import onnx

from bounds.errors import ModelError
from bounds.onnx_file import TensorInfo, read_model_bytes, single_input
from specs import Property, parse_vnnlib1, read_property, write_vnnlib1
from verify import __version__
from verify.errors import QueryError
from verify.options import Options
from verify.outputs import write_text
from verify.result import Result, Status

if TYPE_CHECKING:
    from verify.pipeline import Model

SCHEMA = "nnverify.result"
SCHEMA_VERSION = 1
CONTAINERS = ("nnverify.bench", "nnverify.robustness")
"""Documents that hold result records (under ``rows[*].result`` or ``results[*].result``)."""


class ArtifactError(QueryError):
    """A result record is malformed, does not match its model or query, or its claim fails."""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class QueryRecord:
    """How the query is identified in a record: the file it was read from, or (for a
    property built in Python) its VNN-LIB 1.0 text embedded in the record."""

    path: str | None
    sha256: str
    vnnlib1: str | None

    @staticmethod
    def of_file(path: str | os.PathLike[str]) -> QueryRecord:
        try:
            data = Path(path).read_bytes()
        except OSError as error:
            raise QueryError(f"{path}: cannot read query: {error.strerror or error}") from error
        return QueryRecord(str(Path(path).resolve()), sha256(data), None)

    @staticmethod
    def of_property(prop: Property) -> QueryRecord:
        """The property's own file when it was read from one, else its text embedded."""
        if prop.source is not None and Path(prop.source).is_file():
            return QueryRecord.of_file(prop.source)
        text = write_vnnlib1(prop)
        return QueryRecord(None, sha256(text.encode()), text)


@dataclass(frozen=True)
class ModelRecord:
    """How the model is identified in a record (its file and bytes), and the input and
    output tensors a counterexample is recorded for."""

    source: str
    onnx: bytes
    input: TensorInfo
    output_name: str

    @staticmethod
    def of_model(model: Model) -> ModelRecord:
        return ModelRecord(model.source, model.onnx, model.graph.input, model.graph.output.name)

    @staticmethod
    def of_bytes(data: bytes, source: str) -> ModelRecord:
        """From the file's declarations, as the importer reads them, without the analysis
        (a model with one variable input and one output)."""
        proto = onnx.load_model_from_string(data)
        if len(proto.graph.output) != 1:
            raise ModelError(f"model has {len(proto.graph.output)} outputs, not one", file=source)
        return ModelRecord(source, data, single_input(proto), proto.graph.output[0].name)


def _canonical(document: Mapping[str, Any]) -> bytes:
    body = {key: value for key, value in document.items() if key != "digest"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()


def result_record(
    result: Result,
    model: ModelRecord,
    query: QueryRecord,
    options: Options,
    *,
    context: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON-ready record of one result. ``context`` carries what a report needs to draw
    it (for local robustness: the reference point, its label and the radius)."""
    counterexample = None
    if result.counterexample is not None:
        counterexample = {
            "input_name": model.input.name,
            "input_type": model.input.element_type,
            "input_shape": list(model.input.shape),
            "input": [float(v) for v in np.asarray(result.counterexample.input).reshape(-1)],
            "output_name": model.output_name,
            "output": [float(v) for v in np.asarray(result.counterexample.output).reshape(-1)],
        }
    model_path = Path(model.source)
    document: dict[str, Any] = {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "nnverify", "version": __version__},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model": {
            "path": str(model_path.resolve()) if model_path.is_file() else None,
            "sha256": sha256(model.onnx),
        },
        "query": dataclasses.asdict(query),
        "options": dataclasses.asdict(options),
        "verdict": result.status.value,
        "reason": result.reason,
        "time_s": result.time,
        "statistics": dict(result.statistics),
        "counterexample": counterexample,
        "proof": None,
        "context": dict(context or {}),
    }
    document = json.loads(json.dumps(document, default=str))  # options may hold non-JSON values
    document["digest"] = sha256(_canonical(document))
    return document


def write_json(path: str | os.PathLike[str], document: Mapping[str, Any]) -> None:
    """Write a JSON document (a ``QueryError`` naming the file if it cannot be written)."""
    write_text(path, json.dumps(document, indent=1) + "\n")


def read_json(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A JSON document written by nnverify (a result record, a bench or robustness run)."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise ArtifactError(f"{path}: cannot read: {error.strerror or error}") from error
    except UnicodeDecodeError as error:
        raise ArtifactError(f"{path}: not UTF-8 text (byte {error.start})") from error
    except json.JSONDecodeError as error:
        raise ArtifactError(f"{path}: not JSON: {error.msg} at line {error.lineno}") from error
    except RecursionError:
        raise ArtifactError(f"{path}: not an nnverify result (nested too deeply)") from None
    if not isinstance(document, dict) or document.get("schema") not in (SCHEMA, *CONTAINERS):
        raise ArtifactError(f"{path}: not an nnverify result (no known 'schema' field)")
    if document["schema"] in CONTAINERS and not isinstance(document.get("rows", document.get("results", [])), list):
        raise ArtifactError(f"{path}: not an nnverify result (its rows are not a list)")
    return document


def records(document: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every result record in a document: itself, or those a bench or robustness run holds."""
    for _, record in _entries(document):
        yield record


def _entries(document: Mapping[str, Any]) -> Iterator[tuple[Mapping[str, Any] | None, dict[str, Any]]]:
    """Every result record with the bench or robustness row holding it (None for a lone record)."""
    if document.get("schema") == SCHEMA:
        yield None, dict(document)
        return
    for row in document.get("rows", document.get("results", [])):
        if isinstance(row, dict) and isinstance(row.get("result"), dict):
            yield row, row["result"]


@dataclass(frozen=True)
class Checked:
    """What ``check_record`` established about one record."""

    verdict: str
    detail: str


def check_record(
    record: Mapping[str, Any],
    model_bytes: bytes,
    query_bytes: bytes | None,
    prop: Property,
) -> Checked:
    """Check a record against the model and query it names; ``ArtifactError`` on any mismatch.

    ``query_bytes`` are the query file's bytes (None when the query is embedded in the record;
    ``prop`` is then parsed from that text). A sat record's counterexample must be a value of
    the model's input type that onnxruntime, run here, maps to an output satisfying the query
    exactly; the recorded output must be the one onnxruntime computes. Other verdicts carry
    no certificate yet, so only the hashes and the digest are checked.
    """
    from verify.check import OnnxChecker

    if record.get("schema") != SCHEMA or record.get("schema_version") != SCHEMA_VERSION:
        raise ArtifactError(f"unsupported schema {record.get('schema')!r} version {record.get('schema_version')!r}")
    if record.get("digest") != sha256(_canonical(record)):
        raise ArtifactError("digest does not match the record: it was edited or corrupted")
    if record["model"]["sha256"] != sha256(model_bytes):
        raise ArtifactError("the model's SHA-256 differs from the one recorded")
    query = record["query"]
    embedded = query.get("vnnlib1")
    actual = sha256(embedded.encode() if query_bytes is None and embedded is not None else query_bytes or b"")
    if query["sha256"] != actual:
        raise ArtifactError("the query's SHA-256 differs from the one recorded")
    verdict = record["verdict"]
    if verdict not in {status.value for status in Status}:
        raise ArtifactError(f"unknown verdict {verdict!r}")
    counterexample = record.get("counterexample")
    if verdict != Status.SAT.value:
        if counterexample is not None:
            raise ArtifactError(f"a {verdict} record carries a counterexample")
        return Checked(verdict, "hashes match; no certificate to check for this verdict")
    if not isinstance(counterexample, dict):
        raise ArtifactError("a sat record without a counterexample")
    try:
        proto = onnx.load_model_from_string(model_bytes)
    except Exception as error:  # protobuf raises several unrelated types on garbage
        raise ArtifactError(f"the model is not an ONNX model ({type(error).__name__})") from error
    model_input = single_input(proto)  # as declared: the check needs onnxruntime alone, not the analysis
    dtype = np.dtype(model_input.element_type)
    x = np.asarray(counterexample["input"], dtype=np.float64)
    if x.size != model_input.size:
        raise ArtifactError(f"the counterexample has {x.size} inputs, the model {model_input.size}")
    if not np.array_equal(x.astype(dtype).astype(np.float64), x):
        raise ArtifactError(f"the counterexample input is not a vector of {dtype} values")
    y = OnnxChecker(model_bytes, model_input, prop).run(x.astype(dtype)).astype(np.float64)
    recorded = np.asarray(counterexample["output"], dtype=np.float64)
    if recorded.shape != y.shape or not np.allclose(recorded, y, rtol=1e-6, atol=1e-9):
        raise ArtifactError("the recorded output is not what onnxruntime computes for the counterexample")
    if not prop.is_violated_by(x, y):
        raise ArtifactError("the counterexample does not satisfy the query's assertions")
    return Checked(verdict, "counterexample re-run by onnxruntime satisfies the query")


def load_record_inputs(
    record: Mapping[str, Any], model_path: str | None, query_path: str | None
) -> tuple[bytes, bytes | None, Property]:
    """The model bytes, query bytes and property a record is checked against: the files given,
    else those recorded (the query's embedded text when it has no file)."""
    model_file = model_path or record["model"].get("path")
    if not model_file:
        raise ArtifactError("the record names no model file (it was built in memory): give MODEL")
    query_file = query_path or record["query"].get("path")
    if query_file:
        query_bytes = Path(query_file).read_bytes() if Path(query_file).is_file() else None
        if query_bytes is None:
            raise ArtifactError(f"{query_file}: cannot read query")
        return read_model_bytes(model_file), query_bytes, read_property(query_file)
    embedded = record["query"].get("vnnlib1")
    if not isinstance(embedded, str):
        raise ArtifactError("the record names no query file and embeds no query: give QUERY")
    return read_model_bytes(model_file), None, parse_vnnlib1(embedded, source="embedded query")


def check_file(path: str | os.PathLike[str], model_path: str | None = None, query_path: str | None = None) -> list[str]:
    """Check every record in a result file (see ``check_record``): one line per record, or
    ``ArtifactError`` naming the file and the first record that fails."""
    document = read_json(path)
    lines = []
    for number, (row, record) in enumerate(_entries(document), 1):
        where = f"{path}: record {number}" if document.get("schema") != SCHEMA else str(path)
        try:
            if row is not None and "verdict" in row and row["verdict"] != record.get("verdict"):
                # the row's verdict is what tables and reports show: it must be the record's
                raise ArtifactError(f"the row says {row['verdict']!r}, its record {record.get('verdict')!r}")
            model_bytes, query_bytes, prop = load_record_inputs(record, model_path, query_path)
            checked = check_record(record, model_bytes, query_bytes, prop)
        except ArtifactError as error:
            raise ArtifactError(f"{where}: rejected: {error}") from error
        except (KeyError, TypeError, AttributeError, ValueError) as error:
            raise ArtifactError(f"{where}: rejected: malformed record ({type(error).__name__}: {error})") from error
        lines.append(f"{where}: ok {checked.verdict}: {checked.detail}")
    if not lines:
        raise ArtifactError(f"{path}: holds no result record")
    return lines
