"""What every operator provides, and the base classes that derive most of it.

An ``Op`` is one ONNX node with its constant inputs (weights, shapes, axes) baked in; its
methods take only the node's *variable* inputs. Every tensor carries a leading batch axis
ahead of its ONNX shape, so one call evaluates or bounds many points or boxes at once.
Arithmetic is float64 torch and assumes real arithmetic (see ARCHITECTURE.md).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
import torch

from bounds.errors import ShapeError

Tensor = torch.Tensor
Shape = tuple[int, ...]
DTYPE = torch.float64


@dataclass(frozen=True)
class Interval:
    """Elementwise bounds ``lower <= value <= upper``; both of shape (batch, *shape)."""

    lower: Tensor
    upper: Tensor

    @staticmethod
    def point(x: Tensor) -> Interval:
        return Interval(x, x)

    @property
    def center(self) -> Tensor:
        return (self.lower + self.upper) / 2

    @property
    def radius(self) -> Tensor:
        return (self.upper - self.lower) / 2

    def map(self, f: Callable[[Tensor], Tensor]) -> Interval:
        """Apply the same function to both bounds (right for nondecreasing f)."""
        return Interval(f(self.lower), f(self.upper))

    def intersect(self, other: Interval) -> Interval:
        """Bounds that both enclosures give (empty where they cross)."""
        return Interval(torch.maximum(self.lower, other.lower), torch.minimum(self.upper, other.upper))


@dataclass(frozen=True)
class Operand:
    """One input of an ONNX node as the importer sees it: a shape, and a value if constant."""

    name: str
    shape: Shape
    value: np.ndarray | None = None

    @property
    def is_constant(self) -> bool:
        return self.value is not None

    @property
    def is_omitted(self) -> bool:
        """An optional input left out (an empty name in ONNX)."""
        return not self.name


@dataclass(frozen=True)
class NodeContext:
    """Everything an op factory needs: the ONNX node, its operands and its attributes."""

    node: onnx.NodeProto
    operands: tuple[Operand, ...]
    attributes: Mapping[str, Any]
    opset: int = 21
    """The model's default-domain opset: some ops changed meaning across versions (Softmax)."""

    def attr(self, name: str, default: Any = None) -> Any:
        return self.attributes.get(name, default)

    @property
    def variables(self) -> tuple[Operand, ...]:
        return tuple(o for o in self.operands if not o.is_constant and not o.is_omitted)

    def constant(self, index: int) -> np.ndarray | None:
        """The value of input ``index`` if it is present and constant, else None."""
        if index >= len(self.operands):
            return None
        return self.operands[index].value


class UnsupportedForm(Exception):
    """Raised by a factory for a node form it cannot analyse (the reason is the message)."""


class Op(ABC):
    """One operator applied to a node's variable inputs, batched over a leading axis.

    ``output_shape`` is the ONNX shape of the result, without the batch axis.
    """

    output_shape: Shape
    affine: bool = False
    """True when the output is affine in the variable inputs taken together
    (``L1 x1 + ... + Lk xk + c``): backward propagation then goes through ``evaluate``'s
    vector-Jacobian product, exactly, with no relaxation."""

    @abstractmethod
    def evaluate(self, *xs: Tensor) -> Tensor:
        """The exact output for a batch of concrete inputs."""

    @abstractmethod
    def interval(self, *xs: Interval) -> Interval:
        """Elementwise bounds on the output, valid for every input within ``xs``."""

    def linear_map(self, input_shape: Shape) -> tuple[Tensor, Tensor] | None:
        """For a single-input affine op: dense (n_out, n_in) matrix and flat offset; else None."""
        return None

    def relaxation(self, lower: Tensor, upper: Tensor) -> Relaxation | None:
        """For an elementwise op: linear bounds valid on [lower, upper]; else None."""
        return None

    def linear_relaxation(self, *xs: Interval) -> LinearRelaxation | None:
        """For a single-input op that is neither affine nor elementwise (MaxPool, Softmax...):
        dense linear bounds valid on the box ``xs``; None when the op has none (backward
        propagation then bounds the output by its interval, a relaxation with zero slope)."""
        return None


@dataclass(frozen=True)
class Relaxation:
    """Elementwise linear bounds ``lower_slope*x + lower_offset <= f(x) <= upper_slope*x + upper_offset``
    valid for x in the interval they were computed for; all have the input's shape.

    Any lower slope within ``[lower_slope_min, lower_slope_max]`` keeps the lower bound valid
    with the same offset: the freedom alpha-CROWN optimises (Xu et al. 2021).
    """

    lower_slope: Tensor
    lower_offset: Tensor
    upper_slope: Tensor
    upper_offset: Tensor
    lower_slope_min: Tensor
    lower_slope_max: Tensor


@dataclass(frozen=True)
class LinearRelaxation:
    """Linear bounds ``lower_weight @ x + lower_bias <= f(x) <= upper_weight @ x + upper_bias``
    on flat input and output, valid on the box they were computed for. Weights are
    (batch, n_out, n_in), biases (batch, n_out)."""

    lower_weight: Tensor
    lower_bias: Tensor
    upper_weight: Tensor
    upper_bias: Tensor


class Monotone(Op):
    """An op that is nondecreasing in each input element: bounds are the images of bounds.

    Covers elementwise activations (ReLU, sigmoid, tanh) and pure data movement (reshape,
    transpose...), which maps lower bounds to lower bounds.
    """

    def interval(self, *xs: Interval) -> Interval:
        (x,) = xs
        return x.map(self.evaluate)


class Affine(Op):
    """A single-input affine op ``f(x) = L(x) + c``.

    Bounds come in center-radius form: center ``f(mid)``, radius ``|L|(rad)``, where ``|L|``
    is L with every coefficient replaced by its absolute value.
    """

    affine = True

    @abstractmethod
    def linear(self, x: Tensor) -> Tensor:
        """The linear part L (no offset)."""

    @abstractmethod
    def abs_linear(self, x: Tensor) -> Tensor:
        """The map |L| with absolute-valued coefficients, applied to nonnegative x."""

    def interval(self, *xs: Interval) -> Interval:
        (x,) = xs
        center = self.evaluate(x.center)
        radius = self.abs_linear(x.radius)
        return Interval(center - radius, center + radius)

    def linear_map(self, input_shape: Shape) -> tuple[Tensor, Tensor]:
        """Dense (n_out, n_in) matrix of L and the flat offset c, found by evaluation."""
        offset = self.evaluate(torch.zeros(1, *input_shape, dtype=DTYPE)).reshape(-1)
        return _matrix_by_evaluation(self.linear, input_shape), offset


def _matrix_by_evaluation(linear: Callable[[Tensor], Tensor], input_shape: Shape) -> Tensor:
    """The dense (n_out, n_in) matrix of a linear map, from its images of the basis vectors."""
    n_in = int(np.prod(input_shape, dtype=np.int64))
    basis = torch.eye(n_in, dtype=DTYPE).reshape(n_in, *input_shape)
    return linear(basis).reshape(n_in, -1).T.contiguous()


def affine_matrices(op: Op, input_shapes: Sequence[Shape]) -> tuple[tuple[Tensor, ...], Tensor]:
    """For an op with ``affine`` set, ``f(x1, ..., xk) = M1 x1 + ... + Mk xk + c`` on flat
    tensors: the dense (n_out, n_in_k) matrices ``Mk`` and the flat offset ``c``.

    Single-input ops give theirs through ``linear_map``; ops of several inputs (SumOfTwo) are
    evaluated on the basis vectors of one input with the others at zero, less the offset.
    """
    if not op.affine:
        raise ValueError(f"{type(op).__name__} is not affine")
    if len(input_shapes) == 1:
        mapped = op.linear_map(input_shapes[0])
        if mapped is not None:
            return (mapped[0],), mapped[1]
    zeros = [torch.zeros(1, *shape, dtype=DTYPE) for shape in input_shapes]
    offset = op.evaluate(*zeros).reshape(-1)
    matrices = []
    for k, shape in enumerate(input_shapes):
        n = int(np.prod(shape, dtype=np.int64))
        inputs = [z.expand(n, *z.shape[1:]) for z in zeros]
        inputs[k] = torch.eye(n, dtype=DTYPE).reshape(n, *shape)
        images = op.evaluate(*inputs).reshape(n, -1) - offset
        matrices.append(images.T.contiguous())
    return tuple(matrices), offset


class DataMovement(Monotone):
    """An op that only moves or reshapes data: monotone, and linear with a 0/1 matrix."""

    affine = True

    def linear_map(self, input_shape: Shape) -> tuple[Tensor, Tensor]:
        n_out = int(np.prod(self.output_shape, dtype=np.int64))
        return _matrix_by_evaluation(self.evaluate, input_shape), torch.zeros(n_out, dtype=DTYPE)


OpFactory = Callable[[NodeContext], Op]


def as_tensor(value: np.ndarray) -> Tensor:
    """A float64 torch copy of a constant."""
    return torch.as_tensor(np.asarray(value, dtype=np.float64)).clone()


def broadcast_shape(*shapes: Sequence[int]) -> Shape:
    """The numpy/ONNX broadcast of the shapes, or ShapeError."""
    try:
        return tuple(int(d) for d in np.broadcast_shapes(*(tuple(s) for s in shapes)))
    except ValueError as error:
        raise ShapeError(f"shapes {list(shapes)} do not broadcast") from error


def single_variable(ctx: NodeContext) -> Operand:
    """The node's one variable input; other forms are unsupported."""
    variables = ctx.variables
    if len(variables) != 1:
        raise UnsupportedForm(f"expected one variable input, got {len(variables)}")
    return variables[0]


def pad_rank(x: Tensor, shape: Shape, rank: int) -> Tensor:
    """View a batched tensor of ONNX shape ``shape`` with leading 1s up to ``rank`` dims."""
    return x.reshape(x.shape[0], *((1,) * (rank - len(shape))), *shape)


class ScaleShift(Affine):
    """Elementwise ``x * scale + shift`` with broadcast constants.

    The common form of Add, Sub, Mul, Div and Neg with one constant operand, and of
    BatchNormalization at inference.
    """

    def __init__(self, input_shape: Shape, scale: np.ndarray, shift: np.ndarray) -> None:
        self.input_shape = input_shape
        self.output_shape = broadcast_shape(input_shape, scale.shape, shift.shape)
        self.scale = as_tensor(scale)
        self.shift = as_tensor(shift)

    def _padded(self, x: Tensor) -> Tensor:
        return pad_rank(x, self.input_shape, len(self.output_shape))

    def evaluate(self, *xs: Tensor) -> Tensor:
        return self.linear(xs[0]) + self.shift

    def linear(self, x: Tensor) -> Tensor:
        out = self._padded(x) * self.scale
        return out.expand(x.shape[0], *self.output_shape)

    def abs_linear(self, x: Tensor) -> Tensor:
        out = self._padded(x) * self.scale.abs()
        return out.expand(x.shape[0], *self.output_shape)


class Binary(Op):
    """An op of two variable operands that broadcast against each other."""

    def __init__(self, a: Shape, b: Shape) -> None:
        self.shapes = (a, b)
        self.output_shape = broadcast_shape(a, b)

    def _operands(self, a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
        """Both operands viewed with the output's rank, ready to broadcast."""
        rank = len(self.output_shape)
        return pad_rank(a, self.shapes[0], rank), pad_rank(b, self.shapes[1], rank)


class SumOfTwo(Binary):
    """``a + sign * b`` for two variable operands with broadcasting (Add, Sub)."""

    affine = True

    def __init__(self, a: Shape, b: Shape, sign: float) -> None:
        super().__init__(a, b)
        self.sign = sign

    def evaluate(self, *xs: Tensor) -> Tensor:
        a, b = self._operands(*xs)
        return a + self.sign * b

    def interval(self, *xs: Interval) -> Interval:
        a, b = xs
        al, bl = self._operands(a.lower, b.lower)
        au, bu = self._operands(a.upper, b.upper)
        if self.sign > 0:
            return Interval(al + bl, au + bu)
        return Interval(al - bu, au - bl)


class Reshaped(DataMovement):
    """Pure reshaping (Flatten, Reshape, Squeeze, Unsqueeze, Identity): same data, new shape."""

    def __init__(self, input_shape: Shape, output_shape: Shape) -> None:
        if int(np.prod(input_shape, dtype=np.int64)) != int(np.prod(output_shape, dtype=np.int64)):
            raise ShapeError(f"cannot reshape {list(input_shape)} to {list(output_shape)}")
        self.output_shape = output_shape

    def evaluate(self, *xs: Tensor) -> Tensor:
        (x,) = xs
        return x.reshape(x.shape[0], *self.output_shape)


class Elementwise(Monotone):
    """A nondecreasing elementwise activation given by a torch function."""

    function: Callable[[Tensor], Tensor]

    def __init__(self, shape: Shape) -> None:
        self.output_shape = shape

    def evaluate(self, *xs: Tensor) -> Tensor:
        return type(self).function(xs[0])


def axes_argument(ctx: NodeContext) -> list[int] | None:
    """The ``axes`` of a node: its second input from opset 13 on, an attribute before;
    None when absent. An axes input that is not constant is an unsupported form."""
    if len(ctx.operands) > 1:
        given = ctx.constant(1)
        if given is None:
            raise UnsupportedForm("axes are not constant")
        return [int(a) for a in given.reshape(-1)]
    axes = ctx.attr("axes")
    return [int(a) for a in axes] if axes is not None else None


def normalise_axes(axes: Sequence[int], rank: int) -> tuple[int, ...]:
    """ONNX axes (negative counts from the end) as sorted nonnegative axes, or ShapeError."""
    out = sorted(a + rank if a < 0 else a for a in axes)
    if any(a < 0 or a >= rank for a in out) or len(set(out)) != len(out):
        raise ShapeError(f"axes {list(axes)} out of range for rank {rank}")
    return tuple(out)
