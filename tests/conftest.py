"""Test-session set-up shared by every module.

The differential tests skip where TensorFlow (the oracle) is not installed, so that the
TensorFlow-free tests still run on such a machine. CI sets ``FASTMETA_REQUIRE_TF=1``: there a
missing or broken TensorFlow stops the session instead of silently skipping the oracle.
"""

from __future__ import annotations

import os

import pytest


def pytest_sessionstart(session: pytest.Session) -> None:
    if os.environ.get("FASTMETA_REQUIRE_TF") != "1":
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        import tensorflow  # noqa: F401
    except Exception as e:  # an ImportError, or TensorFlow failing as it loads
        raise pytest.UsageError(f"FASTMETA_REQUIRE_TF=1 but TensorFlow cannot be imported: {e!r}") from e
