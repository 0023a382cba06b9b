"""The report notebook: executed with papermill, then converted to HTML without its code
cells, in one process (rule ``report_html``; the CLI pair ``papermill`` + ``jupyter
nbconvert`` started two interpreters on the report's serial tail).

Both outputs are written atomically: a failed cell leaves neither a half-executed
notebook nor a stale HTML under the final names.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from auscult.atomic import atomic_path


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
