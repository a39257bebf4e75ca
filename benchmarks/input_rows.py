"""ACAS Xu instances whose input region is cut by a linear row, for ``nnverify bench``.

    python benchmarks/input_rows.py OUT_DIR [--shared PATH]

Each unsat instance below gets one more input constraint, over its two widest inputs i and
j, ``(x_i - l_i) / w_i + (x_j - l_j) / w_j <= 0.5``: the region becomes the corner of the box
where both are in their lower half (the rest of the box is cut away, and the verdict stays
unsat). Writes the properties and ``instances.csv`` into OUT_DIR; run them side by side with
another version of nnverify:

    nnverify bench OUT_DIR/instances.csv --timeout-cap 60 --command "OTHER" --command-name before

The searches split the box and relax the row away, so what this measures is how much of the
box they have to cover: all of it, or only what the row leaves (``solvers.region``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from specs import read_property

INSTANCES = (  # (network, property), all unsat
    ("1_1", 1),
    ("1_1", 2),
    ("1_1", 3),
    ("1_1", 4),
    ("1_1", 5),
    ("2_5", 1),
    ("3_3", 2),
    ("3_3", 9),
    ("2_2", 3),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    default = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "vnncomp2021"
    parser.add_argument("--shared", type=Path, default=default)
    args = parser.parse_args()
    folder = args.shared / "acasxu"
    args.out.mkdir(parents=True, exist_ok=True)
    lines = ["onnx,vnnlib,timeout,expected"]
    for network, number in INSTANCES:
        source = folder / f"prop_{number}.vnnlib"
        box = read_property(source).cases[0].region.box
        width = box.upper - box.lower
        i, j = (int(k) for k in np.argsort(-width, kind="stable")[:2])
        a, b = 1 / float(width[i]), 1 / float(width[j])
        bound = float(box.lower[i]) * a + float(box.lower[j]) * b + 0.5
        row = f"(assert (<= (+ (* {a!r} X_{i}) (* {b!r} X_{j})) {bound!r}))\n"
        target = args.out / f"{network}_prop_{number}_cut.vnnlib"
        target.write_text(source.read_text() + "\n" + row)
        lines.append(f"{folder / f'ACASXU_run2a_{network}_batch_2000.onnx'},{target.resolve()},116,unsat")
    (args.out / "instances.csv").write_text("\n".join(lines) + "\n")
    print(f"{len(INSTANCES)} instances in {args.out / 'instances.csv'}")


if __name__ == "__main__":
    main()
