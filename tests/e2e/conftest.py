"""End-to-end tests run the real processes: see tests/service.py."""

from tests.service import service, service_env

__all__ = ["service", "service_env"]
