"""Security: user files are parsed, never evaluated or unpickled.

Models are read only as ONNX protobuf and properties only by our readers (external data is
covered in test_bad_inputs.py). The source check below keeps it so: no code in the four
packages may call anything that executes or unpickles data.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

import pytest

from specs import SpecError, parse_vnnlib1, parse_vnnlib2

PACKAGES = ("specs", "bounds", "solvers", "verify")
ROOT = Path(__file__).parents[2]

FORBIDDEN = {
    "eval", "exec", "compile", "__import__", "pickle.load", "pickle.loads", "torch.load", "marshal.loads",
    "shelve.open", "yaml.load", "dill.load", "dill.loads", "joblib.load", "numpy.load", "np.load",
}  # fmt: skip


def _called_names(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            function = node.func
            if isinstance(function, ast.Name):
                names.add(function.id)
            elif isinstance(function, ast.Attribute) and isinstance(function.value, ast.Name):
                names.add(f"{function.value.id}.{function.attr}")
    return names


@pytest.mark.parametrize("package", PACKAGES)
def test_no_code_executes_or_unpickles_data(package: str) -> None:
    sources = sorted((ROOT / package).rglob("*.py"))
    assert sources
    for source in sources:
        called = _called_names(ast.parse(source.read_text(), str(source)))
        assert not called & FORBIDDEN, f"{source.relative_to(ROOT)} calls {sorted(called & FORBIDDEN)}"


def test_the_source_check_sees_forbidden_calls() -> None:
    assert _called_names(ast.parse("import pickle\npickle.loads(b'')\neval('1')")) & FORBIDDEN == {
        "pickle.loads",
        "eval",
    }


@pytest.mark.parametrize("parse", [parse_vnnlib1, parse_vnnlib2])
def test_code_in_a_property_is_text(parse: Callable[..., object], tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    code = f"__import__('pathlib').Path('{marker}').touch()"
    text = f"(declare-const X_0 Real)\n(declare-const Y_0 Real)\n(assert (<= X_0 {code}))\n"
    with pytest.raises(SpecError):
        parse(text, source="evil.vnnlib")
    assert not marker.exists()
