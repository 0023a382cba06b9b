"""The report notebook: executed with papermill, then converted to HTML without its code
cells, in one process (rule ``report_html``; the CLI pair ``papermill`` + ``jupyter
nbconvert`` started two interpreters on the report's serial tail).

Both outputs are written atomically: a failed cell leaves neither a half-executed
notebook nor a stale HTML under the final names.

:func:`report_sections` is what the notebook (workflow/notebooks/report.ipynb) shows, in
order: the tables in paper order (T1 ... T6 of the registered papers, then the
cross-dataset table), each with the figures drawn from it; each table's provenance and the
compute-cost table go to an appendix.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auscult.atomic import atomic_path

CROSS = "cross_dataset"
COST = "compute_cost"
PROVENANCE_OPEN = "<details><summary>Provenance</summary>"
_TABLE_NUMBER = re.compile(r"_t(\d+)(?:_|$)")


@dataclass
class Section:
    """One table of the report: its Markdown without the provenance block (headings one
    level down, under the report's own), the provenance list, and its figures."""

    name: str
    title: str
    body: str
    provenance: str
    figures: list[Path] = field(default_factory=list)


def split_provenance(text: str) -> tuple[str, str]:
    """(the table's Markdown before its ``<details>`` provenance block, the block's list)."""
    head, sep, tail = text.partition(PROVENANCE_OPEN)
    if not sep:
        return text.rstrip() + "\n", ""
    prov, _, rest = tail.partition("</details>")
    return (head + rest).rstrip() + "\n", prov.strip() + "\n"


def demote_headings(text: str, levels: int = 1) -> str:
    """Every ATX heading ``levels`` deeper (a table's ``# Title`` under the report's ``##``)."""
    return re.sub(r"^(#{1,6}) ", lambda m: "#" * min(6, len(m.group(1)) + levels) + " ", text, flags=re.M)


def _title(text: str, default: str) -> str:
    m = re.search(r"^#+ (.+)$", text, flags=re.M)
    return m.group(1).strip() if m else default


def paper_order(papers: Sequence[str] | None = None):
    """Sort key of a table name: the registered papers in registry order (AudioFuse T1-T3,
    Koike T4-T5, AST + SAM T6, then papers registered from outside), by table number
    within a paper; other tables after them; the cross-dataset table last."""
    if papers is None:
        from auscult import registry

        papers = list(registry.REGISTRY)
    rank = {p: i for i, p in enumerate(papers)}

    def key(name: str):
        if name == CROSS:
            return (len(rank) + 1, 0, name)
        paper = next((p for p in sorted(rank, key=len, reverse=True) if name.startswith(p + "_")), None)
        m = _TABLE_NUMBER.search(name)
        return (rank.get(paper, len(rank)), int(m.group(1)) if m else 10**6, name)

    return key


def figure_table(figure: str, tables: Sequence[str], papers: Sequence[str] | None = None) -> str | None:
    """The table a figure belongs beside: the table with the figure's ``<paper>_t<k>``
    prefix; a paper's other figures (learning curves) go with its first table; the
    cross-dataset heat map with the cross-dataset table; None for any other figure."""
    ordered = sorted(tables, key=paper_order(papers))
    m = re.match(r"^(.+?_t\d+)(?:_|$)", figure)
    if m:
        same = [t for t in ordered if t == m.group(1) or t.startswith(m.group(1) + "_")]
        if same:
            return same[0]
    if figure.startswith(CROSS) and CROSS in tables:
        return CROSS
    if papers is None:
        from auscult import registry

        papers = list(registry.REGISTRY)
    paper = next((p for p in sorted(papers, key=len, reverse=True) if figure.startswith(p + "_")), None)
    owners = [t for t in ordered if paper and t.startswith(paper + "_")]
    return owners[0] if owners else None


def report_sections(tables_dir: str | Path, figures_dir: str | Path,
                    papers: Sequence[str] | None = None) -> tuple[list[Section], list[Path], Section | None]:
    """(the table sections in paper order with their figures, figures that belong to no
    table, the compute-cost section for the appendix or None)."""
    tables_dir, figures_dir = Path(tables_dir), Path(figures_dir)
    texts = {p.stem: p.read_text(encoding="utf-8") for p in tables_dir.glob("*.md")}
    sections = {}
    for name, text in texts.items():
        body, prov = split_provenance(text)
        sections[name] = Section(name, _title(body, name), demote_headings(body), prov)
    cost = sections.pop(COST, None)
    other = []
    # a table's own figures (named after it) first, then its paper's general ones (learning curves)
    for png in sorted(figures_dir.glob("*.png"), key=lambda p: (_TABLE_NUMBER.search(p.stem) is None, p.name)):
        owner = figure_table(png.stem, list(sections), papers)
        (sections[owner].figures if owner else other).append(png)
    return [sections[n] for n in sorted(sections, key=paper_order(papers))], other, cost


def render_report(notebook: str | Path, executed: str | Path, html: str | Path,
                  parameters: Mapping[str, Any]) -> None:
    """Execute ``notebook`` with ``parameters`` into ``executed`` (.ipynb) and write its
    outputs, without the code cells and prompts (nbconvert's ``--no-input``), to ``html``."""
    import papermill
    from nbconvert import HTMLExporter

    logging.getLogger("papermill").setLevel(logging.ERROR)
    with atomic_path(executed, suffix=".ipynb") as tmp:
        nb = papermill.execute_notebook(str(notebook), str(tmp), parameters=dict(parameters),
                                        progress_bar=False, log_output=False)
    # the executed notebook papermill returns, as written: not read back from disk
    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(nb)
    with atomic_path(html, suffix=".html") as tmp:
        Path(tmp).write_text(body, encoding="utf-8")
