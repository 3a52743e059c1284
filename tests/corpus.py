"""Tiny article corpora written to tmp_path by the index and CLI tests."""

from __future__ import annotations

from pathlib import Path

ARTICLES = {
    "space/moon.txt": (
        "Moon Landing Anniversary\n\n"
        "The astronauts landed on the moon in July. They collected rocks and returned to Earth safely.\n\n"
        "Engineers built the lunar module to survive the harsh vacuum of space. The rocket burned fuel for minutes."
    ),
    "space/mars.md": (
        "# Mars Rover Finds Water Ice\n\n"
        "The rover drilled into the red planet and found frozen water below the dusty surface.\n\n"
        "Scientists hope the ice can support future crewed missions and rocket fuel production."
    ),
    "food/bread.txt": (
        "Baking Sourdough at Home\n\n"
        "Bakers mix flour, water and salt, then let the wild yeast starter ferment overnight.\n\n"
        "A hot oven and a covered pot give the loaf its crisp crust and open crumb."
    ),
    "food/soup.html": (
        "<html><head><title>Winter Soup</title><style>p {color: red}</style></head><body>"
        "<h1>Winter Soup</h1><p>Simmer onions, carrots and lentils in stock for an hour.</p>"
        "<p>Season the soup with pepper and serve it with fresh bread.</p><script>var x = 1;</script></body></html>"
    ),
}


def write_corpus(root: Path, articles: dict[str, str] = ARTICLES) -> Path:
    for name, text in articles.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root
