"""Our Adam follows torch.optim.Adam's trajectory (same defaults, same update)."""

from __future__ import annotations

import torch

from bounds.adam import Adam


def _loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return ((x - 3) ** 2).sum() + (x[:2] * y).sum() ** 2


def test_adam_matches_torch() -> None:
    torch.manual_seed(0)
    start_x, start_y = torch.randn(5, dtype=torch.float64), torch.randn(2, dtype=torch.float64)
    ours_x, ours_y = start_x.clone().requires_grad_(True), start_y.clone().requires_grad_(True)
    ref_x, ref_y = start_x.clone().requires_grad_(True), start_y.clone().requires_grad_(True)
    ours = Adam([ours_x, ours_y], lr=0.1)
    reference = torch.optim.Adam([ref_x, ref_y], lr=0.1)
    for _ in range(30):
        ours.step(_loss(ours_x, ours_y))
        reference.zero_grad()
        _loss(ref_x, ref_y).backward()  # type: ignore[no-untyped-call]
        reference.step()
    torch.testing.assert_close(ours_x, ref_x)
    torch.testing.assert_close(ours_y, ref_y)


def test_adam_leaves_unreached_parameters() -> None:
    x = torch.ones(3, dtype=torch.float64, requires_grad=True)
    unused = torch.ones(2, dtype=torch.float64, requires_grad=True)
    optimiser = Adam([x, unused], lr=0.5)
    optimiser.step((x**2).sum())
    assert torch.equal(unused.detach(), torch.ones(2, dtype=torch.float64))
    assert bool((x.detach() < 1).all())


def test_adam_goes_on_from_given_moments_as_if_never_stopped() -> None:
    """An optimiser built from another's parameters, moments and step count takes the same
    steps the first would have taken (how alpha/beta-CROWN moves to a smaller pack)."""
    torch.manual_seed(1)
    start_x, start_y = torch.randn(5, dtype=torch.float64), torch.randn(2, dtype=torch.float64)
    x, y = start_x.clone().requires_grad_(True), start_y.clone().requires_grad_(True)
    whole = Adam([x, y], lr=0.1)
    for _ in range(20):
        whole.step(_loss(x, y))
    x2, y2 = start_x.clone().requires_grad_(True), start_y.clone().requires_grad_(True)
    first_half = Adam([x2, y2], lr=0.1)
    for _ in range(10):
        first_half.step(_loss(x2, y2))
    x3, y3 = x2.detach().clone().requires_grad_(True), y2.detach().clone().requires_grad_(True)
    moments = (first_half.first, first_half.second, first_half.steps)
    second_half = Adam([x3, y3], lr=0.1, moments=moments)
    for _ in range(10):
        second_half.step(_loss(x3, y3))
    torch.testing.assert_close(x3, x)
    torch.testing.assert_close(y3, y)
