"""``nnverify demo``: train a digit classifier, save it as ONNX, certify its robustness, report.

Nothing is downloaded: the data is scikit-learn's 8x8 handwritten digits (shipped inside the
package), the network is trained in seconds with torch, and the files land in
``nnverify-demo/``: the model, a robustness sweep (JSON), an HTML report and one query
file to try from the command line.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch

from specs import write_vnnlib1
from verify import api
from verify.outputs import check_folder
from verify.report import write_report

OUT_DIR = Path("nnverify-demo")
EPSILONS = (0.01, 0.02, 0.04, 0.08)  # pixels are in [0, 1]; the digits have 17 grey levels
POINTS = 25  # test images certified
TIMEOUT_S = 5.0  # per image and radius
SEED = 0


def digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """scikit-learn's digits scaled to [0, 1]: a fixed shuffled split, 1400 train, the rest test."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x = np.asarray(data.data, dtype=np.float32) / 16.0
    y = np.asarray(data.target, dtype=np.int64)
    order = np.random.default_rng(SEED).permutation(len(x))
    train, test = order[:1400], order[1400:]
    return x[train], y[train], x[test], y[test]


def train(x: np.ndarray, y: np.ndarray) -> torch.nn.Module:
    """A 64-32-32-10 ReLU network, full-batch Adam (deterministic)."""
    torch.manual_seed(SEED)
    net = torch.nn.Sequential(
        torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10)
    )
    inputs, targets = torch.from_numpy(x), torch.from_numpy(y)
    optimiser = torch.optim.Adam(net.parameters(), lr=0.01)
    for _ in range(300):
        optimiser.zero_grad()
        torch.nn.functional.cross_entropy(net(inputs), targets).backward()  # type: ignore[no-untyped-call]
        optimiser.step()
    return net.eval()


def run_demo() -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    console = Console(soft_wrap=True)
    check_folder(OUT_DIR, "the demo's files")
    OUT_DIR.mkdir(exist_ok=True)
    start = time.monotonic()
    x_train, y_train, x_test, y_test = digits()
    net = train(x_train, y_train)
    with torch.no_grad():
        accuracy = float((net(torch.from_numpy(x_test)).argmax(1).numpy() == y_test).mean())
    model = api.load(net, input_shape=(1, 64))
    model_path = api.save_model(model, OUT_DIR / "digits.onnx")
    console.print(
        f"trained a 64-32-32-10 ReLU classifier on scikit-learn's digits in {time.monotonic() - start:.1f}s: "
        f"test accuracy {accuracy:.1%} -> {model_path}"
    )

    options = api.Options(timeout=TIMEOUT_S)
    sweep_path = OUT_DIR / "sweep.json"
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with progress:
        bar = progress.add_task("certifying", total=POINTS * len(EPSILONS))
        sweep = api.certify_robustness(
            model,
            x_test[:POINTS],
            y_test[:POINTS].tolist(),
            EPSILONS,
            lower=0.0,
            upper=1.0,
            options=options,
            json=sweep_path,
            image_shape=(8, 8),
            on_result=lambda _: progress.advance(bar),
        )
    table = Table(title=f"local robustness of {POINTS} test images ({TIMEOUT_S:g} s per check)")
    for column in ("eps", "certified (unsat)", "counterexample (sat)", "undecided", "misclassified", "time"):
        table.add_column(column, justify="right")
    for eps in sweep.epsilons:
        mine = [r for r in sweep.results if r.eps == eps]
        count = {s: sum(r.status is s for r in mine) for s in (api.Status.UNSAT, api.Status.SAT, None)}
        table.add_row(
            f"{eps:g}",
            f"{count[api.Status.UNSAT]} ({sweep.certified_accuracy(eps):.0%})",
            str(count[api.Status.SAT]),
            str(len(mine) - sum(count.values())),
            str(count[None]),
            f"{sum(r.time for r in mine):.1f}s",
        )
    console.print(table)
    report_path = OUT_DIR / "report.html"
    write_report([sweep_path], report_path)
    label = int(y_test[0])
    example = OUT_DIR / f"digit0_eps{EPSILONS[1]:g}.vnnlib"
    prop = api.robustness_property(model, x_test[0], EPSILONS[1], label, lower=0.0, upper=1.0)
    example.write_text(write_vnnlib1(prop))
    console.print(f"report: {report_path}   sweep with every result record: {sweep_path}")
    console.print("next, from the command line:", highlight=False)
    console.print(f"  nnverify run {model_path} {example} --timeout 20 --json {OUT_DIR / 'result.json'}")
    console.print(f"  nnverify check-result {sweep_path} {model_path}")
    console.print(f"  nnverify report {sweep_path} -o {report_path}")
    console.print(f"done in {time.monotonic() - start:.1f}s")
    decided = sum(r.status in (api.Status.SAT, api.Status.UNSAT) for r in sweep.results)
    return 0 if decided else 1


if __name__ == "__main__":
    sys.exit(run_demo())
