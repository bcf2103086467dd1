"""Domain errors. The API layer maps each to an HTTP status; services raise them freely."""
from __future__ import annotations


class ServiceError(Exception):
    status = 400

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


class ValidationError(ServiceError):
    """Bad input from a client: 400 with a message that names the field."""

    status = 400

    def __init__(self, field: str | None, message: str):
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field


class NotAuthenticated(ServiceError):
    status = 401


class PermissionDenied(ServiceError):
    status = 403


class NotFound(ServiceError):
    status = 404


class Conflict(ServiceError):
    status = 409


class PayloadTooLarge(ServiceError):
    """A request body over the size limit (chalicelib.services.limits.MAX_BODY_BYTES)."""

    status = 413
