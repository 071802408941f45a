"""Errors the service turns into HTTP answers (one line each, never a traceback)."""

from deconflict.errors import DeconflictError


class ServiceError(DeconflictError):
    status = 400


class BadRequest(ServiceError):
    status = 422


class Unauthorized(ServiceError):
    status = 401


class Forbidden(ServiceError):
    status = 403


class NotFound(ServiceError):
    status = 404


class VersionConflict(ServiceError):
    """The caller's version token is stale: someone changed the resource since it was read."""

    status = 409


class StateConflict(ServiceError):
    """The request does not fit the resource's state (answering an expired proposal...)."""

    status = 409


class TooLarge(ServiceError):
    status = 413


class TooManyRequests(ServiceError):
    """A party over its fair share of the service's work (see `deconflict.service.quotas`)."""

    status = 429

    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unavailable(ServiceError):
    """The service cannot store the request now (disk full, database unreachable, audit chain broken):
    nothing was stored; the client may try again later."""

    status = 503


class PreconditionRequired(ServiceError):
    status = 428


class DemoError(ServiceError):
    """The bundled demo cannot run (scenario file, port in use): says which and why."""


class NotLeading(Unavailable):
    """This node is a standby (or lost the lead): nothing was done; ``leader`` is the URL the leading
    node advertises ('' when unknown). Clients retry there, or here after ``Retry-After``."""

    def __init__(self, message: str, leader: str = "") -> None:
        super().__init__(message)
        self.leader = leader
