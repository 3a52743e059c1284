"""The one declaration of `ask` and `related`'s arguments and options, in plain Python.

index/cli/app.py builds its typer options from this table and index/cli/quick.py parses plain command
lines with it, so the two cannot drift apart. No typer or rich here: the cold `ask` imports this.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Opt:
    """One option: the Request field (and typer parameter) it fills, its flags, and how it is read."""

    field: str
    flags: tuple[str, ...]
    default: object
    help: str
    kind: type = str  # str | int | bool (a flag, no value) | Path
    min: int | None = None
    max: int | None = None
    envvar: str | None = None
    show_default: bool = True
    cold: bool = True  # False: quick.py leaves command lines that name it to typer

    @property
    def takes_value(self) -> bool:
        return self.kind is not bool


@dataclass(frozen=True)
class Arg:
    """The command's one positional argument."""

    field: str
    required: bool
    help: str


INDEX_DIR = Opt("index_dir", ("--index",), None, "Index directory [default: ./.semsearch]", Path,
                envvar="SEMSEARCH_INDEX", show_default=False)
AS_JSON = Opt("as_json", ("--json",), False, "Print one JSON object instead of text.", bool)
TOP_K = Opt("k", ("-k", "--top"), 5, "How many passages to return.", int, min=1)
FUSION = Opt("fusion", ("--fusion",), None, "Hybrid fusion: rrf, rrf:K (reciprocal rank, constant K) or weighted:W "
             "(dense weight W) [default: the model's own (semsearch.json, from `semsearch tune`), else rrf:10]")
# reranking loads torch anyway, so its command lines gain nothing from the quick path: typer takes them
RERANK = Opt("rerank", ("--rerank",), False, "Re-score the top hits with a cross-encoder (slow on a CPU; off by "
             "default) [model: cross-encoder/ms-marco-MiniLM-L6-v2]", bool, cold=False)
RERANK_MODEL = Opt("rerank_model", ("--rerank-model",), None, "Hub id or directory of the cross-encoder (implies "
                   "--rerank).", show_default=False, cold=False)
RERANK_TOP = Opt("rerank_top", ("--rerank-top",), 30, "How many top hits --rerank re-scores.", int, min=1, max=200,
                 cold=False)


def mode(help_auto: str) -> Opt:
    return Opt("mode", ("--mode",), "auto", f"auto | hybrid | dense | lexical (auto: {help_auto}).")


COMMANDS: dict[str, tuple[Arg, tuple[Opt, ...]]] = {
    "ask": (
        Arg("query", True, "A question in plain language."),
        (TOP_K, mode("hybrid when vectors exist"), FUSION, INDEX_DIR, AS_JSON, RERANK, RERANK_MODEL, RERANK_TOP),
    ),
    "related": (
        Arg("passage_id", False, "A passage id such as seeds/a.txt#3."),
        (Opt("text", ("--text",), None, "Find passages related to this text instead."), TOP_K,
         Opt("other_articles", ("--other-articles",), False, "Only passages of other documents.", bool),
         mode("dense for a passage id, hybrid for --text"), FUSION, INDEX_DIR, AS_JSON, RERANK, RERANK_MODEL,
         RERANK_TOP),
    ),
}


def option(command: str, field: str) -> Opt:
    return next(opt for opt in COMMANDS[command][1] if opt.field == field)


def flags(command: str) -> dict[str, Opt]:
    """Every flag of ``command`` -> its option."""
    return {flag: opt for opt in COMMANDS[command][1] for flag in opt.flags}


def convert(opt: Opt, text: str):
    """A value as typer reads it, or None when typer would refuse it (then typer answers with its error)."""
    if opt.kind is int:
        if not text.strip().lstrip("+-").isdigit():
            return None
        value = int(text)
        too_small = opt.min is not None and value < opt.min
        return None if too_small or (opt.max is not None and value > opt.max) else value
    return Path(text) if opt.kind is Path else text
