"""Time reading every VNN-LIB property under a folder (default: the ../shared benchmarks).

    python benchmarks/parse_properties.py [FOLDER]

Prints per-folder count, median and max seconds per file, and the ratio of the median to
reading the same bytes from disk (a baseline measured in the same run).
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

from specs import read_property


def main() -> int:
    root = (
        Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1].parent / "shared" / "benchmarks"
    )
    folders = sorted({p.parent for p in root.rglob("*.vnnlib")})
    if not folders:
        print(f"no .vnnlib files under {root}", file=sys.stderr)
        return 1
    for folder in folders:
        parse, read = [], []
        for path in sorted(folder.glob("*.vnnlib")):
            start = time.perf_counter()
            path.read_bytes()
            read.append(time.perf_counter() - start)
            start = time.perf_counter()
            read_property(path)
            parse.append(time.perf_counter() - start)
        ratio = statistics.median(parse) / max(statistics.median(read), 1e-9)
        print(
            f"{folder.name:<10} {len(parse):>4} files  median {statistics.median(parse) * 1e3:7.2f} ms  "
            f"max {max(parse) * 1e3:7.2f} ms  ({ratio:,.0f}x reading the bytes)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
