"""``nnverify report``: the HTML parses and holds the summary, plots, table and image pairs."""

from __future__ import annotations

import base64
import json
from html.parser import HTMLParser

import torch

from specs import write_vnnlib1
from verify import api
from verify.cli import EXIT_INPUT, EXIT_OK, main

VOID = {"meta", "img", "br", "hr", "link", "input"}
QUERY = """(declare-const X_0 Real)
(declare-const Y_0 Real)
(declare-const Y_1 Real)
(assert (>= X_0 -1))
(assert (<= X_0 1))
(assert (>= Y_0 0.9))
"""


class Structure(HTMLParser):
    """Sections, images, table rows and headings of a page; fails on unbalanced tags."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.sections: list[str] = []
        self.images: list[dict[str, str | None]] = []
        self.rows: dict[str, int] = {}
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "section":
            self.sections.append(attributes["id"])
        if tag == "img":
            self.images.append(attributes)
        if tag == "tr" and self.sections:
            self.rows[self.sections[-1]] = self.rows.get(self.sections[-1], 0) + 1
        if tag not in VOID:
            self.open.append(tag)

    def handle_endtag(self, tag):
        assert self.open and self.open[-1] == tag, (self.open[-3:], tag)
        self.open.pop()

    def handle_data(self, data):
        self.text.append(data)


def _image_model() -> api.Model:
    """4x4 images; class 0 iff the mean pixel is above 0.5."""
    linear = torch.nn.Linear(16, 2)
    with torch.no_grad():
        linear.weight.copy_(torch.stack([torch.full((16,), 1 / 16), torch.zeros(16)]))
        linear.bias.copy_(torch.tensor([0.0, 0.5]))
    return api.load(torch.nn.Sequential(torch.nn.Flatten(), linear), input_shape=(1, 1, 4, 4))


def test_report_of_a_sweep_and_a_result(tmp_path, abs_model_path, capsys):
    model = _image_model()
    images = [[0.55] * 16, [0.9] * 16]
    api.certify_robustness(
        model, images, [0, 0], [0.01, 0.1], lower=0, upper=1, options=api.Options(timeout=5), json=tmp_path / "s.json"
    )
    query = tmp_path / "q.vnnlib"
    query.write_text(QUERY)
    assert main(["run", str(abs_model_path), str(query), "--json", str(tmp_path / "r.json")]) == EXIT_OK
    out = tmp_path / "report.html"
    assert main(["report", str(tmp_path / "s.json"), str(tmp_path / "r.json"), "-o", str(out)]) == EXIT_OK
    page = Structure()
    page.feed(out.read_text())
    page.close()
    assert page.open == []
    assert page.sections == ["summary", "robustness", "plots", "instances", "counterexamples"]
    # the curve, the time/bounds plots, and one original/counterexample/difference figure
    assert len(page.images) == 3
    for image in page.images:
        assert image["alt"] and image["src"].startswith("data:image/png;base64,")
        assert base64.b64decode(image["src"].split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert page.rows["instances"] == 1 + 4 + 1  # header, 2 points x 2 radii, the abs result
    assert page.rows["robustness"] == 1 + 2
    text = " ".join(page.text)
    assert "50.0% at eps 0.1" in text and "counterexample for point 0 eps 0.1" in out.read_text()
    sweep = json.loads((tmp_path / "s.json").read_text())
    assert sweep["certified_accuracy"] == [1.0, 0.5]


def test_report_refuses_a_foreign_file(tmp_path, capsys):
    path = tmp_path / "x.json"
    path.write_text("[1, 2]")
    assert main(["report", str(path), "-o", str(tmp_path / "r.html")]) == EXIT_INPUT
    assert "not an nnverify result" in capsys.readouterr().err
    path.write_text('{"schema": "nnverify.bench", "rows": [{"tool": "x"}]}')
    assert main(["report", str(path), "-o", str(tmp_path / "r.html")]) == EXIT_INPUT
    assert "malformed nnverify.bench document" in capsys.readouterr().err


def test_a_bench_counterexample_is_drawn_against_its_input_box_centre(tmp_path, capsys):
    model = _image_model()
    model_path = api.save_model(model, tmp_path / "image.onnx")
    query = tmp_path / "robust.vnnlib"
    query.write_text(write_vnnlib1(api.robustness_property(model, [0.55] * 16, 0.1, 0, lower=0, upper=1)))
    record = tmp_path / "r.json"
    assert main(["run", str(model_path), str(query), "--json", str(record)]) == EXIT_OK
    out = tmp_path / "report.html"
    assert main(["report", str(record), "-o", str(out)]) == EXIT_OK
    page = Structure()
    page.feed(out.read_text())
    assert page.sections[-1] == "counterexamples" and len(page.images) == 2
    assert page.images[-1]["alt"] == "counterexample for robust.vnnlib"


def test_the_table_and_plot_show_the_domains_each_search_bounded(tmp_path, abs_model_path, capsys):
    # The pipeline records ``domains_bounded`` (``boxes_bounded`` before): the column was blank.
    query = tmp_path / "q.vnnlib"
    query.write_text(QUERY)
    record = tmp_path / "r.json"
    assert main(["run", str(abs_model_path), str(query), "--json", str(record)]) == EXIT_OK
    document = json.loads(record.read_text())
    out = tmp_path / "report.html"
    for key, value in (("domains_bounded", 1234), ("boxes_bounded", 77)):
        stats = {k: v for k, v in document["statistics"].items() if k not in ("domains_bounded", "boxes_bounded")}
        record.write_text(json.dumps({**document, "statistics": {**stats, key: value}}))
        assert main(["report", str(record), "-o", str(out)]) == EXIT_OK
        page = Structure()
        page.feed(out.read_text())
        assert "domains" in page.text and str(value) in page.text, key
