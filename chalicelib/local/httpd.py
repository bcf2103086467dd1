"""Chalice's local HTTP server, fit for the local stack: bursts of clients and any method.

Three things `chalice.local` leaves as http.server has them:
  * the listen backlog is socketserver's 5, so a burst of a few hundred connections (a load
    test, a parallel client) has most of them reset before a thread can accept them;
  * a method without a `do_<METHOD>` handler (TRACE, FOO) is answered 501 by http.server, and
    HEAD reaches Chalice, whose own 405 has neither the `{"detail"}` body nor the right `Allow`;
  * Nagle's algorithm is on: a response goes out as headers, then body, and the body waits for
    the client's delayed ACK of the headers, 40 ms per request on Linux, for every client of the
    local stack. TCP_NODELAY sends it at once.
Here every method a route does not serve gets the API's own 405 (`chalicelib.api.http`). On AWS,
API Gateway answers such methods itself, before the Lambda runs (README, "API conventions").

It also serves the web console's static files at `/` and `/console/...` (`chalicelib.local.console`)
before Chalice routes anything, as CloudFront does on AWS: the API Lambda has no console code.
"""
from __future__ import annotations

import functools
from pathlib import Path
from urllib.parse import urlsplit

from chalice.local import ChaliceRequestHandler, LocalDevServer, RouteMatcher, create_local_server

from chalicelib.local import console

#: connections the kernel queues for accept(); Linux caps it at net.core.somaxconn (4096)
BACKLOG = 1024
#: the methods ChaliceRequestHandler has `do_` handlers for (HEAD aside: no route serves it)
CHALICE_METHODS = frozenset({"GET", "PUT", "POST", "DELETE", "PATCH", "OPTIONS"})


class RequestHandler(ChaliceRequestHandler):
    """Chalice's handler, with a 405 for every method it has no `do_` handler for, no Nagle, and
    the console's files."""

    disable_nagle_algorithm = True  # socketserver.StreamRequestHandler sets TCP_NODELAY

    def __init__(self, *args, route_matcher: RouteMatcher, console_root: Path | None = None, **kwargs):
        self.route_matcher = route_matcher
        self.console_root = console_root
        super().__init__(*args, **kwargs)

    def __getattr__(self, name: str):
        # http.server dispatches on hasattr(self, "do_" + command); unknown ones land here
        if name.startswith("do_"):
            return self._handle
        raise AttributeError(name)

    def _handle(self) -> None:
        """Every method: the console's paths first, then the API (Chalice, or the 405 below)."""
        if console.wants(self.path):
            self._console()
        elif self.command in CHALICE_METHODS:
            self._generic_handle()
        else:  # HEAD (no route serves it; Chalice would answer a 405 of its own) and unknown methods
            self._method_not_allowed()

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = do_PATCH = do_OPTIONS = _handle

    def _console(self) -> None:
        self._parse_payload()  # read any body off the connection so that keep-alive stays in step
        reply = console.reply(self.path, self.command, self.headers.get("If-None-Match"), self.console_root)
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if reply.status != 304:
            self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if self.command != "HEAD" and reply.status != 304:
            self.wfile.write(reply.body)

    def _method_not_allowed(self) -> None:
        from chalicelib.api.http import allowed_methods, method_not_allowed

        self._parse_payload()  # read the body off the connection so that keep-alive stays in step
        try:
            route = self.route_matcher.match_route(urlsplit(self.path).path).route
        except ValueError:
            self._generic_handle()  # no such path: Chalice answers as API Gateway does (403)
            return
        response = method_not_allowed(self.command, allowed_methods(route) or []).to_dict()
        if self.command == "HEAD":
            self._send_http_response_no_body(response["statusCode"], response["headers"])
        else:
            self._send_http_response(response["statusCode"], response["headers"], response["body"])


def create(app, config, host: str, port: int, console_root: Path | None = None) -> LocalDevServer:
    """`chalice.local.create_local_server`, with the backlog and handler above; the console's files
    come from `console_root` (default: the checkout's `console/`)."""
    server = create_local_server(app, config, host, port)
    server.server.socket.listen(BACKLOG)  # it listens already (backlog 5); this raises the backlog
    server.server.RequestHandlerClass = functools.partial(
        RequestHandler, app_object=app, config=config, route_matcher=RouteMatcher(list(app.routes)),
        console_root=console_root)
    return server
