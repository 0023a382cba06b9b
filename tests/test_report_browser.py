"""report.html in a real browser: a small report (AudioFuse T1-T3 and the cross-dataset
table from fake results, through the same builders, notebook and HTML export as rule
``report_html``) opened by headless Chromium. What the browser shows must keep every
placeholder of the provenance (``<variant>``, ``<digest>``, ``<k>``, ``<family>``) as text, every
table and figure, in paper order, and no DataFrame index.

Skipped, with the reason, where no Chromium binary is installed (Debian: ``apt-get install
chromium``). ``AUSCULT_REPORT_SCREENSHOT=<path>`` keeps a full-page screenshot for a look.
"""

from __future__ import annotations

import copy
import html.parser
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from auscult.reporting import build, cross_dataset
from auscult.reporting.notebook import render_report

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
BROWSER = next((shutil.which(b) for b in BROWSERS if shutil.which(b)), None)
pytestmark = pytest.mark.skipif(BROWSER is None, reason="no Chromium binary on PATH (Debian: apt-get install "
                                                       "chromium): the report is not opened in a browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--disable-dev-shm-usage",
         "--no-first-run"]


def _browser(*args: str, timeout: int = 120) -> str:
    out = subprocess.run([BROWSER, *FLAGS, *args], capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


class _Page(html.parser.HTMLParser):
    """The visible text of a DOM (script/style left out), its images and table headers."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.images = 0
        self.headers: list[list[str]] = []
        self._skip = 0
        self._th = None

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        elif tag == "img":
            self.images += 1
        elif tag == "thead":
            self.headers.append([])
        elif tag == "th":
            self._th = []

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._skip -= 1
        elif tag == "th" and self._th is not None:
            if self.headers:
                self.headers[-1].append("".join(self._th).strip())
            self._th = None

    def handle_data(self, data):
        if self._skip:
            return
        self.text.append(data)
        if self._th is not None:
            self._th.append(data)


@pytest.fixture(scope="module")
def small_report(repo_root, demo, tmp_path_factory):
    """reports/ of a small run: T1-T3 from fake per-seed results (the builders of rule
    `tables`), their figures, a cross-dataset table, then the report notebook rendered."""
    from test_report_build import _fake_af_inputs

    tmp = tmp_path_factory.mktemp("browser")
    cfg = copy.deepcopy(demo)
    cfg["papers"], cfg["floor"]["papers"], cfg["cross_dataset"]["models"] = ["audiofuse"], [], []
    inputs = _fake_af_inputs(cfg, repo_root, tmp, history=True)
    out = tmp / "reports"
    old = Path.cwd()
    os.chdir(tmp)  # benchmark files are looked up relative to the working folder
    try:
        build.build_all_tables(cfg, inputs, build.table_params(cfg), {
            "tables": str(out / "tables"), "metrics": str(out / "metrics.json"),
            "claims_md": str(out / "claims.md"), "claims_csv": str(out / "claims.csv")})
        rng = np.random.default_rng(0)
        xt = pd.DataFrame([{"model": f"AudioFuse {v}", "family": "audiofuse", "target": t, "auc": a,
                            "auc_low": a - 0.1, "auc_high": a + 0.1, "auc_within": np.nan, "auc_within_low": np.nan,
                            "auc_within_high": np.nan, "set_id_auc": np.nan, "set_id_low": np.nan,
                            "set_id_high": np.nan, "sensitivity": 0.5, "specificity": 0.5, "n": 20,
                            "n_abnormal": 8, "seeds": 2, "n_half_padded": 0, "data": "synthetic",
                            "weights": "scratch", "budget": "demo", "flag": ""}
                           for v in ("audiofuse", "vit_only") for t, a in (("pascal/set_a", rng.random()),
                                                                          ("pascal/set_b", 0.05))])
        cross_dataset.write(out / "tables", xt, notes=["a note on <dataset> rows"], budget="demo",
                            provenance={"rule / code": "scores from `results/cross_dataset/<family>/<digest>/"
                                        "scores.csv`", "seen raw": "results/cross_dataset/<family>/<digest>"})
        build.build_all_figures({**inputs, "tables": str(out / "tables")}, build.figure_params(cfg),
                                {"figures": str(out / "figures"), "plots": str(out / "plots")})
    finally:
        os.chdir(old)
    render_report(repo_root / "workflow/notebooks/report.ipynb", out / "report.ipynb", out / "report.html",
                  {"tables_dir": str(out / "tables"), "figures_dir": str(out / "figures"),
                   "claims_csv": str(out / "claims.csv")})
    return out


@pytest.fixture(scope="module")
def page(small_report):
    dom = _browser("--virtual-time-budget=5000", "--dump-dom", (small_report / "report.html").as_uri())
    parsed = _Page()
    parsed.feed(dom)
    return parsed, "".join(parsed.text)


def test_placeholders_show_as_text_in_the_browser(page):
    _, text = page
    for placeholder in ("<variant>", "<digest>", "<k>", "<family>", "<dataset>"):
        assert placeholder in text, placeholder
    assert "results/audiofuse/<variant>/<digest>/seed<k>/metrics.json" in text
    assert "results/cross_dataset/<family>/<digest>" in text  # escaped, outside a code span


def test_every_table_and_figure_in_paper_order(page, small_report):
    parsed, text = page
    titles = ["AudioFuse T1: in-domain, PhysioNet 2016 (40 test recordings;", "AudioFuse T2: domain shift to PASCAL (40",
              "AudioFuse T3: ViT depth x heads", "Cross-dataset zero-shot evaluation", "Largest differences from the papers",
              "Appendix A: compute cost", "Compute cost per table and per model", "Appendix B: provenance"]
    at = [text.find(t) for t in titles]
    assert all(i >= 0 for i in at), dict(zip(titles, at, strict=True))
    assert at == sorted(at), dict(zip(titles, at, strict=True))
    pngs = sorted(p.name for p in (small_report / "figures").glob("*.png"))
    assert len(pngs) >= 5 and parsed.images == len(pngs)
    for name in pngs:
        assert name in text  # each figure's caption names it
    # figures sit with their table: the ROC under T1, before T2's heading
    assert at[0] < text.find("audiofuse_t1_roc.png") < at[1] < text.find("audiofuse_t2_domain_shift.png") < at[2]
    assert text.find("cross_dataset.png") > at[3]


def test_no_dataframe_index_and_provenance_in_the_appendix(page):
    parsed, text = page
    differences = [h for h in parsed.headers if h and h[0] == "table"]
    assert differences and differences[0][:4] == ["table", "row", "protocol", "metric"]  # no index column
    appendix = text[text.find("Appendix B: provenance"):]
    assert "git commit" in appendix and "params digest" in appendix
    assert "git commit" not in text[:text.find("Appendix A: compute cost")]  # not between the tables


def test_screenshot(small_report, tmp_path):
    shot = Path(os.environ.get("AUSCULT_REPORT_SCREENSHOT") or tmp_path / "report.png")
    _browser(f"--screenshot={shot}", "--window-size=1400,6000", (small_report / "report.html").as_uri())
    assert shot.stat().st_size > 20_000
