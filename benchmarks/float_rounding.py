"""The cost of proving for float32 execution: verdicts and seconds with and without
``Options.float_rounding`` on a few ACAS Xu and MNIST instances, in one process and run.

    python benchmarks/float_rounding.py [--timeout S] [--shared PATH]

Also prints the float error bound (largest over outputs) over the case's box, with CROWN's
node bounds as the search uses them, and at the box's centre point.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from bounds.crown import CrownBounds
from bounds.float_error import output_error
from specs import read_property
from verify.options import Options
from verify.pipeline import check_property, load_model

INSTANCES = (  # (folder, network, property)
    ("acasxu", "ACASXU_run2a_1_1_batch_2000.onnx", "prop_1.vnnlib"),
    ("acasxu", "ACASXU_run2a_2_7_batch_2000.onnx", "prop_2.vnnlib"),
    ("acasxu", "ACASXU_run2a_4_8_batch_2000.onnx", "prop_3.vnnlib"),
    ("acasxu", "ACASXU_run2a_3_3_batch_2000.onnx", "prop_4.vnnlib"),
    ("acasxu", "ACASXU_run2a_4_5_batch_2000.onnx", "prop_10.vnnlib"),
    ("mnistfc", "mnist-net_256x2.onnx", "prop_0_0.03.vnnlib"),
    ("mnistfc", "mnist-net_256x2.onnx", "prop_1_0.05.vnnlib"),
    ("mnistfc", "mnist-net_256x4.onnx", "prop_0_0.03.vnnlib"),
    ("mnistfc", "mnist-net_256x6.onnx", "prop_2_0.03.vnnlib"),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=60.0)
    default = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "vnncomp2021"
    parser.add_argument("--shared", type=Path, default=default)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"{'instance':52} {'box err':>9} {'point err':>9} {'real':>16} {'float32':>16}")
    for folder, network, spec in INSTANCES:
        onnx_path, spec_path = args.shared / folder / network, args.shared / folder / spec
        if not onnx_path.exists() or not spec_path.exists():
            print(f"{network} {spec}: not available, skipped")
            continue
        model, prop = load_model(onnx_path), read_property(spec_path)
        box = prop.cases[0].region.box
        lower, upper = torch.tensor(box.lower)[None], torch.tensor(box.upper)[None]
        centre = (lower + upper) / 2
        crown = CrownBounds(model.graph, torch.eye(model.graph.output.size, dtype=torch.float64))
        wide = output_error(model.graph, lower, upper, crown.analyse(lower, upper).bounds).max().item()
        point = output_error(model.graph, centre, centre).max().item()
        cells = []
        for float_rounding in (False, True):
            start = time.monotonic()
            result = check_property(model, prop, Options(timeout=args.timeout, float_rounding=float_rounding))
            cells.append(f"{result.status.value} {time.monotonic() - start:6.1f}s")
        print(f"{network + ' ' + spec:52} {wide:9.2g} {point:9.2g} {cells[0]:>16} {cells[1]:>16}", flush=True)


if __name__ == "__main__":
    main()
