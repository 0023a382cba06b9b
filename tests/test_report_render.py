"""The report renders what the tables say: placeholders such as ``<digest>`` stay visible in
Markdown and HTML, titles carry the data's own counts, the notebook's sections come in paper
order with their figures, and the figures stay legible (auscult.reporting.markdown,
.notebook, .figures)."""

from __future__ import annotations

import html.parser
import json
import zlib

import numpy as np
import pandas as pd
import pytest

from auscult.evaluation.metrics import binary_metrics
from auscult.papers.audiofuse import tables as audiofuse
from auscult.reporting import compute_cost, cross_dataset, figures, notebook
from auscult.reporting import markdown as md
from auscult.reporting.tables import Cell, fill_title, long_frame, paper_values, render_markdown

CTX = {"data": "synthetic", "weights": "scratch", "budget": "demo"}
PLACEHOLDERS = ("<family>", "<digest>", "<row>", "<model>", "<k>", "<variant>", "<premise>")


class _Text(html.parser.HTMLParser):
    """The text a browser shows: character data only, entities decoded, tags dropped."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data):
        self.parts.append(data)


def visible_text(page: str) -> str:
    parser = _Text()
    parser.feed(page)
    return "".join(parser.parts)


def to_html(markdown: str) -> str:
    """Markdown as nbconvert's HTML export renders a notebook's Markdown."""
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    return markdown2html_mistune(markdown)


# ------------------------------------------------------------------ escaping
def test_text_escapes_angle_brackets_outside_code_spans_only():
    assert md.text("runs/<model>/seed<k>") == "runs/&lt;model&gt;/seed&lt;k&gt;"
    assert md.text("in `runs/<model>/x` and <k>") == "in `runs/<model>/x` and &lt;k&gt;"
    assert md.text("``a `<b>` c`` <d>") == "``a `<b>` c`` &lt;d&gt;"
    assert md.text("AUC > 0.5, p < 0.05") == "AUC &gt; 0.5, p &lt; 0.05"
    assert md.cell("a | b\nc <d>") == "a \\| b c &lt;d&gt;"


@pytest.mark.parametrize("placeholder", PLACEHOLDERS)
def test_placeholders_survive_markdown_to_html(placeholder):
    """Unescaped, the HTML export swallows a placeholder as an unknown tag (the check can
    fail); escaped or in a code span it shows."""
    raw = f"cells from results/x/{placeholder}/metrics.json"
    assert placeholder not in visible_text(to_html(raw))  # the bug this module fixes
    for text in (md.text(raw), md.text(f"cells from `results/x/{placeholder}/metrics.json`")):
        assert placeholder in visible_text(to_html(text))


def _table():
    return long_frame([Cell("t", "row <row>", "v", "auc", "test <k>", [0.7, 0.8], paper=0.8, flag="x <model>"),
                       Cell("t", "r2", "v2", "auc", "test <k>", [0.6, 0.65])], CTX)


def test_table_markdown_keeps_every_placeholder_visible():
    prov = {"rule / code": "cells from results/audiofuse/<variant>/<digest>/seed<k>/metrics.json",
            "data: <dataset>": "source=mirror ($AUSCULT_DATA_MIRROR/<dataset>)"}
    text = render_markdown(_table(), title="T <family>", notes=["rows per <premise>"], provenance=prov)
    shown = visible_text(to_html(text))
    for p in ("<variant>", "<digest>", "<k>", "<row>", "<model>", "<family>", "<premise>", "<dataset>"):
        assert p in shown, p
    # the structure is still HTML: a table, a details block
    page = to_html(text)
    assert "<table>" in page and "<details>" in page and "<summary>Provenance</summary>" in page


def test_cross_dataset_and_compute_cost_markdown_escape_too():
    table = pd.DataFrame([{"model": "AudioFuse <variant>", "target": "pascal/set_a", "family": "audiofuse",
                           "auc": 0.6, "auc_low": 0.5, "auc_high": 0.7, "auc_within": np.nan,
                           "set_id_auc": np.nan, "sensitivity": 0.5, "specificity": 0.6, "n": 10,
                           "n_abnormal": 4, "seeds": 2, "n_half_padded": 0, "data": "synthetic", "flag": ""}])
    text = cross_dataset.render_markdown(table, ["note <family>"], {"rule / code": "results/<family>/<digest>"}, "demo")
    shown = visible_text(to_html(text))
    assert "AudioFuse <variant>" in shown and "results/<family>/<digest>" in shown and "note <family>" in shown
    assert "<details><summary>Provenance</summary>" in text  # like every other table: to the appendix
    cost = pd.DataFrame([{"scope": "model", "name": "floor <x>", "stage": "all", "n_jobs": 1, "n_missing": 0,
                          "wall_s": 60.0, "cpu_s": 60.0, "peak_rss_mb": 10.0, "device": "cpu"}])
    shown = visible_text(to_html(compute_cost.render_markdown(cost, provenance={"rule": "a <digest>"})))
    assert "floor <x>" in shown and "a <digest>" in shown


# ------------------------------------------------------------------ titles from the data
def test_titles_are_filled_from_the_data():
    pv = paper_values()
    t1, t2 = pv[audiofuse.T1]["title"], pv[audiofuse.T2]["title"]
    assert "{n_test}" in t1 and "{n_transfer}" in t2 and "{n_split}" in t2
    assert "(40 test recordings;" in fill_title(t1, {"n_test": 40})
    with pytest.raises(KeyError, match="n_test"):
        fill_title(t1, {})  # a builder that forgets a count fails, not prints '{n_test}'
    assert fill_title("no fields") == "no fields"


def _seed_results(tmp_path, variant, n_test, n_pascal):
    rng = np.random.default_rng(zlib.crc32(variant.encode()))
    metrics, preds = {"seed": 1, "n_params": 1, "train": {}}, []
    for proto in audiofuse.PROTOCOLS:
        n = n_test if proto.startswith("physionet") else n_pascal
        y = np.arange(n) % 2
        score = rng.random(n)
        metrics[proto] = binary_metrics(y, score, 0.5)
        preds.append(pd.DataFrame({"protocol": proto, "record_id": [f"{proto[:3]}{i}" for i in range(n)],
                                   "label": y, "score": score, "threshold": 0.5}))
    (tmp_path / f"{variant}.json").write_text(json.dumps(metrics))
    pd.concat(preds).to_csv(tmp_path / f"{variant}.csv", index=False)
    return audiofuse.SeedResults([tmp_path / f"{variant}.json"], [tmp_path / f"{variant}.csv"])


def test_audiofuse_title_counts_come_from_the_predictions(tmp_path):
    results = {v: _seed_results(tmp_path, v, 30, 12) for v in ("vit_only", "audiofuse")}
    fields = audiofuse.title_fields(results)
    assert fields == {audiofuse.T1: {"n_test": "30"}, audiofuse.T2: {"n_transfer": "12", "n_split": "12"}}
    pv = paper_values()
    assert fill_title(pv[audiofuse.T1]["title"], fields[audiofuse.T1]).startswith(
        "AudioFuse T1: in-domain, PhysioNet 2016 (30 test recordings")
    assert audiofuse.record_count({}, "physionet_test") == "?"


# ------------------------------------------------------------------ the notebook's order
def _write(path, text=""):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_report_sections_in_paper_order_with_their_figures(tmp_path):
    tables, figs = tmp_path / "tables", tmp_path / "figures"
    names = ["cross_dataset", "koike_t5_spec_sens_f1", "ast_sam_t6_ablation", "audiofuse_t3_vit_ablation",
             "compute_cost", "koike_t4_uar", "audiofuse_t1_physionet", "toy_t1", "audiofuse_t2_pascal"]
    for n in names:
        _write(tables / f"{n}.md", f"# Title of {n}\n\n| a |\n|---|\n| 1 |\n\n<details><summary>Provenance"
                                   f"</summary>\n\n- **git commit**: {n}\n\n</details>\n")
    for f in ["audiofuse_learning_curves", "audiofuse_t1_roc", "audiofuse_t2_domain_shift", "koike_t4_uar",
              "koike_learning_curves", "ast_sam_t6_confusion", "cross_dataset", "unrelated"]:
        _write(figs / f"{f}.png")
    papers = ["audiofuse", "koike", "ast_sam", "toy"]
    sections, other, cost = notebook.report_sections(tables, figs, papers)
    assert [s.name for s in sections] == ["audiofuse_t1_physionet", "audiofuse_t2_pascal",
                                          "audiofuse_t3_vit_ablation", "koike_t4_uar", "koike_t5_spec_sens_f1",
                                          "ast_sam_t6_ablation", "toy_t1", "cross_dataset"]
    by = {s.name: [p.stem for p in s.figures] for s in sections}
    assert by["audiofuse_t1_physionet"] == ["audiofuse_t1_roc", "audiofuse_learning_curves"]
    assert by["audiofuse_t2_pascal"] == ["audiofuse_t2_domain_shift"]
    assert by["koike_t4_uar"] == ["koike_t4_uar", "koike_learning_curves"]
    assert by["ast_sam_t6_ablation"] == ["ast_sam_t6_confusion"] and by["cross_dataset"] == ["cross_dataset"]
    assert [p.stem for p in other] == ["unrelated"]
    # provenance and compute cost leave the body for the appendix; headings go one level down
    s = sections[0]
    assert s.title == "Title of audiofuse_t1_physionet" and s.body.startswith("## Title of")
    assert "Provenance" not in s.body and "git commit" in s.provenance
    assert cost is not None and cost.name == "compute_cost" and "compute_cost" not in by


def test_the_notebook_uses_the_sections_and_hides_the_index(repo_root):
    nb = json.loads((repo_root / "workflow/notebooks/report.ipynb").read_text())
    code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    text = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    assert "report_sections(tables_dir, figures_dir)" in code
    assert "index=False" in code and "display(cmp" not in code  # no DataFrame index in the report
    assert text.index("## Claims") < text.index("## Largest differences") < text.index("## Appendix A") \
        < text.index("## Appendix B")


# ------------------------------------------------------------------ figures
def test_text_colour_follows_luminance():
    assert figures.text_colour((0.02, 0.19, 0.38, 1)) == "white"  # dark blue (RdBu_r low end)
    assert figures.text_colour((0.40, 0.0, 0.12, 1)) == "white"  # dark red
    assert figures.text_colour((0.97, 0.97, 0.97, 1)) == "black"  # near white (0.5)
    assert figures.text_colour((1.0, 1.0, 0.0, 1)) == "black"  # yellow: light though saturated


def _capture(monkeypatch):
    saved = []
    monkeypatch.setattr(figures, "_save", lambda fig, path: saved.append(fig))
    return saved


def test_heatmap_text_is_white_on_dark_cells(monkeypatch, tmp_path):
    saved = _capture(monkeypatch)
    table = pd.DataFrame({"model": ["a", "b", "c"], "target": ["t"] * 3, "auc": [0.02, 0.5, 0.98],
                          "auc_low": [0.0, 0.4, 0.9], "auc_high": [0.1, 0.6, 1.0], "n": [10] * 3})
    figures.cross_dataset_heatmap(table, tmp_path / "x.png")
    colours = [t.get_color() for t in saved[0].axes[0].texts]
    assert colours == ["white", "black", "white"]


def test_learning_curves_fifteen_series_distinct_with_the_legend_outside():
    hist = {f"model{i}": [pd.DataFrame({"epoch": [1, 2, 3], "val_auc": [0.5, 0.6 + i / 100, 0.7],
                                        "val_loss": [0.7, 0.6, 0.5]})] * 2 for i in range(15)}
    fig = figures.learning_curves_figure(hist, {})
    ax = fig.axes[0]
    colours = {tuple(np.round(line.get_color(), 4)) for line in ax.get_lines() if line.get_linestyle() == "-"}
    assert len(colours) == 15  # the default cycle has 10: five would repeat
    assert len(fig.legends) == 1 and not ax.get_legend()
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legend = fig.legends[0].get_window_extent(renderer)
    for a in fig.axes:
        assert not legend.overlaps(a.get_window_extent(renderer))  # no curve hides under it
    assert len(figures.series_colours(25)) == len({tuple(c) for c in figures.series_colours(25)}) == 25
