"""The local-robustness builder."""

from __future__ import annotations

import numpy as np
import pytest

from specs import SpecError, local_robustness


def test_ball_clipped_to_the_valid_range() -> None:
    x = np.array([[0.1, 0.5], [0.9, 0.5]])
    prop = local_robustness(x, 0.2, 2, num_classes=3, lower=0.0, upper=np.array([1.0, 0.6]))
    assert prop.input.shape == (2, 2) and prop.output.shape == (3,)
    assert prop.input.element_type == prop.output.element_type == "real"
    (case,) = prop.cases
    assert np.allclose(case.region.box.lower, [0.0, 0.3, 0.7, 0.3])
    assert np.allclose(case.region.box.upper, [0.3, 0.6, 1.0, 0.6])
    assert len(case.region.constraints) == 0
    assert [c.A.tolist() for c in case.condition.clauses] == [[[-1.0, 0.0, 1.0]], [[0.0, -1.0, 1.0]]]
    assert all(c.b.tolist() == [0.0] and c.strict.tolist() == [False] for c in case.condition.clauses)


def test_violation_means_another_class_scores_at_least_as_high() -> None:
    prop = local_robustness([0.5], 0.1, 0, num_classes=3, input_name="img", output_name="logits")
    assert (prop.input.name, prop.output.name) == ("img", "logits")
    assert not prop.is_violated_by([0.5], [2.0, 1.0, 1.5])
    assert prop.is_violated_by([0.55], [2.0, 2.0, 1.0])  # a tie is a counterexample
    assert prop.is_violated_by([0.45], [1.0, 0.0, 3.0])
    assert not prop.is_violated_by([0.7], [1.0, 0.0, 3.0])  # outside the ball


def test_unclipped_and_zero_radius() -> None:
    (case,) = local_robustness([-3.0, 7.0], 0.0, 1, num_classes=2, element_type="float32").cases
    assert case.region.box.lower.tolist() == case.region.box.upper.tolist() == [-3.0, 7.0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"eps": -0.1}, "eps must be finite and non-negative"),
        ({"eps": float("nan")}, "eps must be finite and non-negative"),
        ({"eps": float("inf")}, "eps must be finite and non-negative"),
        ({"label": 3}, "label 3 is not a class"),
        ({"label": -1}, "label -1 is not a class"),
        ({"label": 1.5}, "label must be an integer"),
        ({"num_classes": 1, "label": 0}, "num_classes must be at least 2"),
        ({"x": [0.5, np.nan]}, "finite numbers"),
        ({"x": []}, "non-empty"),
        ({"x": ["a", "b"]}, "array of numbers"),
        ({"x": [[0.5], [0.5, 0.5]]}, "array of numbers"),
        ({"lower": [0.0, 0.6]}, r"x\[1\] \(flattened\) lies outside"),
        ({"upper": 0.4}, r"x\[0\] \(flattened\) lies outside"),
        ({"upper": [1.0, 1.0, 1.0]}, "cannot be broadcast"),
        ({"lower": np.nan}, "lower contains NaN"),
    ],
)
def test_arguments_are_validated(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"x": [0.5, 0.5], "eps": 0.1, "label": 0, "num_classes": 3}
    args.update(kwargs)
    with pytest.raises(SpecError, match=message):
        local_robustness(**args)
