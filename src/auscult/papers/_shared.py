"""Helpers every paper module uses (kept apart so the modules never import each other)."""

from __future__ import annotations

from collections.abc import Mapping


def mentioned_rows(paper_cfg: Mapping) -> list[str]:
    """Every row any table of a paper lists, in first-mention order."""
    seen: dict[str, None] = {}
    for rows in paper_cfg["tables"].values():
        seen.update(dict.fromkeys(rows))
    return list(seen)


def unknown_rows(config: Mapping, name: str, defined: Mapping, what: str) -> None:
    """Fail when a table of ``name`` lists a row ``defined`` lacks (``what``: e.g. 'variant(s)')."""
    from auscult.params import ParamsError

    for table, rows in config.get(name, {}).get("tables", {}).items():
        unknown = [r for r in rows if r not in defined]
        if unknown:
            key = "variants" if "variant" in what else "models"
            raise ParamsError(f"{name}.tables.{table}: unknown {what} {unknown}; "
                              f"defined in {name}.{key}: {sorted(defined)}")


def reserved_floor(name: str, key: str, defined: Mapping) -> None:
    """The reference floor's results sit beside the variants': no model may be called 'floor'."""
    from auscult.layout import FLOOR
    from auscult.params import ParamsError

    if FLOOR in defined:
        raise ParamsError(f"{name}.{key}: the name '{FLOOR}' is reserved for the reference floor")


def data_kind(config: Mapping, datasets) -> str:
    return "synthetic" if any(config["datasets"][d]["source"] == "synthetic" for d in datasets) else "real"


def row_budgets(config: Mapping, paper: str, variants) -> dict[str, dict]:
    """{variant: {max_epochs, max_train_records}} as configured for its training runs: the
    claims' matched-budget premise compares them across the rows a claim compares."""
    from auscult import layout

    out = {}
    for v in variants:
        ts = layout.train_slice(config, paper, v)
        training = ts.get("training", {})
        out[v] = {"max_epochs": training.get("max_epochs", training.get("epochs")),
                  "max_train_records": ts.get("max_train_records")}
    return out
