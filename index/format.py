"""Human-readable renderings of reports (rich markup), used by the CLI only; hits: index/present.py."""

from __future__ import annotations

from rich.markup import escape


def format_index_report(report) -> str:
    lines = [
        f"Indexed {report.documents} documents into {report.passages} passages "
        f"({report.vectors} with vectors) in {report.seconds:.1f} s -> {escape(report.directory)}",
        f"  added {report.added}, updated {report.updated}, removed {report.removed}, "
        f"unchanged {report.unchanged}; encoded {report.encoded}",
    ]
    if report.skipped:
        lines.append(f"  skipped {len(report.skipped)} file(s) (see warnings above)")
    return "\n".join(lines)


def format_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def format_info(details) -> str:
    rows = [
        ("index", details.directory),
        ("model", details.model),
        ("dimension", details.dimension if details.dimension is not None else "unknown (model not loaded yet)"),
        ("max tokens", details.max_tokens if details.max_tokens is not None else "unknown"),
        ("documents", details.documents),
        ("passages", details.passages),
        ("vectors", f"{details.vectors} ({'present' if details.vectors_present else 'none yet'})"),
        ("lexical", "BM25 (SQLite FTS5)" if details.lexical_present else "absent"),
        ("size on disk", format_size(details.size_bytes)),
        ("created", details.created),
        ("updated", details.updated),
    ]
    return "\n".join(f"[bold]{name:<13}[/]{escape(str(value))}" for name, value in rows)
