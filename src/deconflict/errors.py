"""The one root of deconflict's expected errors: catch `DeconflictError` to catch them all.

Each error keeps the built-in base it had (so code catching ``ValueError`` still works) and says,
in one line, the file, line or field at fault and what was expected; the command line prints that
line and exits 2 (never a traceback), the service answers it as JSON with its HTTP status.

    DeconflictError
    ├── ValueError: UnitError, DetectionError, VolumeError, PlanError, StandardError, BandsError,
    │               ResolutionError, ScenarioError, PlansFileError, StationError, AuditError
    │               (ChainBroken)
    ├── StatesFileError        a state-vector file that cannot be used at all
    ├── RuntimeError: DatabaseError, PushError
    ├── ServiceError           answered with its HTTP status (BadRequest 422, NotFound 404, ...)
    └── UserError              a command line that cannot be carried out
"""


class DeconflictError(Exception):
    """Root of every error deconflict raises on purpose."""


class UserError(DeconflictError):
    """A command line that cannot be carried out (conflicting options, nothing usable read)."""
