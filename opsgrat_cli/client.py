"""The HTTP client: one `requests` session with the token, errors turned into `ApiError`."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from opsgrat_cli import __version__
from opsgrat_cli.config import Connection
from opsgrat_cli.errors import ApiError, CliError

#: seconds for one request; a follow polls, it never holds a request open
TIMEOUT = 30


class Unreachable(CliError):
    """The installation did not answer (connection refused, reset, timed out)."""


class Client:
    def __init__(self, connection: Connection, timeout: float = TIMEOUT):
        import requests  # imported here: `opsgrat --help` never pays for it

        self.connection = connection
        self.url = connection.url
        self.timeout = timeout
        self._requests = requests
        self.session = requests.Session()
        self.session.headers["User-Agent"] = f"opsgrat-cli/{__version__}"
        if connection.token:
            self.session.headers["Authorization"] = f"Token {connection.token}"

    def send(self, method: str, path: str, *, params: dict | None = None, json: Any = None,
             headers: dict | None = None, ok: tuple[int, ...] = ()):
        """The raw response; statuses >= 400 (other than those in `ok`) raise ApiError."""
        url = path if path.startswith("http") else self.url + path
        try:
            response = self.session.request(method, url, params=params, json=json, headers=headers,
                                            timeout=self.timeout)
        except self._requests.RequestException as exc:
            raise Unreachable(f"cannot reach {self.url}: {_reason(exc)}") from None
        if response.status_code >= 400 and response.status_code not in ok:
            raise ApiError(response.status_code, _detail(response))
        return response

    def call(self, method: str, path: str, **kwargs) -> Any:
        """The response's JSON (None for an empty body)."""
        response = self.send(method, path, **kwargs)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            return response.text

    def get(self, path: str, **params) -> Any:
        return self.call("GET", path, params={k: v for k, v in params.items() if v is not None})

    def post(self, path: str, body: Any = None) -> Any:
        return self.call("POST", path, json=body if body is not None else {})

    def patch(self, path: str, body: dict) -> Any:
        return self.call("PATCH", path, json=body)

    def delete(self, path: str) -> Any:
        return self.call("DELETE", path)

    def pages(self, path: str, params: dict | None = None, follow: bool = True) -> Iterator[dict]:
        """Every record of a list, following `next` (only the first page when not `follow`)."""
        page = self.get(path, **(params or {}))
        while True:
            yield from page.get("results", [])
            if not follow or not page.get("next"):
                return
            page = self.call("GET", page["next"])


def _detail(response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("detail", "message"):
            if isinstance(body.get(key), str):
                return body[key]
    text = (response.text or "").strip().splitlines()
    return text[0][:300] if text else response.reason or "error"


def _reason(exc: Exception) -> str:
    """The innermost cause of a requests error, without its urllib3 wrapping."""
    text = str(exc)
    for marker in ("] ", "Error(", "NewConnectionError("):
        if marker in text:
            text = text.rsplit(marker, 1)[-1]
    return text.strip(" ')\"") or type(exc).__name__
