"""Hostile input and a hostile environment, through the real `semsearch` command (typer's CliRunner).

Every case starts from a working index of tests/corpus.py and then indexes something hostile. Input
cases (odd files in the folder) must index what can be read, warn once per skipped path, and exit 0;
environment cases must print one line, exit 1, and leave the previous index answering as before.
The index is lexical-only (the default model is unreachable offline, today's fallback), so no model is
loaded; the PDF/Word/`ask` cases with a real (tiny) model are at the end.
"""

from __future__ import annotations

import codecs
import errno
import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from index.cli.app import app
from tests.corpus import write_corpus
from tests.docmaker import write_blank_pdf, write_docx, write_pdf

runner = CliRunner()
BASELINE = ("wild yeast starter", "docs/food/bread.txt")  # a question and the source that answers it
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def invoke(*args: str):
    return runner.invoke(app, list(args))


def lexical_top(question: str, index: str = "idx") -> list[str]:
    result = invoke("ask", question, "--index", index, "--mode", "lexical", "--json", "-k", "3")
    assert result.exit_code == 0, result.output
    return [hit["source"] for hit in json.loads(result.stdout)["hits"]]


@pytest.fixture
def offline(tmp_path, monkeypatch, no_bundled_models):
    """tmp_path as cwd with docs/ indexed lexically into idx/ (the default model is unreachable)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("SEMSEARCH_MODEL", raising=False)
    monkeypatch.delenv("SEMSEARCH_INDEX", raising=False)
    write_corpus(tmp_path / "docs")
    result = invoke("index", "docs", "--index", "idx")
    assert result.exit_code == 0, result.output
    assert lexical_top(BASELINE[0])[0] == BASELINE[1]
    return tmp_path


def sources(index: str = "idx") -> set[str]:
    from index.search.reader import open_reader

    reader = open_reader(Path(index))
    try:
        return {row[0] for row in reader.store.conn.execute("SELECT source FROM documents")}
    finally:
        reader.close()


# --- hostile input: what can be read is indexed, the rest is a warning per path -----------------------

GIANT = " ".join(f"levee{i % 97} river valley farmers" for i in range(60_000))  # ~1.7 MB, one line, no end
INPUT_CASES = {
    # name: (files {path under docs/: bytes}, question, expected source or None, stderr needles, skipped
    #        [, documents added when not 1 per expected source])
    "utf16-bom": ({"u16.txt": codecs.BOM_UTF16_LE + "Zeppelin hangar history.".encode("utf-16-le")},
                  "zeppelin hangar", "docs/u16.txt", [], 0),
    "utf16-no-bom": ({"u16n.txt": "Zeppelin hangar history and more words here.".encode("utf-16-le")},
                     "zeppelin hangar", "docs/u16n.txt", ["read as utf_16_le (detected)"], 0),
    "utf32-bom": ({"u32.txt": codecs.BOM_UTF32_BE + "Zeppelin hangar.".encode("utf-32-be")},
                  "zeppelin", "docs/u32.txt", [], 0),
    "latin1": ({"latin.txt": "Le garçon mangé la crème brûlée à côté de la forêt.".encode("latin-1")},
               "crème brûlée", "docs/latin.txt", ["read as cp1252 (detected)"], 0),
    "one-bad-byte": ({"bad.txt": b"Zeppelin caf\xc3\xa9 hangar \xff history."},
                     "zeppelin hangar", "docs/bad.txt", ["1 undecodable byte sequence(s)"], 0),
    "binary": ({"blob.txt": b"\x00\x01\x02\x03" * 100}, None, None, ["skipped docs/blob.txt: binary file"], 1),
    "empty": ({"empty.md": b"  \n"}, None, None, ["skipped docs/empty.md: empty file"], 1),
    "jsonl-bad-line": ({"recs.jsonl": b'{"id": "a", "text": "Zeppelin hangar."}\n{"id": "b", "text": oops}\n'
                                      b'{"id": "c", "text": "Airship mast."}\n'},
                       "airship mast", "docs/recs.jsonl:c", ["skipped docs/recs.jsonl:2: not valid JSON"], 1, 2),
    "markdown-code": ({"m.md": b"# Zeppelin Notes\n\nThe **hangar** was [huge](http://x).\n\n```\nsecretcodeword()\n```\n"},
                      "zeppelin hangar", "docs/m.md", [], 0),
    "scanned-pdf": ({"scan.pdf": None}, None, None, ["skipped docs/scan.pdf: no text layer", "OCR"], 1),
    "damaged-pdf": ({"bad.pdf": b"%PDF-1.4 broken"}, None, None, ["skipped docs/bad.pdf: not a readable PDF"], 1),
    "damaged-docx": ({"bad.docx": b"PK\x03\x04junk"}, None, None, ["skipped docs/bad.docx: not a readable Word file"], 1),
    "broken-symlink": ({"gone.txt": "->nowhere"}, None, None, ["skipped docs/gone.txt: cannot read"], 1),
    "fifo": ({"pipe.txt": "fifo"}, None, None, ["skipped docs/pipe.txt: not a regular file"], 1),
    "giant-line": ({"giant.txt": GIANT.encode()}, "levee42 farmers", "docs/giant.txt", [], 0),
    "cjk": ({"zh.txt": "北京是中华人民共和国的首都，也是全国的政治和文化中心。".encode()},
            "中国的首都是哪个城市？", "docs/zh.txt", [], 0),
    "odd-names": ({"sub dir/naïve file (1).txt": b"Zeppelin hangar with spaces in its name."},
                  "zeppelin hangar", "docs/sub dir/naïve file (1).txt", [], 0),
}


def place(root: Path, files: dict) -> None:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if data is None:
            write_blank_pdf(path)
        elif data == "->nowhere":
            path.symlink_to(root / "does-not-exist.txt")
        elif data == "fifo":
            os.mkfifo(path)
        else:
            path.write_bytes(data)


@pytest.mark.parametrize("case", list(INPUT_CASES))
def test_hostile_input(offline, case):
    files, question, expected, needles, skipped, *added = INPUT_CASES[case]
    place(offline / "docs", files)
    result = invoke("index", "docs", "--index", "idx", "--json")
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in result.stderr, result.stderr
    report = json.loads(result.stdout)
    assert len([s for s in report["skipped"] if s.get("kind", "skipped") == "skipped"]) == skipped
    assert report["documents"] == 4 + (added[0] if added else expected is not None)
    if question:
        assert expected in lexical_top(question)
    assert lexical_top(BASELINE[0])[0] == BASELINE[1]  # the rest of the index still answers


def test_giant_line_stays_windowed(offline):
    place(offline / "docs", {"giant.txt": GIANT.encode()})
    result = invoke("index", "docs", "--index", "idx", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["passages"] > len(GIANT) // 2000  # cut into many passages, none lost


@pytest.mark.skipif(IS_ROOT, reason="root reads any file and folder")
def test_unreadable_file_and_folder_are_warnings(offline):
    place(offline / "docs", {"locked.txt": b"Zeppelin.", "closed/inner.txt": b"Hangar."})
    (offline / "docs/locked.txt").chmod(0)
    (offline / "docs/closed").chmod(0)
    try:
        result = invoke("index", "docs", "--index", "idx", "--json")
    finally:
        (offline / "docs/closed").chmod(0o755)
    assert result.exit_code == 0, result.output
    assert "skipped docs/locked.txt: cannot read (Permission denied)" in result.stderr
    assert "skipped docs/closed: folder skipped (Permission denied)" in result.stderr
    assert len(json.loads(result.stdout)["skipped"]) == 2


def test_unlistable_folder_is_a_counted_warning(offline, monkeypatch):
    """As root nothing is unreadable, so os.walk's error for one folder is simulated."""
    import embed.text.documents as documents

    real_walk = os.walk

    def walk(top, onerror=None, **kwargs):
        for folder, dirs, names in real_walk(top, onerror=onerror, **kwargs):
            if Path(folder).name == "space":
                onerror(PermissionError(errno.EACCES, "Permission denied", folder))
                dirs[:] = []
                continue
            yield folder, dirs, names

    monkeypatch.setattr(documents.os, "walk", walk)
    result = invoke("index", "docs", "--index", "idx", "--json")
    assert result.exit_code == 0, result.output
    assert "skipped docs/space: folder skipped (Permission denied)" in result.stderr
    report = json.loads(result.stdout)
    assert len(report["skipped"]) == 1 and report["documents"] == 2  # space/ was not read
    assert lexical_top(BASELINE[0])[0] == BASELINE[1]


def test_unreadable_file_is_a_counted_warning(offline, monkeypatch):
    """As root every file is readable, so the permission error of one file is simulated."""
    place(offline / "docs", {"locked.txt": b"Zeppelin hangar.", "open.txt": b"Airship mast."})
    real = Path.read_bytes

    def read_bytes(self):
        if self.name == "locked.txt":
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    result = invoke("index", "docs", "--index", "idx", "--json")
    assert result.exit_code == 0, result.output
    assert "skipped docs/locked.txt: cannot read (Permission denied)" in result.stderr
    report = json.loads(result.stdout)
    assert [s["path"] for s in report["skipped"]] == ["docs/locked.txt"] and report["documents"] == 5
    text = invoke("index", "docs", "--index", "idx")
    assert "skipped 1 (files, folders or jsonl lines" in text.stdout
    assert "docs/open.txt" in lexical_top("airship mast")


# --- hostile environment: one line, exit 1, the previous index unchanged ------------------------------


def damage_sqlite(root: Path) -> str:
    gen = json.loads((root / "idx/manifest.json").read_text())["generation"]
    (root / "idx" / gen / "passages.sqlite").write_bytes(b"this is not a database" * 200)
    return "passages.sqlite"


def damage_manifest(root: Path) -> str:
    (root / "idx/manifest.json").write_text("{broken", encoding="utf-8")
    return "manifest.json"


ENV_CASES = {
    "damaged-passages": (damage_sqlite, ["damaged", "passages.sqlite", "--rebuild"]),
    "damaged-manifest": (damage_manifest, ["damaged", "manifest.json", "--rebuild"]),
}


@pytest.mark.parametrize("case", list(ENV_CASES))
def test_damaged_index_is_one_line_and_rebuild_recovers(offline, case):
    damage, needles = ENV_CASES[case]
    damage(offline)
    result = invoke("index", "docs", "--index", "idx")
    assert result.exit_code == 1, result.output
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output
    for needle in needles:
        assert needle in result.stderr
    rebuilt = invoke("index", "docs", "--index", "idx", "--rebuild")
    assert rebuilt.exit_code == 0, rebuilt.output
    assert lexical_top(BASELINE[0])[0] == BASELINE[1]


def test_index_option_naming_a_file(offline):
    (offline / "afile").write_text("x", encoding="utf-8")
    result = invoke("index", "docs", "--index", "afile")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "cannot write the index at afile: a file is in the way" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.skipif(IS_ROOT, reason="root writes into read-only folders")
def test_unwritable_index_folder(offline):
    (offline / "idx").chmod(0o555)
    try:
        result = invoke("index", "docs", "--index", "idx")
    finally:
        (offline / "idx").chmod(0o755)
    assert result.exit_code == 1 and "permission denied" in result.stderr
    assert lexical_top(BASELINE[0])[0] == BASELINE[1]


@pytest.mark.parametrize("error", [errno.ENOSPC, errno.EACCES])
def test_write_failure_mid_run_keeps_the_old_index(offline, monkeypatch, error):
    """Disk full (or permission lost) while the new generation is written: simulated at the array write."""
    import index.build.builder as builder

    place(offline / "docs", {"new.txt": b"Zeppelin hangar history."})

    def failing(path, *args, **kwargs):
        raise OSError(error, os.strerror(error), str(path))

    monkeypatch.setattr(builder, "save_array", failing)
    before = sorted(p.name for p in (offline / "idx").iterdir())
    result = invoke("index", "docs", "--index", "idx")
    assert result.exit_code == 1, result.output
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert ("disk is full" if error == errno.ENOSPC else "permission denied") in result.stderr
    assert "previous index is unchanged" in result.stderr
    assert sorted(p.name for p in (offline / "idx").iterdir()) == before  # no half-written generation left
    assert lexical_top(BASELINE[0])[0] == BASELINE[1]
    assert "docs/new.txt" not in sources()


def test_disk_full_at_the_manifest_keeps_the_old_index(offline, monkeypatch):
    import index.storage.manifest as manifest

    place(offline / "docs", {"new.txt": b"Zeppelin hangar history."})

    def full(path, payload):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(manifest, "write_json_atomic", full)
    before = sorted(p.name for p in (offline / "idx").iterdir())
    result = invoke("index", "docs", "--index", "idx")
    assert result.exit_code == 1 and "disk is full" in result.stderr, result.output
    assert len(result.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in (offline / "idx").iterdir()) == before
    assert lexical_top(BASELINE[0])[0] == BASELINE[1] and "docs/new.txt" not in sources()


def test_leftovers_of_killed_runs_are_removed(offline):
    (offline / "idx/gen-999999").mkdir()
    (offline / "idx/gen-999999/passages.sqlite").write_bytes(b"half")
    (offline / "idx/.manifest.json.tmp-4242").write_text("{", encoding="utf-8")
    result = invoke("index", "docs", "--index", "idx")
    assert result.exit_code == 0, result.output
    names = {p.name for p in (offline / "idx").iterdir()}
    assert "gen-999999" not in names and ".manifest.json.tmp-4242" not in names


def test_nothing_to_index_says_so(offline):
    (offline / "empty").mkdir()
    (offline / "empty/notes.png").write_bytes(b"\x89PNG")
    result = invoke("index", "empty", "--index", "fresh")
    assert result.exit_code == 1, result.output
    assert "nothing was indexed" in result.stderr.lower()
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("model", ["./nope", "{tmp}/not-a-model"])
def test_model_path_that_is_not_a_model(offline, model):
    (offline / "not-a-model").mkdir()
    (offline / "not-a-model/readme.txt").write_text("x", encoding="utf-8")
    model = model.format(tmp=offline)
    result = invoke("index", "docs", "--index", "other", "--model", model)
    assert result.exit_code == 1, result.output
    assert model in result.stderr and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (offline / "other/manifest.json").exists()


def test_offline_hub_id_keeps_lexical_fallback(offline):
    result = invoke("index", "docs", "--index", "hub", "--model", "someone/unreachable-model")
    assert result.exit_code == 0, result.output
    assert "notice:" in result.stderr and "someone/unreachable-model" in result.stderr


# --- the same files from another working directory keep their ids ------------------------------------


def test_ids_do_not_depend_on_the_working_directory(offline, monkeypatch):
    first = sources()
    monkeypatch.chdir(offline / "docs")
    result = invoke("index", ".", "--index", str(offline / "idx2"))
    assert result.exit_code == 0, result.output
    monkeypatch.chdir(offline / "docs/space")
    again = invoke("index", str(offline / "docs"), "--index", str(offline / "idx3"))
    assert again.exit_code == 0, again.output
    monkeypatch.chdir(offline)
    assert sources("idx2") == sources("idx3") == first == {
        "docs/space/moon.txt", "docs/space/mars.md", "docs/food/bread.txt", "docs/food/soup.html"}


def test_another_folder_of_the_same_name_gets_a_longer_prefix(offline):
    (offline / "elsewhere/docs").mkdir(parents=True)
    (offline / "elsewhere/docs/note.txt").write_text("Zeppelin hangar history.", encoding="utf-8")
    result = invoke("index", "elsewhere/docs", "--index", "idx")
    assert result.exit_code == 0, result.output
    assert "elsewhere/docs/note.txt" in sources() and "docs/food/bread.txt" in sources()
    recorded = json.loads((offline / "idx/manifest.json").read_text())["sources"]
    assert recorded == {"docs": str(offline / "docs"), "elsewhere/docs": str(offline / "elsewhere/docs")}
    assert lexical_top(BASELINE[0])[0] == BASELINE[1]


# --- PDF, Word and CJK answered by `ask` with a (tiny) model ------------------------------------------


@pytest.fixture
def documents_index(tmp_path, monkeypatch, tiny_bert_dir):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SEMSEARCH_INDEX", raising=False)
    write_pdf(tmp_path / "papers/valley.pdf", [
        ["The heavy rains flooded the valley and the farmers moved their cattle to higher ground."],
        ["Engineers built a levee of reinforced concrete to protect the harbour town from the river."],
    ], title="Valley Report")
    write_docx(tmp_path / "papers/harbour.docx", [
        ("title", "Harbour Report"), ("p", "The harbour was dredged in spring."),
        ("h1", "Fishing Fleet"), ("p", "The trawlers returned with record catches of cod and herring."),
    ])
    (tmp_path / "papers/tokyo.md").write_text("# 東京\n\n東京タワーは東京都港区にある電波塔で、高さは三百三十三メートルです。\n",
                                             encoding="utf-8")
    result = invoke("index", "papers", "--index", "idx", "--model", str(tiny_bert_dir))
    assert result.exit_code == 0, result.output
    return tmp_path


def ask_json(question: str, mode: str = "lexical") -> dict:
    result = invoke("ask", question, "--index", "idx", "--mode", mode, "--json", "-k", "3")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_ask_answers_from_a_pdf_with_its_page(documents_index):
    top = ask_json("levee of reinforced concrete")["hits"][0]
    assert top["source"] == "papers/valley.pdf" and top["page"] == 2 and top["title"] == "Valley Report"
    text = invoke("ask", "levee of reinforced concrete", "--index", "idx", "--mode", "lexical")
    assert "papers/valley.pdf#" in text.stdout and "p. 2" in text.stdout
    hybrid = ask_json("cattle on higher ground", mode="hybrid")["hits"]
    assert any(hit.get("page") == 1 for hit in hybrid)


def test_ask_answers_from_a_docx_with_its_section(documents_index):
    top = ask_json("trawlers cod herring")["hits"][0]
    assert top["source"] == "papers/harbour.docx" and top["title"] == "Harbour Report \u203a Fishing Fleet"
    assert "page" not in top


def test_cjk_question_answered_lexically(documents_index):
    top = ask_json("東京タワーの高さは何メートルですか？")["hits"][0]
    assert top["source"] == "papers/tokyo.md"


# --- damage to an index with vectors (tiny model) -----------------------------------------------------


@pytest.fixture
def dense_index(tmp_path, monkeypatch, tiny_bert_dir):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SEMSEARCH_INDEX", raising=False)
    write_corpus(tmp_path / "docs")
    result = invoke("index", "docs", "--index", "idx", "--model", str(tiny_bert_dir))
    assert result.exit_code == 0, result.output
    return tmp_path


@pytest.mark.parametrize("victim", ["passages.sqlite", "vectors.npy"])
def test_damaged_index_with_vectors(dense_index, victim):
    gen = json.loads((dense_index / "idx/manifest.json").read_text())["generation"]
    path = dense_index / "idx" / gen / victim
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 3])  # a truncated file
    (dense_index / "docs/new.txt").write_text("Zeppelin hangar history.", encoding="utf-8")  # real work to do
    result = invoke("index", "docs", "--index", "idx")
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and len(result.stderr.strip().splitlines()) == 1
    assert "damaged" in result.stderr and victim in result.stderr and "--rebuild" in result.stderr
    assert sorted(p.name for p in (dense_index / "idx").iterdir() if p.name.startswith("gen-")) == [gen]
    asked = invoke("ask", "bread", "--index", "idx")
    assert asked.exit_code == 1 and victim in asked.stderr  # questions name the damage too
    rebuilt = invoke("index", "docs", "--index", "idx", "--rebuild")
    assert rebuilt.exit_code == 0, rebuilt.output
    assert lexical_top(BASELINE[0])[0] == BASELINE[1]
