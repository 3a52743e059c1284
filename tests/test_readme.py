"""The README's test command is exactly what CI runs; the main command indexes seeds/."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", section, flags=re.S)


def test_readme_has_two_commands_and_ci_runs_the_test_one():
    main, tests = readme_commands()
    ci_lines = [line for line in (ROOT / ".ci/run").read_text().splitlines() if line and not line.startswith("#")]
    assert ci_lines[-1] == tests
    assert "pip install -q torch==2.13.0" in main and "semsearch index seeds/" in main and "semsearch ask" in main
    assert main.index("torch==2.13.0") < main.index('-e "')


def test_seeds_are_the_shared_ones():
    shared = ROOT.parent / "shared" / "seeds"
    names = sorted(p.name for p in (ROOT / "seeds").iterdir())
    assert names == ["000_13394d5934e0f254.txt", "004_416428c4621a00fd.txt"]
    if shared.is_dir():
        for name in names:
            assert (ROOT / "seeds" / name).read_bytes() == (shared / name).read_bytes()
