"""Lexical (BM25) recall on Chinese, Japanese and Korean passages: with the CJK bigram table, and without it.

    python bench/cjk_lexical.py

Twelve short passages (4 per language, written for this check) and one question per passage,
phrased as a question, not copied from it. Each passage goes into a real passage store
(index/storage/store.py); "unicode61 only" queries the same store as semsearch did before the bigram
table: every word of the question (CJK runs whole) OR-ed against the unicode61 FTS5 table. Prints
recall@1 and @3 per language for both.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from embed.records import Passage  # noqa: E402
from index.storage.store import STOP_WORDS, WORD, Store, connect, fts_query  # noqa: E402

CASES = [
    ("zh", "北京是中华人民共和国的首都，也是全国的政治和文化中心。", "中国的首都是哪个城市？"),
    ("zh", "长江是中国最长的河流，全长约六千三百公里，流入东海。", "中国最长的河流是什么？"),
    ("zh", "熊猫主要生活在四川的山区竹林里，以竹子为主要食物。", "熊猫吃什么食物？"),
    ("zh", "茶叶最早在中国被发现和饮用，后来通过丝绸之路传到世界各地。", "茶是怎样传到世界各地的？"),
    ("ja", "東京タワーは東京都港区芝公園にある総合電波塔で、高さは三百三十三メートルです。", "東京タワーの高さは何メートルですか？"),
    ("ja", "富士山は静岡県と山梨県にまたがる活火山で、日本で最も高い山です。", "日本で一番高い山はどこにありますか？"),
    ("ja", "寿司は酢飯と魚介類を組み合わせた日本の伝統的な料理です。", "寿司はどんな料理ですか？"),
    ("ja", "新幹線は日本の高速鉄道で、東京と大阪を約二時間半で結んでいます。", "新幹線で東京から大阪まで何時間かかりますか？"),
    ("ko", "서울은 대한민국의 수도이며 한강이 도시를 가로질러 흐른다.", "대한민국의 수도는 어디입니까?"),
    ("ko", "김치는 배추와 고춧가루로 만드는 한국의 전통 발효 음식이다.", "김치는 무엇으로 만듭니까?"),
    ("ko", "한글은 세종대왕이 백성을 위해 만든 문자로 1443년에 창제되었다.", "한글을 만든 왕은 누구입니까?"),
    ("ko", "제주도는 화산섬으로 한라산과 아름다운 해변으로 유명하다.", "한라산이 있는 섬은 어디입니까?"),
]


def build_store(folder: Path) -> Store:
    store = Store(connect(folder / "passages.sqlite"))
    for n, (lang, text, _) in enumerate(CASES):
        store.insert_passage(Passage(f"{lang}.txt#{n}", f"{lang}.txt", lang, n, 0, len(text), text))
    store.conn.commit()
    return store


def unicode61_only(store: Store, question: str, depth: int) -> list[tuple[int, float]]:
    """The lexical query before CJK bigrams: the question's words (a CJK run is one word) in passages_fts."""
    terms = [w.lower() for w in WORD.findall(question) if w.lower() not in STOP_WORDS]
    rows = store.conn.execute(
        "SELECT rowid, bm25(passages_fts) AS s FROM passages_fts WHERE passages_fts MATCH ? ORDER BY s LIMIT ?",
        (fts_query(terms), depth),
    )
    return [(int(pk), -float(score)) for pk, score in rows]


def recall(store: Store, depth: int, search) -> dict[str, float]:
    found: dict[str, list[bool]] = {}
    for n, (lang, _, question) in enumerate(CASES):
        pks = [pk for pk, _ in search(store, question, depth)]
        found.setdefault(lang, []).append(n + 1 in pks)  # pks are 1.. in insertion order
    return {lang: sum(hits) / len(hits) for lang, hits in found.items()}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = build_store(Path(tmp))
        rows = {}
        for label, search in (("unicode61 only", unicode61_only), ("with CJK bigrams", Store.lexical_search)):
            rows[label] = (recall(store, 1, search), recall(store, 3, search))
        store.close()
    print(f"{'lexical index':<18} {'lang':<4} {'recall@1':>9} {'recall@3':>9}")
    for label, (at1, at3) in rows.items():
        for lang in at1:
            print(f"{label:<18} {lang:<4} {at1[lang]:9.2f} {at3[lang]:9.2f}")
    both = rows["with CJK bigrams"]
    print(f"\nall {len(CASES)} questions, with CJK bigrams: recall@1 {sum(both[0].values()) / 3:.2f}, "
          f"recall@3 {sum(both[1].values()) / 3:.2f}")


if __name__ == "__main__":
    main()
