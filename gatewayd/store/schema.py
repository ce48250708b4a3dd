"""Every model module, imported once, so `Base.metadata` is the whole schema (Alembic, tests).

One import line per area; a new area adds its line here.
"""

from gatewayd.store import (
    models,
    models_byos,
    models_engine,
    models_hosts,
    models_locks,
    models_message_counts,
    models_rack,
    models_webhooks,
)
from gatewayd.store.models import Base

__all__ = ["Base", "models", "models_byos", "models_engine", "models_locks", "models_rack", "models_webhooks",
           "models_hosts", "models_message_counts"]
