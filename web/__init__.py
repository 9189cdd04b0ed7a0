"""The HTTP service: `create_app()` builds it (web/app.py); `flask --app web <command>` runs its
commands. Views reach what the app was built with through `services()` (web/services.py)."""

from web.app import create_app
from web.services import Services, services

__all__ = ["Services", "create_app", "services"]
