"""Process start: seconds to import the command line and the analysis (``verify.cli``,
``verify.pipeline``) in a fresh interpreter, for this checkout and, side by side, another
one, runs interleaved.

    python benchmarks/startup.py [--runs N] [--against PATH] [--top K]

Every ``nnverify run`` that searches pays this (most of it torch's own import), so on
easy instances it is most of the wall time; one that sampling in onnxruntime decides
(``verify.sampling``) pays the command line's import alone. Also prints the K packages
whose own modules take longest to import in this checkout (``-X importtime``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path


def _command() -> list[str]:
    """Import the command line and the analysis (the checkout comes by ``PYTHONPATH``)."""
    return [sys.executable, "-P", "-c", "import verify.cli, verify.pipeline"]


def _seconds(checkout: Path) -> float:
    """Wall seconds of one start (``_command``) from ``checkout``."""
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    start = time.perf_counter()
    subprocess.run(_command(), env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def _slowest_imports(checkout: Path, top: int) -> list[tuple[float, str]]:
    """(seconds, package) of the packages whose own modules take longest to run on import
    (``-X importtime`` self times summed per top-level package), largest first."""
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    command = _command()
    command[1:1] = ["-X", "importtime"]
    run = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    totals: dict[str, float] = {}
    for line in run.stderr.splitlines():
        fields = line.removeprefix("import time:").split("|")
        if len(fields) == 3 and fields[0].strip().isdigit():
            package = fields[2].strip().split(".")[0]
            totals[package] = totals.get(package, 0.0) + int(fields[0]) / 1e6
    return sorted(((s, n) for n, s in totals.items()), reverse=True)[:top]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=12)
    parser.add_argument("--against", type=Path, help="another checkout to time side by side")
    parser.add_argument("--top", type=int, default=8)
    args = parser.parse_args()
    here = Path(__file__).resolve().parents[1]
    checkouts = [here] if args.against is None else [here, args.against.resolve()]
    times: dict[Path, list[float]] = {c: [] for c in checkouts}
    for _ in range(args.runs):
        for checkout in checkouts:
            times[checkout].append(_seconds(checkout))
    for checkout, runs in times.items():
        print(f"{checkout!s:40} mean {statistics.mean(runs):.3f} s  median {statistics.median(runs):.3f} s")
    if args.against is not None:
        ratio = statistics.mean(times[here]) / statistics.mean(times[checkouts[1]])
        print(f"this checkout / the other: {ratio:.3f}x (mean of {args.runs} runs each, interleaved)")
    print(f"import time of each package's own modules in {here}:")
    for seconds, name in _slowest_imports(here, args.top):
        print(f"  {name:24} {seconds:.3f} s")


if __name__ == "__main__":
    main()
