"""The store: what machines generate and humans decide (DESIGN invariant 5)."""

from variantly.store.db import Store, default_database_url, rows_touched

__all__ = ["Store", "default_database_url", "rows_touched"]
