"""Run nnverify over a VNN-COMP instance list and compare with expected verdicts.

    python benchmarks/run_instances.py INSTANCES.csv [--timeout-cap S] [--only REGEX] [--out results.csv]

INSTANCES.csv is either a VNN-COMP ``*_instances.csv`` (``model,property,timeout``, no
header) or an ``expected.csv`` (``onnx,vnnlib,timeout,expected`` with header). Paths are
relative to the csv's folder. Each instance runs as its own ``nnverify run`` process, as
in the competition, so times include loading. Prints one line per instance and a summary:
decided, correct, wrong (a verdict contradicting the expected one), unknown/timeout, total
and median time. A wrong verdict makes the exit code 1.
"""

from __future__ import annotations

import argparse
import csv
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Instance:
    model: Path
    prop: Path
    timeout: float
    expected: str | None


def read_instances(path: Path) -> list[Instance]:
    rows = [r for r in csv.reader(path.read_text().splitlines()) if r and any(c.strip() for c in r)]
    has_header = bool(rows) and rows[0][0].strip() in ("onnx", "model")
    out = []
    for row in rows[1:] if has_header else rows:
        expected = row[3].strip() if len(row) > 3 and row[3].strip() else None
        out.append(Instance(path.parent / row[0].strip(), path.parent / row[1].strip(), float(row[2]), expected))
    return out


def run_one(instance: Instance, timeout: float, command: list[str]) -> tuple[str, float]:
    """The verdict (first line of the result file) and wall time of one instance."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.txt"
        argv = [
            *command,
            "run",
            str(instance.model),
            str(instance.prop),
            "--timeout",
            f"{timeout:g}",
            "--out",
            str(out),
        ]
        start = time.monotonic()
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout + 30)
        except subprocess.TimeoutExpired:
            return "timeout", time.monotonic() - start
        elapsed = time.monotonic() - start
        if proc.returncode != 0 or not out.exists():
            last = proc.stderr.strip().splitlines()[-1:] or ["no output"]
            return f"error: {last[0]}", elapsed
        return out.read_text().splitlines()[0].strip(), elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("instances", type=Path)
    parser.add_argument("--timeout-cap", type=float, default=None, help="cap every instance's timeout (seconds)")
    parser.add_argument("--only", default=None, help="regex on 'model,property' selecting instances")
    parser.add_argument("--out", type=Path, default=None, help="write per-instance results as csv")
    parser.add_argument(
        "--command", default=f"{sys.executable} -m verify.cli", help="verifier command (default: this nnverify)"
    )
    args = parser.parse_args()

    instances = read_instances(args.instances)
    if args.only:
        instances = [i for i in instances if re.search(args.only, f"{i.model.name},{i.prop.name}")]
    results = []
    for index, instance in enumerate(instances, 1):
        timeout = min(instance.timeout, args.timeout_cap) if args.timeout_cap else instance.timeout
        verdict, elapsed = run_one(instance, timeout, args.command.split())
        wrong = instance.expected in ("sat", "unsat") and verdict in ("sat", "unsat") and verdict != instance.expected
        mark = "WRONG" if wrong else ("ok" if verdict == instance.expected else "")
        print(
            f"[{index}/{len(instances)}] {instance.model.name} {instance.prop.name}: {verdict} "
            f"(expected {instance.expected}) {elapsed:.2f}s {mark}",
            flush=True,
        )
        results.append((instance, verdict, elapsed, wrong))

    decided = [r for r in results if r[1] in ("sat", "unsat")]
    times = [r[2] for r in results]
    print("\nsummary")
    print(f"  instances      {len(results)}")
    for verdict in ("sat", "unsat"):
        exp = sum(1 for r in results if r[0].expected == verdict)
        got = sum(1 for r in results if r[1] == verdict and r[0].expected == verdict)
        print(f"  {verdict:<6} decided {got}/{exp} expected")
    print(f"  decided        {len(decided)}")
    print(f"  correct        {sum(1 for r in decided if r[1] == r[0].expected)}")
    print(f"  wrong          {sum(1 for r in results if r[3])}")
    print(f"  unknown        {sum(1 for r in results if r[1] == 'unknown')}")
    print(f"  timeout        {sum(1 for r in results if r[1] == 'timeout')}")
    print(f"  errors         {sum(1 for r in results if r[1].startswith('error'))}")
    if times:
        print(f"  total time     {sum(times):.1f} s")
        print(f"  median time    {statistics.median(times):.2f} s")
        solved_times = [r[2] for r in decided]
        if solved_times:
            print(f"  decided time   {sum(solved_times):.1f} s total")
    if args.out:
        with args.out.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["onnx", "vnnlib", "expected", "verdict", "seconds"])
            for instance, verdict, elapsed, _ in results:
                writer.writerow([instance.model.name, instance.prop.name, instance.expected, verdict, f"{elapsed:.3f}"])
    return 1 if any(r[3] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
