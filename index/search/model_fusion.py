"""The hybrid fusion a model folder recommends: ``semsearch.json`` beside the weights, written by `semsearch tune`
(``index.evaluate.fusion_pick`` chose it on the model's held-out queries).

`semsearch index` records it in the index manifest (``ModelInfo.fusion``) and search uses it when no --fusion
is given; `semsearch bench` reads it for its default hybrid row. Hub ids and folders without the file
recommend nothing: the search default (rrf:10) applies.
"""

from __future__ import annotations

import json
from pathlib import Path

from index.errors import BadModelSettings
from index.search.fusion import FusionConfig, parse_fusion

SETTINGS_FILE = "semsearch.json"


def model_fusion(model: str | None) -> FusionConfig | None:
    """The fusion recommended by the model folder ``model`` (None: no folder, no file, or no fusion in it)."""
    if not model:
        return None
    path = Path(model).expanduser() / SETTINGS_FILE
    if not path.is_file():
        return None
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise BadModelSettings(str(path), f"unreadable ({exc})") from None
    text = raw.get("fusion") if isinstance(raw, dict) else None
    if text is None:
        return None
    if not isinstance(text, str):
        raise BadModelSettings(str(path), f"'fusion' must be a string such as \"rrf:10\", not {text!r}")
    try:
        return parse_fusion(text)
    except ValueError as exc:
        raise BadModelSettings(str(path), str(exc)) from None

