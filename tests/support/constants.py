"""Where the repository is, and the role tokens every test's settings carry."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEVICE_TOKEN = "device-token-for-tests"
ANALYST_TOKEN = "analyst-token-for-tests"
