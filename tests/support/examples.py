"""How many examples a property test runs: as written under the default profile (`make test`,
CI: derandomized, the same examples every run), a fifth of it under HYPOTHESIS_PROFILE=fast
(`make test-fast`, the edit-test loop). The profiles themselves are in tests/conftest.py."""

from __future__ import annotations

import os

FAST = os.environ.get("HYPOTHESIS_PROFILE") == "fast"


def examples(wanted: int) -> int:
    return max(5, wanted // 5) if FAST else wanted
