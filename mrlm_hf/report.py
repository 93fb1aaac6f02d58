"""The short before/after report a recipe prints at its end: what changed, on which seeds, and where the files are."""

from __future__ import annotations

from collections.abc import Sequence


def _cell(value: float | str | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{100 * value:.1f}%"
    return str(value)


def before_after_table(
    rows: Sequence[tuple[str, float | str | None, float | str | None]],
    columns: tuple[str, str] = ("before", "after"),
    files: dict[str, str] | None = None,
    title: str | None = None,
) -> str:
    """A plain-text table: one ``(metric, before, after)`` row each (fractions print as percentages, ``None`` as
    ``-``), then one line per output file."""
    header = ("", *columns)
    body = [(name, _cell(before), _cell(after)) for name, before, after in rows]
    widths = [max(len(r[i]) for r in (header, *body)) for i in range(3)]
    lines = [title] if title else []
    for i, row in enumerate((header, *body)):
        lines.append(
            "  ".join(cell.ljust(w) if j == 0 else cell.rjust(w) for j, (cell, w) in enumerate(zip(row, widths)))
        )
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    for name, path in (files or {}).items():
        lines.append(f"{name}: {path}")
    return "\n".join(lines)
