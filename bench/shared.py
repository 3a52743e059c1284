"""What the benchmarks share: the model they measure, and where they find ../shared (beside the
checkout; SEMSEARCH_SQUAD / SEMSEARCH_SCIFACT override)."""

from __future__ import annotations

import os
from pathlib import Path

from embed.encode.models import DEFAULT_MODEL

MODEL = DEFAULT_MODEL  # all-MiniLM-L6-v2: what every benchmark measures

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
SQUAD = Path(os.environ.get("SEMSEARCH_SQUAD", DATASETS / "squad_v1.1" / "dev-v1.1.json"))
SCIFACT = Path(os.environ.get("SEMSEARCH_SCIFACT", DATASETS / "beir_scifact"))
