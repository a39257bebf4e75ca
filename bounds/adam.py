"""Adam (Kingma and Ba, 2015) for the few tensors alpha/beta-CROWN optimises.

Our own few lines rather than ``torch.optim.Adam``: torch's optimisers import
``torch._dynamo`` on first use, 0.8-1.3 s of every process that optimises a bound (about a
third of an easy ACAS Xu instance's wall time), for no use here.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

Tensor = torch.Tensor


class Adam:
    """Gradient *descent* on ``params`` with Adam's moment estimates, as torch's default
    Adam (``betas`` (0.9, 0.999), ``eps`` added to the bias-corrected root of the second moment)."""

    def __init__(
        self,
        params: Sequence[Tensor],
        lr: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        *,
        moments: tuple[Sequence[Tensor], Sequence[Tensor], int] | None = None,
    ) -> None:
        """``moments`` (first, second, steps taken) go on from an earlier run's state, for
        example another optimiser's restricted to the entries these ``params`` hold."""
        self.params = list(params)
        self.lr, self.betas, self.eps = lr, betas, eps
        if moments is None:
            self.first = [torch.zeros_like(p) for p in self.params]
            self.second = [torch.zeros_like(p) for p in self.params]
            self.steps = 0
        else:
            self.first, self.second, self.steps = list(moments[0]), list(moments[1]), moments[2]

    def step(self, loss: Tensor) -> None:
        """One step down the gradient of the scalar ``loss``; parameters it does not reach stay."""
        grads = torch.autograd.grad(loss, self.params, allow_unused=True)
        self.steps += 1
        beta1, beta2 = self.betas
        correction1 = 1 - beta1**self.steps
        correction2 = 1 - beta2**self.steps
        with torch.no_grad():
            for p, grad, first, second in zip(self.params, grads, self.first, self.second, strict=True):
                if grad is None:
                    continue
                first.mul_(beta1).add_(grad, alpha=1 - beta1)
                second.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                denominator = (second / correction2).sqrt_().add_(self.eps)
                p.addcdiv_(first, denominator, value=-self.lr / correction1)
