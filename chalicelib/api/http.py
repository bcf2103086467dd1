"""HTTP plumbing shared by every blueprint: body parsing, responses, errors, auth, routing table.

`endpoint(...)` registers a Chalice route *and* records it for the OpenAPI document, so the
document cannot drift from what is served. Every route accepts all five methods and answers
405 with an `Allow` header itself (API Gateway would answer 403 for an unregistered method).
"""
from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode

from aws_lambda_powertools import Logger
from chalice import Blueprint, Response

from chalicelib.services import limits
from chalicelib.services.errors import PayloadTooLarge, ServiceError, ValidationError

logger = Logger(service="opsgrat")

ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
CONTENT_TYPES = ["application/json", "application/x-www-form-urlencoded", "multipart/form-data", "text/plain"]


@dataclass
class RouteDoc:
    """One served path, as the OpenAPI generator sees it."""

    path: str
    #: method -> {"summary", "request", "response", "status", "query", "errors"}; "errors" names the
    #: error statuses the route answers besides the common ones ({429: "description"})
    methods: dict[str, dict]
    tag: str
    public: bool = False
    resource: Any = None
    kind: str = ""  # "collection" | "item" | "" (custom)
    path_params: list[str] = field(default_factory=list)


ROUTES: list[RouteDoc] = []


def json_response(body: Any, status: int = 200, headers: dict | None = None) -> Response:
    hdrs = {"Content-Type": "application/json"}
    hdrs.update(headers or {})
    if body is None:
        return Response(body="", status_code=status, headers={k: v for k, v in hdrs.items() if k != "Content-Type"})
    return Response(body=json.dumps(body, separators=(",", ":"), default=str), status_code=status, headers=hdrs)


def error_response(status: int, detail: str, headers: dict | None = None) -> Response:
    return json_response({"detail": detail}, status, headers)


def method_not_allowed(method: str, allowed: list[str]) -> Response:
    """The 405 of every path, for the registered methods it does not serve and (local server,
    chalicelib.local.httpd) for methods Chalice cannot route at all, such as TRACE."""
    return error_response(405, f'Method "{method}" not allowed.', {"Allow": ", ".join(sorted(allowed))})


def allowed_methods(route_path: str) -> list[str] | None:
    """The methods a registered route path ("/api/system/team/{id}") serves; None if unknown."""
    route = next((r for r in ROUTES if r.path == route_path), None)
    return None if route is None else sorted(route.methods)


def parse_body(request) -> dict:
    """The request body as a dict, from JSON or a form; `key[]` form fields become lists.

    The generic limits apply here, once for every route (chalicelib.services.limits): at most
    MAX_BODY_BYTES (else 413), UTF-8, and JSON within the nesting, number and Unicode limits.
    """
    try:
        raw = request.raw_body or b""
    except UnicodeEncodeError:  # a text body holding a lone surrogate cannot even become bytes
        raise ValidationError("body", "not valid Unicode (a lone surrogate)") from None
    if len(raw) > limits.MAX_BODY_BYTES:
        raise PayloadTooLarge(f"body: {len(raw):,} bytes is more than the {limits.MAX_BODY_BYTES:,} a request may send")
    if not raw.strip():
        return {}
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationError("body", f"not valid UTF-8 (byte {exc.start})") from None
    content_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if content_type == "application/x-www-form-urlencoded" or (content_type != "application/json" and not text.lstrip().startswith(("{", "["))):
        parsed = parse_qs(text, keep_blank_values=True)
        return {k: (v if k.endswith("[]") else v[-1]) for k, v in parsed.items()}
    data = limits.load_json(text)
    if not isinstance(data, dict):
        raise ValidationError(None, "Expected a JSON object.")
    return data


def query_params(request) -> dict[str, str]:
    return dict((request.query_params or {}).items())  # a MultiDict: the last value of each name


def base_url(request) -> str:
    """Absolute URL of the requested collection, ending in '/' (for next/previous links)."""
    headers = request.headers
    scheme = headers.get("x-forwarded-proto", "http")
    host = headers.get("host", "localhost")
    path = (request.context or {}).get("path") or "/"
    if not path.endswith("/"):
        path += "/"
    return f"{scheme}://{host}{path}"


def source_address(request) -> str:
    """The client's IP address as API Gateway saw it (`requestContext.identity.sourceIp`; chalice
    local and its test client always report 127.0.0.1). `X-Forwarded-For` is not used: a client
    writes what it likes there."""
    identity = (request.context or {}).get("identity") or {}
    return identity.get("sourceIp") or "unknown"


def page(request, count: int, offset: int, limit: int, results: list) -> dict:
    """The list envelope of spec §1.6, with absolute `next`/`previous` links."""
    params = {k: v for k, v in query_params(request).items() if k not in ("offset", "limit")}
    url = base_url(request)

    def link(new_offset: int) -> str:
        return url + "?" + urlencode({**params, "limit": limit, "offset": new_offset})

    return {"count": count,
            "next": link(offset + limit) if offset + limit < count else None,
            "previous": link(max(offset - limit, 0)) if offset > 0 else None,
            "results": results}


def authenticate(request):
    from chalicelib.services.auth import authenticate as auth_header

    return auth_header(request.headers.get("authorization"))


Handler = Callable[..., Any]


def endpoint(bp: Blueprint, path: str, handlers: dict[str, Handler], *, tag: str, public: bool = False,
             docs: dict[str, dict] | None = None, resource: Any = None, kind: str = "",
             content_types: list[str] | None = None) -> None:
    """Serve `path` with one handler per method: handler(request, principal, **path_params).

    Handlers return (body, status) or a Chalice Response. Service errors become
    `{"detail": ...}` responses with their status and headers; anything unexpected is logged and is a 500
    that reveals nothing.
    """
    allowed = sorted(handlers)
    path_params = [part[1:-1] for part in path.split("/") if part.startswith("{")]

    def view(**params):
        request = bp.current_request
        request_id = getattr(bp.lambda_context, "aws_request_id", None) or uuid.uuid4().hex
        logger.append_keys(request_id=request_id)
        method = request.method.upper()
        started = time.perf_counter()
        principal = None
        if method not in handlers:
            return method_not_allowed(method, allowed)
        try:
            principal = None if public else authenticate(request)
            result = handlers[method](request, principal, **params)
        except ServiceError as exc:
            logger.info("request refused", extra={"method": method, "path": path, "status": exc.status,
                                                   "detail": exc.detail})
            return error_response(exc.status, exc.detail, exc.headers)
        except Exception:  # noqa: BLE001 - the one place that turns a bug into a 500
            logger.exception("request failed", extra={"method": method, "path": path})
            return error_response(500, "Internal server error.")
        response = result if isinstance(result, Response) else json_response(*result)
        logger.info("request", extra={"method": method, "path": path, "status": response.status_code,
                                      "user_id": getattr(principal, "id", None),
                                      "ms": round((time.perf_counter() - started) * 1000, 1)})
        return response

    view.__name__ = "view_" + path.strip("/").replace("/", "_").replace("{", "").replace("}", "")
    bp.route(path, methods=ALL_METHODS, content_types=content_types or CONTENT_TYPES)(view)
    ROUTES.append(RouteDoc(path=path, methods={m: (docs or {}).get(m, {}) for m in allowed}, tag=tag,
                           public=public, resource=resource, kind=kind, path_params=path_params))
