"""CJK lexical search (character bigrams beside unicode61) and passage files written before it."""

from __future__ import annotations

import sqlite3

import pytest

from embed.records import Passage
from index.storage.store import Store, cjk_bigrams, connect, lexical_terms

PASSAGES = [
    "東京タワーは東京都港区にある電波塔で、高さは三百三十三メートルです。",
    "北京是中华人民共和国的首都，也是全国的政治和文化中心。",
    "서울은 대한민국의 수도이며 한강이 도시를 가로질러 흐른다.",
    "The Eiffel tower stands in Paris beside the Seine.",
]


def passage(n: int, text: str) -> Passage:
    return Passage(f"p.txt#{n}", "p.txt", "t", n, 0, len(text), text)


@pytest.fixture
def store(tmp_path):
    store = Store(connect(tmp_path / "passages.sqlite"))
    for n, text in enumerate(PASSAGES):
        store.insert_passage(passage(n, text))
    store.conn.commit()
    yield store
    store.close()


def test_bigrams_and_terms():
    assert cjk_bigrams("東京タワー") == ["東京", "京タ", "タワ", "ワー"]
    assert cjk_bigrams("a 京 b") == ["京"]
    assert lexical_terms("Where is the 東京タワー tower?") == ["tower"]  # CJK runs go to the bigram table


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("東京タワーの高さは？", 1),
        ("中国的首都是哪个城市？", 2),
        ("대한민국의 수도는 어디입니까?", 3),
        ("eiffel tower paris", 4),
    ],
)
def test_cjk_questions_find_their_passage(store, question, expected):
    assert store.lexical_search(question, 1)[0][0] == expected


def test_mixed_question_adds_both_scores(store):
    pairs = store.lexical_search("Eiffel 東京タワー", 4)
    assert {pk for pk, _ in pairs} == {1, 4}


def test_deleting_passages_deletes_their_bigrams(store):
    store.delete_document("p.txt")
    store.conn.commit()
    assert store.conn.execute("SELECT count(*) FROM passages_cjk").fetchone()[0] == 0
    assert store.lexical_search("東京タワー", 3) == []


OLD_SCHEMA = """
CREATE TABLE documents (source TEXT PRIMARY KEY, path TEXT NOT NULL, title TEXT NOT NULL,
    digest TEXT NOT NULL, chunker TEXT NOT NULL, passages INTEGER NOT NULL);
CREATE TABLE passages (pk INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, source TEXT NOT NULL,
    title TEXT NOT NULL, ordinal INTEGER NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL,
    text TEXT NOT NULL, digest TEXT NOT NULL);
CREATE VIRTUAL TABLE passages_fts USING fts5(title, text, content='passages', content_rowid='pk',
    tokenize='porter unicode61 remove_diacritics 2');
CREATE TRIGGER passages_ai AFTER INSERT ON passages BEGIN
    INSERT INTO passages_fts(rowid, title, text) VALUES (new.pk, new.title, new.text);
END;
"""


def test_a_passage_file_from_before_pages_and_bigrams(tmp_path):
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(OLD_SCHEMA)
    conn.execute('INSERT INTO passages (id, source, title, ordinal, start, "end", text, digest) '
                 "VALUES ('a#0', 'a', 't', 0, 0, 5, ?, 'd')", (PASSAGES[0],))
    conn.commit()
    conn.close()
    old = Store(connect(path, readonly=True))  # a reader of an old index: no page column, no bigram table
    assert old.passage_by_id("a#0").passage.page is None and old.lexical_search("東京タワー", 3) == []
    old.close()
    upgraded = Store(connect(path))  # the next `semsearch index` copies and upgrades it
    assert upgraded.lexical_search("東京タワーの高さ", 3)[0][0] == 1
    upgraded.insert_passage(Passage("b#0", "b", "t", 0, 0, 3, "abc", page=7))
    assert upgraded.passage_by_id("b#0").passage.page == 7
    upgraded.close()
