"""read_property: version detection and file errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from specs import SpecError, read_property

V1 = "(declare-const X_0 Real)\n(declare-const Y_0 Real)\n(assert (<= 0 X_0 1))\n"
V2 = """(vnnlib-version <2.0>)
(declare-network net (declare-input X real [1]) (declare-output Y real [1]))
(assert (and (>= X[0] 0.0) (<= X[0] 1.0)))
"""


@pytest.mark.parametrize(
    ("text", "network"),
    [(V1, None), (V2, "net"), ("; vnnlib-version in a comment\n" + V1, None), ("; header\n\n  " + V2, "net")],
)
def test_dispatches_on_the_version_form(tmp_path: Path, text: str, network: str | None) -> None:
    path = tmp_path / "p.vnnlib"
    path.write_text(text)
    prop = read_property(path)
    assert prop.network == network and prop.source == str(path)
    assert prop.cases[0].region.box.upper.tolist() == [1.0]


def test_byte_order_mark_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "bom.vnnlib"
    path.write_bytes(b"\xef\xbb\xbf" + V2.encode())
    assert read_property(path).network == "net"


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.vnnlib"
    with pytest.raises(SpecError, match="cannot read property file") as caught:
        read_property(path)
    assert caught.value.file == str(path) and str(path) in str(caught.value)


def test_directory_and_binary_files(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="cannot read property file"):
        read_property(tmp_path)
    path = tmp_path / "binary.vnnlib"
    path.write_bytes(b"\xff\xfe\x00(")
    with pytest.raises(SpecError, match="not UTF-8") as caught:
        read_property(path)
    assert caught.value.file == str(path)


def test_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.vnnlib"
    path.write_text(V2.replace("1.0)))", "1.0))"))
    with pytest.raises(SpecError) as caught:
        read_property(path)
    assert caught.value.file == str(path) and caught.value.line == 3
