"""Storage: deliveries, tickets, the escalation log, timers and the outbox (SQLAlchemy Core)."""
from .sql import Store, Transaction

__all__ = ["Store", "Transaction"]
