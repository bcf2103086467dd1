"""Domain errors. The API layer maps each to an HTTP status (and the headers it carries); services
raise them freely."""
from __future__ import annotations


class ServiceError(Exception):
    status = 400

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail

    @property
    def headers(self) -> dict[str, str]:
        """Headers the answer must carry besides the `{"detail": ...}` body (none by default)."""
        return {}


class ValidationError(ServiceError):
    """Bad input from a client: 400 with a message that names the field."""

    status = 400

    def __init__(self, field: str | None, message: str):
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field


class NotAuthenticated(ServiceError):
    status = 401

    @property
    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": "Token"}  # the scheme a client should use


class PermissionDenied(ServiceError):
    status = 403


class NotFound(ServiceError):
    status = 404


class Conflict(ServiceError):
    status = 409


class TooManyRequests(ServiceError):
    """Refused until `retry_after` seconds have passed (failed logins, for instance)."""

    status = 429

    def __init__(self, detail: str, retry_after: int):
        super().__init__(detail)
        self.retry_after = max(1, int(retry_after))

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class PayloadTooLarge(ServiceError):
    """A request body over the size limit (chalicelib.services.limits.MAX_BODY_BYTES)."""

    status = 413
