"""Every VNN-COMP 2021 ACAS Xu and MNIST-FC property in ../shared reads with the expected shape."""

from __future__ import annotations

from pathlib import Path

import pytest

from specs import Property, parse_vnnlib1, read_property, write_vnnlib1, write_vnnlib2
from specs.vnnlib2 import parse_vnnlib2

BENCHMARKS = Path(__file__).resolve().parents[2].parent / "shared" / "benchmarks" / "vnncomp2021"

pytestmark = pytest.mark.shared


def properties(benchmark: str) -> list[Path]:
    folder = BENCHMARKS / benchmark
    if not folder.is_dir():
        pytest.skip(f"{folder} not available")
    return sorted(folder.glob("prop_*.vnnlib"))


def read_and_round_trip(path: Path) -> Property:
    prop = read_property(path)
    assert parse_vnnlib1(write_vnnlib1(prop)) == prop
    assert parse_vnnlib2(write_vnnlib2(prop, network="net")).cases == prop.cases
    return prop


def test_acasxu_property_1() -> None:
    (path,) = [p for p in properties("acasxu") if p.name == "prop_1.vnnlib"]
    prop = read_and_round_trip(path)
    assert prop.input.shape == (5,) and prop.output.shape == (5,) and prop.network is None
    (case,) = prop.cases
    assert case.region.box.lower.tolist() == [0.6, -0.5, -0.5, 0.45, -0.5]
    assert case.region.box.upper.tolist() == [0.679857769, 0.5, 0.5, 0.5, -0.45]
    assert len(case.region.constraints) == 0
    (clause,) = case.condition.clauses
    assert clause.A.tolist() == [[-1.0, 0.0, 0.0, 0.0, 0.0]]
    assert clause.b.tolist() == [-3.991125645861615] and clause.strict.tolist() == [False]


def test_acasxu_property_6_has_two_regions() -> None:
    (path,) = [p for p in properties("acasxu") if p.name == "prop_6.vnnlib"]
    prop = read_and_round_trip(path)
    assert len(prop.cases) == 2
    assert [len(case.condition.clauses) for case in prop.cases] == [4, 4]
    assert [case.region.box.lower[1] for case in prop.cases] == [0.11140846, -0.499999896]
    assert all(len(clause) == 1 for case in prop.cases for clause in case.condition.clauses)


def test_all_acasxu_properties() -> None:
    paths = properties("acasxu")
    assert len(paths) == 10
    clauses = {p.name: [len(c.condition.clauses) for c in read_and_round_trip(p).cases] for p in paths}
    assert clauses == {
        "prop_1.vnnlib": [1],
        "prop_2.vnnlib": [1],
        "prop_3.vnnlib": [1],
        "prop_4.vnnlib": [1],
        "prop_5.vnnlib": [4],
        "prop_6.vnnlib": [4, 4],
        "prop_7.vnnlib": [2],
        "prop_8.vnnlib": [3],
        "prop_9.vnnlib": [4],
        "prop_10.vnnlib": [4],
    }


def test_all_mnistfc_properties_parse() -> None:
    """Structure only; parse speed is measured by benchmarks/parse_properties.py."""
    paths = properties("mnistfc")
    assert paths
    for path in paths:
        prop = read_property(path)
        assert prop.input.shape == (784,) and prop.output.shape == (10,)
        (case,) = prop.cases
        assert len(case.condition.clauses) == 9 and len(case.region.constraints) == 0
        assert (case.region.box.lower >= 0).all() and (case.region.box.upper <= 1).all()
        rows = [clause.A[0] for clause in case.condition.clauses]
        (label,) = {int(row.argmax()) for row in rows}  # every clause is Y_j - Y_label >= 0
        assert sorted(int(row.argmin()) for row in rows) == [j for j in range(10) if j != label]
