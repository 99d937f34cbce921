"""The TensorFlow-made corpus (``tests/fixtures/corpus``, written by
``tests/fixtures/make_fixtures.py``): where it is and what its manifest lists."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).resolve().parent / "fixtures" / "corpus"
MANIFEST: dict[str, Any] = json.loads((CORPUS / "manifest.json").read_text())
FIXTURES: dict[str, dict[str, Any]] = {f["name"]: f for f in MANIFEST["fixtures"]}
IDS = sorted(FIXTURES)
