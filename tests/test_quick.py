"""index/quick.py parses plain `ask` / `related` command lines exactly as typer would, and leaves the
rest to typer; index/present.py writes what both paths show (ANSI on a terminal, plain in a pipe)."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from typer.testing import CliRunner

import index.cli.present
from index.cli.app import app
from index.cli.present import Request, format_hits, styler
from index.cli.quick import parse

runner = CliRunner()

AGREE = [
    ["ask", "who won?"],
    ["ask", "who won?", "-k", "3"],
    ["ask", "-k3", "who won?"],
    ["ask", "--top", "7", "who won?", "--json"],
    ["ask", "--top=2", "--mode=lexical", "who won?"],
    ["ask", "who won?", "--mode", "dense", "--fusion", "rrf:60", "--index", "some/dir"],
    ["ask", "who won?", "-k", "2", "-k", "4"],  # the last one counts
    ["ask", "--", "-5 degrees in Kiev?"],
    ["ask", "who won?", "--mode", "--json"],  # --json is taken as the value of --mode
    ["related", "seeds/a.txt#3"],
    ["related", "seeds/a.txt#3", "--other-articles", "-k", "2", "--json"],
    ["related", "--text", "drones over Kiev", "--mode", "hybrid", "--fusion=weighted:0.7"],
    ["related", "--text=drones", "--index", "x", "--other-articles"],
]

DEFER = [  # typer's job: help, usage errors, options the quick parser does not know
    ["ask", "--help"],
    ["ask", "-h"],
    ["ask"],
    ["ask", "one", "two"],
    ["ask", "who?", "-k"],
    ["ask", "who?", "-k", "zero"],
    ["ask", "who?", "-k", "0"],
    ["ask", "who?", "--jsn"],
    ["ask", "who?", "--json=yes"],
    ["ask", "who?", "--other-articles"],
    ["related"],
    ["related", "a#1", "--text", "both"],
    ["index", "seeds/"],
    ["info"],
    [],
]


@pytest.fixture
def captured(monkeypatch):
    """What typer's commands hand to present.answer (nothing is searched)."""
    seen: list[Request] = []
    monkeypatch.setattr(index.cli.present, "answer", lambda request: seen.append(request) or 0)
    return seen


@pytest.mark.parametrize("argv", AGREE, ids=" ".join)
def test_quick_parser_agrees_with_typer(argv, captured, monkeypatch):
    monkeypatch.delenv("SEMSEARCH_INDEX", raising=False)
    result = runner.invoke(app, argv)
    assert result.exit_code == 0, result.output
    assert parse(argv) == captured[0]


@pytest.mark.parametrize("env, expected", [("elsewhere", Path("elsewhere")), ("", None)])
def test_index_environment_variable(env, expected, captured, monkeypatch):
    monkeypatch.setenv("SEMSEARCH_INDEX", env)
    assert runner.invoke(app, ["ask", "q"]).exit_code == 0
    assert parse(["ask", "q"]) == captured[0] and captured[0].index_dir == expected
    assert parse(["ask", "q", "--index", "mine"]).index_dir == Path("mine")


@pytest.mark.parametrize("argv", DEFER, ids=lambda a: " ".join(a) or "nothing")
def test_other_command_lines_are_left_to_typer(argv, captured):
    assert parse(argv) is None
    if not argv or argv[0] not in ("ask", "related"):
        return
    result = runner.invoke(app, argv)
    assert not captured  # typer answered (help or a usage error) before any search
    assert result.exit_code == (0 if "--help" in argv else 2), result.output


def hit(rank: int, text: str):
    return SimpleNamespace(rank=rank, id=f"a.txt#{rank}", score=0.5, title="Title [x]", text=text)


def test_plain_and_terminal_output():
    result = SimpleNamespace(hits=[hit(1, "First. Second one."), hit(2, "Other.")], mode="hybrid")
    plain = format_hits(result, {"a.txt#1": (7, 18)}, styler(io.StringIO()))
    assert plain == "1. 0.500  Title [x]  a.txt#1\n   First. Second one.\n\n2. 0.500  Title [x]  a.txt#2\n   Other.\n\n(hybrid)"

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    coloured = format_hits(result, {"a.txt#1": (7, 18)}, styler(Terminal()))
    assert "\x1b[1;33mSecond one.\x1b[0m" in coloured and "\x1b[36m0.500\x1b[0m" in coloured
    assert format_hits(SimpleNamespace(hits=[], mode="dense"), {}, styler(io.StringIO())) == "No passages match (dense)."


def test_no_color_turns_styles_off(monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setenv("NO_COLOR", "1")
    assert styler(Terminal())("text", "bold") == "text"


class KeywordEncoder:
    """Embeds a text by which of three words it holds (a model whose answers we know)."""

    WORDS = ("river", "book", "fox")

    def encode_queries(self, texts):
        return self.encode_documents(texts)

    def encode_documents(self, texts):
        rows = np.array([[float(w in t.lower()) for w in self.WORDS] for t in texts], dtype=np.float32)
        return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-9)


def test_dense_highlights_pick_the_closest_sentence_of_each_hit():
    from index.search.highlight import best_sentences_dense

    texts = {"a": "A book fell. The river rose after the rain.", "b": "Only one sentence about a fox."}
    encoder = KeywordEncoder()
    spans = best_sentences_dense(encoder.encode_queries(["where is the river?"])[0], texts, encoder)
    a, b = spans["a"]
    assert texts["a"][a:b].startswith("The river rose") and spans["b"] == (0, len(texts["b"]))


@pytest.mark.parametrize("command", ["ask", "related"])
def test_typer_builds_its_options_from_the_shared_table(command):
    import typer.main

    from index.cli import options

    built = typer.main.get_command(app).commands[command]
    declared = {opt.field: (set(opt.flags), opt.default) for opt in options.COMMANDS[command][1]}
    found = {p.name: (set(p.opts), p.default) for p in built.params if p.param_type_name == "option" and p.name != "help"}
    assert found == declared
    (argument,) = [p for p in built.params if p.param_type_name == "argument"]
    assert argument.required == options.COMMANDS[command][0].required


def test_the_options_module_stays_free_of_typer_and_rich():
    import ast

    import index.cli.options

    tree = ast.parse(Path(index.cli.options.__file__).read_text(encoding="utf-8"))
    names = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert not names & {"typer", "rich", "click", "torch", "faiss"}
