"""Errors the service turns into HTTP answers (one line each, never a traceback)."""


class ServiceError(Exception):
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


class Unavailable(ServiceError):
    """The service cannot store the request now (disk full, database unreachable, audit chain broken):
    nothing was stored; the client may try again later."""

    status = 503


class PreconditionRequired(ServiceError):
    status = 428


class DemoError(ServiceError):
    """The bundled demo cannot run (scenario file, port in use): says which and why."""
