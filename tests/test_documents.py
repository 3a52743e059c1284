import json
from pathlib import Path

import pytest

from embed.text.documents import detect_title, discover_files, display_path, extract_html, load_documents
from embed.errors import PathNotFound, UnreadableFile

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


def write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8")
    return path


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


# --- discover_files -----------------------------------------------------------------------------


def test_discover_files_recurses_sorted_and_skips_hidden_and_unsupported(in_tmp):
    for name in ["b.txt", "a.md", "sub/c.html", "sub/deeper/d.jsonl", "sub/e.htm", "x.markdown", "Up.TXT"]:
        write(in_tmp / "docs" / name, "text")
    for name in [".hidden.txt", ".git/f.txt", "sub/.cache/g.md", "notes.doc", "image.png", "noext"]:
        write(in_tmp / "docs" / name, "text")
    found = [p.relative_to("docs").as_posix() for p in discover_files(["docs"])]
    assert found == ["Up.TXT", "a.md", "b.txt", "sub/c.html", "sub/deeper/d.jsonl", "sub/e.htm", "x.markdown"]


def test_discover_files_keeps_argument_order_named_files_and_drops_duplicates(in_tmp):
    write(in_tmp / "d/a.txt", "x")
    named = write(in_tmp / "notes.log", "x")
    hidden = write(in_tmp / ".secret.txt", "x")
    found = discover_files([named, "d", Path("d/a.txt"), hidden])
    assert found == [named, Path("d/a.txt"), hidden]


@pytest.mark.parametrize("missing", ["nope", "d/nope.txt"])
def test_discover_files_missing_path(in_tmp, missing):
    (in_tmp / "d").mkdir()
    with pytest.raises(PathNotFound) as caught:
        discover_files(["d", missing])
    assert caught.value.path == missing


def test_display_path_relative_inside_cwd_and_absolute_outside(in_tmp, tmp_path_factory):
    assert display_path(in_tmp / "seeds" / "a.txt") == "seeds/a.txt"
    assert display_path(Path("seeds/../seeds/a.txt")) == "seeds/a.txt"
    outside = tmp_path_factory.mktemp("elsewhere") / "b.txt"
    assert display_path(outside) == outside.as_posix()
    assert Path(display_path(outside)).is_absolute()


# --- plain text and titles ----------------------------------------------------------------------


def test_seed_004_title_and_source(monkeypatch):
    monkeypatch.chdir(SEEDS.parent)
    (doc,) = load_documents(Path("seeds/004_416428c4621a00fd.txt"))
    assert doc.title == "Iran to Never Retreat from Defending Resistance: FM"
    assert doc.source == doc.path == "seeds/004_416428c4621a00fd.txt"
    assert doc.text.startswith("Sunday 17 September 2023")


def test_seed_000_single_long_line_falls_back_to_stem(monkeypatch):
    monkeypatch.chdir(SEEDS.parent)
    (doc,) = load_documents(Path("seeds/000_13394d5934e0f254.txt"))
    assert doc.title == "000_13394d5934e0f254"
    assert len(doc.text) == 5256


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("# Markdown Title\n\nBody text here.", "Markdown Title"),
        ("Friday, March 3, 2023\nBig News Today\nThe body starts here and goes on.", "Big News Today"),
        ("Posted 10:45 am\nBig News Today\nBody.", "Big News Today"),
        ("This is a full sentence that ends with a period.\nMore text.", "fallback"),
        ("Just one short line", "Just one short line"),
        ("Title: subtitle ends with colon:\nBody.", "fallback"),
        ("12/03/2023\n---\nReal Headline Here\nBody text.", "Real Headline Here"),
        (" ".join(["word"] * 30) + "\nShort line", "fallback"),
        ("", "fallback"),
    ],
)
def test_detect_title(text, expected):
    assert detect_title(text, "fallback") == expected


def test_text_file_with_bom_and_crlf(in_tmp):
    path = write(in_tmp / "a.txt", "\ufeffHeadline Here\r\nBody line.\r\n".encode())
    (doc,) = load_documents(path)
    assert doc.text == "Headline Here\nBody line.\n"
    assert doc.title == "Headline Here"


def test_other_extension_is_read_as_text(in_tmp):
    (doc,) = load_documents(write(in_tmp / "notes.log", "A long first line of plain text that ends here."))
    assert doc.title == "notes" and doc.source == "notes.log"


# --- unreadable files ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("bin.txt", b"abc\x00def", "binary file"),
        ("elf.txt", b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 8, "binary file"),
        ("empty.txt", b"", "empty file"),
        ("blank.md", b" \n\t\r\n  ", "empty file"),
        ("bom_only.txt", b"\xef\xbb\xbf\n", "empty file"),
        ("bad.jsonl", b'{"text": broken}\n', "no usable line (1 bad, first bad.jsonl:1: not valid JSON"),
        ("list.jsonl", b'["text"]\n', "no usable line (1 bad, first list.jsonl:1: no \"text\" string"),
        ("badid.jsonl", b'{"id": [1], "text": "x"}\n', "no usable line (1 bad, first badid.jsonl:1: \"id\" must be"),
        ("blank.jsonl", b"\n\n", "empty file"),
        ("scripts.html", b"<html><script>x()</script></html>", "no visible text"),
    ],
)
def test_unreadable_files(in_tmp, name, data, reason):
    path = write(in_tmp / name, data)
    with pytest.raises(UnreadableFile) as caught:
        load_documents(path)
    assert caught.value.reason.startswith(reason)
    assert caught.value.path == name


def test_directory_is_unreadable(in_tmp):
    (in_tmp / "d.txt").mkdir()
    with pytest.raises(UnreadableFile, match="cannot read"):
        load_documents(Path("d.txt"))


# --- html ---------------------------------------------------------------------------------------

PAGE = """<!doctype html><html><head><title> Page &amp; Title </title><style>p {color: red}</style>
<script>var hidden = 1;</script></head><body><h1>Main heading</h1>
<p>First   paragraph with <b>bold</b>
text.</p><div>Second<br>third</div><noscript>enable js</noscript><template><p>tpl</p></template>
<ul><li>one</li><li>two &lt;3</li></ul></body></html>"""


def test_html_visible_text_and_title(in_tmp):
    (doc,) = load_documents(write(in_tmp / "page.html", PAGE))
    assert doc.title == "Page & Title"
    assert doc.text == "Main heading\n\nFirst paragraph with bold text.\n\nSecond\n\nthird\n\none\n\ntwo <3"


@pytest.mark.parametrize(
    ("markup", "title"),
    [
        ("<body><h1>The <i>H1</i></h1><h1>Second</h1><p>x</p></body>", "The H1"),
        ("<body><p>no heading</p></body>", ""),
    ],
)
def test_html_title_falls_back_to_first_h1(markup, title):
    assert extract_html(markup)[0] == title


def test_html_without_title_uses_stem(in_tmp):
    (doc,) = load_documents(write(in_tmp / "plain.htm", "<p>Only text</p>"))
    assert (doc.title, doc.text) == ("plain", "Only text")


# --- jsonl --------------------------------------------------------------------------------------


def test_jsonl_ids_titles_and_sources(in_tmp):
    records = [
        {"id": "a1", "title": "Given Title", "text": "First body."},
        {"text": "Headline Line\nSecond body text."},
        {"id": 42, "text": "A body that is just one long sentence without a headline."},
        {"id": "empty", "text": "   "},
        {"_id": "4983", "title": "BEIR style", "text": "Line one.\r\nLine two.", "metadata": {}},
    ]
    lines = [json.dumps(record) for record in records]
    lines.insert(1, "")
    docs = load_documents(write(in_tmp / "data" / "c.jsonl", "\n".join(lines) + "\n"))
    assert [(d.source, d.title) for d in docs] == [
        ("data/c.jsonl:a1", "Given Title"),
        ("data/c.jsonl:3", "Headline Line"),
        ("data/c.jsonl:42", "c:42"),
        ("data/c.jsonl:4983", "BEIR style"),
    ]
    assert [d.text for d in docs] == [r["text"] for r in records[:3]] + ["Line one.\nLine two."]
    assert {d.path for d in docs} == {"data/c.jsonl"}
