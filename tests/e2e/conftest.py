"""End-to-end tests run the real processes: see tests/support/service.py."""

from tests.support.service import service, service_env

__all__ = ["service", "service_env"]
