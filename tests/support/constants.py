"""Where the repository is, and the role tokens every test's settings carry."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEVICE_TOKEN = "device-token-for-tests"
ANALYST_TOKEN = "analyst-token-for-tests"

# The service's own code: its top-level packages and modules, lowest layer first
# (tests/project/test_layering.py holds them to their layers).
PACKAGES = (
    "models", "storage", "readings", "devices", "buffer", "efficiency",
    "chargers", "workers", "cli", "web",
)  # fmt: skip
MODULES = ("settings", "logs", "metrics", "celeryconfig", "ports", "csv_cells", "jobs")
