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
    left_out = [s for s in report.skipped if getattr(s, "kind", "skipped") == "skipped"]
    if left_out:
        lines.append(f"  skipped {len(left_out)} (files, folders or jsonl lines; see the warnings above)")
    return "\n".join(lines)


def format_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


LEAN_KINDS = {"bert": "numpy BERT", "onnx": "ONNX (onnxruntime)", "static": "numpy static embeddings"}


def vector_index_text(details) -> str:
    if not details.vectors_present:
        return "none"
    exact = details.vector_index_exact is not False
    return f"{details.vector_index or 'IDMap2,Flat'} ({'exact' if exact else 'approximate / compact codes, re-scored exactly'})"


def question_path_text(details) -> str:
    """How `ask` encodes a question: the lean encoder the index recorded, or sentence-transformers."""
    record = details.query_encoder
    if not record:
        return "sentence-transformers (no lean encoder recorded; `semsearch index` makes one)"
    kind = LEAN_KINDS.get(record.get("kind"), str(record.get("kind")))
    return f"{kind}, no torch (cosine to sentence-transformers {record.get('min_cosine')})"


def format_info(details) -> str:
    rows = [
        ("index", details.directory),
        ("model", details.model),
        ("dimension", details.dimension if details.dimension is not None else "unknown (model not loaded yet)"),
        ("max tokens", details.max_tokens if details.max_tokens is not None else "unknown"),
        ("documents", details.documents),
        ("passages", details.passages),
        ("vectors", f"{details.vectors} ({'present' if details.vectors_present else 'none yet'})"),
        ("vector index", vector_index_text(details)),
        *((("store", details.store),) if getattr(details, "store", None) else ()),
        ("questions", question_path_text(details)),
        ("lexical", ("BM25 (SQLite FTS5)" if not getattr(details, "store", None) else "BM25 (Milvus)")
                    if details.lexical_present else "absent"),
        ("passages in", details.precision or "not encoded yet"),
        ("fusion", f"{details.fusion} (the model's, from its semsearch.json)" if getattr(details, "fusion", None)
                          else "rrf:10 (the default)"),
        ("size on disk", format_size(details.size_bytes) + (
            f" here, {format_size(details.store_bytes)} in the Milvus Lite file" if getattr(details, "store_bytes", None)
            is not None else " here (the store's own storage not counted)" if getattr(details, "store", None) else "")),
        ("model files", f"{format_size(details.model_files_bytes)} in {details.model_files} (shared by every index of "
                        "this model)" if details.model_files else "none on this machine yet (the next question or "
                        "`semsearch index` makes them)"),
        ("created", details.created),
        ("updated", details.updated),
    ]
    return "\n".join(f"[bold]{name:<13}[/]{escape(str(value))}" for name, value in rows)
