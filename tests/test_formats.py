"""Format readers (embed/text/formats): PDF, Word, Markdown, encodings, JSON Lines; stable source keys;
windowed chunking of giant lines."""

from __future__ import annotations

import codecs
import json
from pathlib import Path

import pytest

from embed.errors import UnreadableFile
from embed.records import ChunkerSettings, Document
from embed.text.approx import ApproxCounter
from embed.text.chunking import COUNT_BATCH, chunk_document
from embed.text.documents import find_sources, read_file, root_labels
from embed.text.formats.markdown import markdown_to_text
from embed.text.formats.plain import decode_bytes
from tests.docmaker import HEADER, write_blank_pdf, write_docx, write_pdf

RAIN = ("The heavy rains flooded the valley and the farmers moved their cattle to higher ground for many weeks "
        "while engineers studied the river banks and the old bridges near the town.")
LEVEE = "Engineers later built a levee along the river with con-\ncrete and steel to protect the town."
BIRDS = ("A second page talks about the migration of birds across the continent in the autumn months, when the "
         "geese fly south in long lines that stretch across the")
BIRDS_END = "sky above the marshes. Farmers watch them pass."
BREAD = "The third page is about bread, ovens and the bakers who rise before dawn."


def read(path: Path):
    sources = find_sources([path])
    return read_file(sources[0])


def chunk(doc: Document, budget: int = 40):
    return chunk_document(doc, ApproxCounter(), ChunkerSettings(budget, 5))


# --- PDF ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def paper(tmp_path_factory) -> Path:
    return write_pdf(tmp_path_factory.mktemp("pdf") / "paper.pdf", [[RAIN, LEVEE], [BIRDS], [BIRDS_END, BREAD]],
                     title="Valley Notes")


def test_pdf_paragraphs_pages_headers_and_hyphenation(paper):
    loaded = read(paper)
    (doc,) = loaded.documents
    assert doc.title == "Valley Notes" and doc.source == "paper.pdf"
    assert HEADER not in doc.text  # the running header repeats on every page
    assert "\n\n1\n\n" not in doc.text and not doc.text.rstrip().endswith("3")  # page numbers gone
    assert "with concrete and steel" in doc.text  # "con-" + "crete" joined
    assert doc.text.split("\n\n")[0] == RAIN  # layout lines of one paragraph joined with spaces
    assert f"stretch across the {BIRDS_END}" in doc.text  # a paragraph continued on the next page
    assert len(doc.pages) == 3
    passages = chunk(doc)
    page_of = {p.page for p in passages if "bread" in p.text}
    assert page_of == {3}
    assert [p.page for p in passages if "levee" in p.text] == [1]
    assert [p.page for p in passages if p.text.startswith("A second page")] == [2]


def test_scanned_pdf_is_skipped_with_ocr_hint(tmp_path):
    with pytest.raises(UnreadableFile, match="no text layer.*OCR"):
        read(write_blank_pdf(tmp_path / "scan.pdf"))


@pytest.mark.parametrize("data", [b"%PDF-1.4\nthis is not really a pdf", b"", b"\x00" * 100])
def test_damaged_pdf_is_one_reason(tmp_path, data):
    (tmp_path / "bad.pdf").write_bytes(data)
    with pytest.raises(UnreadableFile) as caught:
        read(tmp_path / "bad.pdf")
    assert caught.value.path.endswith("bad.pdf") and "\n" not in str(caught.value)


# --- Word ---------------------------------------------------------------------------------------------


def test_docx_headings_title_sections_and_tables(tmp_path):
    path = write_docx(tmp_path / "harbour.docx", [
        ("title", "Harbour Report"),
        ("p", "The harbour was dredged in spring so that larger ships could dock."),
        ("h1", "Fishing Fleet"),
        ("p", "The fishing fleet returned with record catches of cod and herring this year."),
        ("table", "Boat|Catch;Aurora|120 t"),
        ("h2", "Repairs"),
        ("p", "Two trawlers needed new engines after the winter storms."),
    ])
    (doc,) = read(path).documents
    assert doc.title == "Harbour Report"
    assert "Aurora | 120 t" in doc.text.split("\n\n")
    titles = {p.text: p.title for p in chunk_document(doc, ApproxCounter(), ChunkerSettings(30, 1))}
    assert titles["Two trawlers needed new engines after the winter storms."] == "Harbour Report \u203a Repairs"
    assert titles["The harbour was dredged in spring so that larger ships could dock."] == "Harbour Report"


def test_damaged_docx(tmp_path):
    (tmp_path / "broken.docx").write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(UnreadableFile, match="not a readable Word file"):
        read(tmp_path / "broken.docx")


# --- Markdown -----------------------------------------------------------------------------------------

MARKDOWN = """---
title: front matter
---
# Mars **Rover** Notes

The rover found [frozen water](http://example.org/ice) under *dusty* soil, using `drill-2`.

- first item
- second item

```python
print("code is left out")
```

    indented code is left out too

| site | depth |
|------|-------|
| A    | 2 m   |

<div>raw html block</div>

## Power

Solar panels ![panel](p.png) keep it going.
"""


def test_markdown_markup_stripped_and_code_left_out():
    text, sections = markdown_to_text(MARKDOWN)
    blocks = text.split("\n\n")
    assert blocks[0] == "Mars Rover Notes"
    assert blocks[1] == "The rover found frozen water under dusty soil, using drill-2."
    assert "first item" in blocks and "site depth" in blocks and "A 2 m" in blocks
    assert "code is left out" not in text and "indented code" not in text and "front matter" not in text
    assert "<div>" not in text and "http" not in text and "**" not in text
    assert "Solar panels panel keep it going." in blocks
    assert [heading for _, heading in sections] == ["Mars Rover Notes", "Power"]
    assert all(text[offset:].startswith(heading) for offset, heading in sections)


def test_markdown_file_title_from_first_heading(tmp_path):
    (tmp_path / "m.md").write_text(MARKDOWN, encoding="utf-8")
    (doc,) = read(tmp_path / "m.md").documents
    assert doc.title == "Mars Rover Notes"


def test_markdown_of_only_code_is_skipped(tmp_path):
    (tmp_path / "code.md").write_text("```\nx = 1\n```\n", encoding="utf-8")
    with pytest.raises(UnreadableFile, match="no text outside code blocks"):
        read(tmp_path / "code.md")


# --- encodings ----------------------------------------------------------------------------------------

TEXT = "Café crème in München: 東京 and naïve façades."


@pytest.mark.parametrize(
    ("data", "text", "note"),
    [
        (codecs.BOM_UTF8 + TEXT.encode(), TEXT, None),
        (codecs.BOM_UTF16_LE + TEXT.encode("utf-16-le"), TEXT, None),
        (codecs.BOM_UTF16_BE + TEXT.encode("utf-16-be"), TEXT, None),
        (codecs.BOM_UTF32_LE + TEXT.encode("utf-32-le"), TEXT, None),
        (codecs.BOM_UTF32_BE + TEXT.encode("utf-32-be"), TEXT, None),
        ("Hello, this is UTF-16 text written without a byte order mark.".encode("utf-16-le"),
         "Hello, this is UTF-16 text written without a byte order mark.", "read as utf_16_le (detected)"),
        ("Le garçon a mangé une pâtisserie à côté de l'église.".encode("cp1252"),
         "Le garçon a mangé une pâtisserie à côté de l'église.", "read as cp1252 (detected)"),
        ("Привет, мир! Это обычный текст.".encode("cp1251"), "Привет, мир! Это обычный текст.", "read as cp1251"),
        ("Ok café text".encode() + b"\xe9 and more caf\xc3\xa9", "Ok café text\ufffd and more café",
         "1 undecodable byte sequence(s) in UTF-8 text replaced"),
        ("a real \ufffd stays".encode(), "a real \ufffd stays", None),
    ],
)
def test_decoding(data, text, note):
    decoded, notes = decode_bytes(data, "f.txt")
    assert decoded == text
    assert [n.message for n in notes if note and note in n.message] or (note is None and not notes)


# --- JSON Lines ---------------------------------------------------------------------------------------


def test_jsonl_bad_lines_are_notes_and_the_rest_is_read(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    lines = [
        json.dumps({"id": "a", "text": "First body."}),
        '{"id": "b", "text": broken',
        json.dumps({"id": "a", "text": "Duplicate id."}),
        json.dumps(["not", "an", "object"]),
        json.dumps({"id": [1], "text": "bad id"}),
        json.dumps({"text": "Line six has no id."}),
    ]
    path = tmp_path / "c.jsonl"
    path.write_bytes(("\n".join(lines) + "\n").encode() + b'{"id": "z", "text": "caf\xe9"}\n')
    loaded = read(path)
    assert [d.source for d in loaded.documents] == ["c.jsonl:a", "c.jsonl:6", "c.jsonl:z"]
    where = {n.where: n.message for n in loaded.notes}
    assert where["c.jsonl:2"].startswith("not valid JSON")
    assert where["c.jsonl:3"] == "duplicate id 'a' (the first one is kept)"
    assert where["c.jsonl:4"] == 'no "text" string'
    assert where["c.jsonl:5"] == '"id" must be a string or an integer'
    assert [n.where for n in loaded.notes if n.skipped] == [f"c.jsonl:{n}" for n in (2, 3, 4, 5)]
    assert "undecodable" in where["c.jsonl:7"] and loaded.documents[-1].text == "caf\ufffd"


def test_jsonl_utf16_with_bom(tmp_path):
    path = tmp_path / "w.jsonl"
    path.write_bytes(codecs.BOM_UTF16_LE + (json.dumps({"id": 1, "text": "東京の雨"}) + "\n").encode("utf-16-le"))
    (doc,) = read(path).documents
    assert doc.text == "東京の雨" and doc.source == "w.jsonl:1"


# --- stable source keys -------------------------------------------------------------------------------


def test_keys_do_not_depend_on_the_working_directory(tmp_path, monkeypatch):
    (tmp_path / "work/seeds/sub").mkdir(parents=True)
    (tmp_path / "work/seeds/sub/a.txt").write_text("x", encoding="utf-8")
    (tmp_path / "work/seeds/b.txt").write_text("x", encoding="utf-8")
    keys = []
    for cwd, arg in [("work", "seeds"), ("work", "seeds/"), ("work/seeds", "."), ("work/seeds/sub", ".."),
                     (".", str(tmp_path / "work/seeds"))]:
        monkeypatch.chdir(tmp_path / cwd)
        keys.append([s.key for s in find_sources([arg])])
    assert all(k == ["seeds/b.txt", "seeds/sub/a.txt"] for k in keys), keys
    monkeypatch.chdir(tmp_path)
    assert [s.key for s in find_sources(["work/seeds/sub/a.txt"])] == ["a.txt"]


def test_a_recorded_label_of_a_folder_that_still_exists_is_not_reused(tmp_path):
    (tmp_path / "a/docs").mkdir(parents=True)
    (tmp_path / "b/docs").mkdir(parents=True)
    taken = {"docs": str(tmp_path / "a/docs")}
    assert root_labels([tmp_path / "b/docs"], taken) == {tmp_path / "b/docs": "b/docs"}
    assert root_labels([tmp_path / "a/docs"], taken) == {tmp_path / "a/docs": "docs"}  # the same folder
    (tmp_path / "a/docs").rename(tmp_path / "a/moved")
    assert root_labels([tmp_path / "b/docs"], taken) == {tmp_path / "b/docs": "docs"}  # the old one is gone


def test_roots_with_the_same_name_take_a_parent():
    labels = root_labels([Path("/x/one/docs"), Path("/x/two/docs"), Path("/x/seeds")])
    assert labels == {Path("/x/one/docs"): "one/docs", Path("/x/two/docs"): "two/docs", Path("/x/seeds"): "seeds"}


# --- bounded chunking of giant lines ------------------------------------------------------------------


class RecordingCounter(ApproxCounter):
    def __init__(self) -> None:
        self.largest_batch = 0
        self.longest_text = 0

    def count(self, texts):
        self.largest_batch = max(self.largest_batch, len(texts))
        self.longest_text = max([self.longest_text, *map(len, texts)])
        return super().count(texts)


def test_giant_line_is_windowed_before_counting():
    words = "river valley farmers cattle levee concrete bridge engineers".split()
    text = " ".join(words[i % len(words)] for i in range(120_000))  # ~900 kB, no sentence end, one line
    counter = RecordingCounter()
    budget = 64
    passages = chunk_document(Document("big", "Big", text, "big"), counter, ChunkerSettings(budget, 16))
    assert counter.longest_text <= budget * 8 and counter.largest_batch <= COUNT_BATCH
    assert max(counter.count([p.text for p in passages])) <= budget
    assert " ".join(p.text for p in passages) == text  # nothing lost, nothing repeated


def test_giant_word_without_spaces_is_cut():
    text = "x" * 50_000
    passages = chunk_document(Document("blob", "Blob", text, "blob"), ApproxCounter(), ChunkerSettings(64, 16))
    assert "".join(p.text for p in passages) == text
    assert max(ApproxCounter().count([p.text for p in passages])) <= 64


@pytest.mark.parametrize(("user_password", "readable"), [("", True), ("secret", False)])
def test_encrypted_pdf(tmp_path, user_password, readable):
    from fpdf import FPDF
    from fpdf.enums import EncryptionMethod

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=11)
    pdf.multi_cell(0, 6, "Encrypted text about rivers and their valleys.")
    pdf.set_encryption(owner_password="owner", user_password=user_password, encryption_method=EncryptionMethod.RC4)
    pdf.output(str(tmp_path / "e.pdf"))
    if readable:  # an owner password alone (no password to open) does not stop reading
        assert read(tmp_path / "e.pdf").documents[0].text == "Encrypted text about rivers and their valleys."
    else:
        with pytest.raises(UnreadableFile, match="encrypted PDF that needs a password"):
            read(tmp_path / "e.pdf")
