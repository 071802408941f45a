"""Storage errors (kept apart from the drivers so the CLI can name them without importing them)."""

from deconflict.errors import DeconflictError


class DatabaseError(DeconflictError, RuntimeError):
    """The database cannot be opened or migrated: names the URL (without password) and why."""
