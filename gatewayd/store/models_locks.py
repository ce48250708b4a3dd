"""The `sim_locks` table: at most one live lock row per hosted SIM, guarded by a UNIQUE constraint.

A row whose `expires_at` has passed counts as absent in every query (repositories/locks.py); the sweep
only deletes such rows and announces them. Columns only: queries live in the repository.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from gatewayd.store.models import Base, IdType


class SimLock(Base):
    __tablename__ = "sim_locks"
    # AUTOINCREMENT: SQLite would otherwise hand a released lock's id to the next lock, and listeners
    # of SimUnlocked/SimLocked would take two locks for one.
    __table_args__ = {"sqlite_autoincrement": True}
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    # UNIQUE: the database, not the application, keeps a SIM to one lock across every API process.
    hosted_sim_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("hosted_sims.id", ondelete="CASCADE"), unique=True
    )
    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    organization_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    acquired_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
