"""Text that goes into the report's Markdown (tables, notes, provenance, claims).

Markdown passes raw HTML through, so a placeholder such as ``<digest>`` in a path
(``results/audiofuse/<variant>/<digest>/seed<k>/metrics.json``) is read by a browser, by
GitHub and by nbconvert's HTML export as an unknown tag and vanishes from the page. Every
piece of free text a renderer writes goes through :func:`text` (or :func:`cell` inside a
table row): ``<`` and ``>`` become ``&lt;`` and ``&gt;`` outside code spans, and stay as
they are inside backticks, where Markdown already shows them literally. The renderers'
own structure (``> **banner**``, ``<details><summary>``) is written around the escaped
text, never through it.
"""

from __future__ import annotations

import re

# a code span: a run of backticks, anything, the same run again (CommonMark)
_CODE_SPAN = re.compile(r"(`+)(.+?)(?<!`)\1(?!`)", re.S)


def _escape_plain(s: str) -> str:
    return s.replace("<", "&lt;").replace(">", "&gt;")


def text(value: object) -> str:
    """``value`` as Markdown text that shows every character: angle brackets outside code
    spans as entities, code spans untouched."""
    s = str(value)
    out, pos = [], 0
    for m in _CODE_SPAN.finditer(s):
        out.append(_escape_plain(s[pos:m.start()]))
        out.append(m.group(0))
        pos = m.end()
    out.append(_escape_plain(s[pos:]))
    return "".join(out)


def cell(value: object) -> str:
    """:func:`text` for a table cell: a ``|`` would also end the cell early, and a newline
    the row."""
    return text(value).replace("|", "\\|").replace("\n", " ")
