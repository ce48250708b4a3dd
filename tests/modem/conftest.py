"""Modem tests run the real services over a freshly migrated database file."""

from tests.services.conftest import services, stack

__all__ = ["services", "stack"]
