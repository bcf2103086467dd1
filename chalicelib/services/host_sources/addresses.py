"""Where a `restapi` source may not connect: link-local and cloud metadata addresses.

From the runner, those answer with credentials: the ECS task-role endpoint (169.254.170.2), EC2's
instance metadata (169.254.169.254, and fd00:ec2::254 over IPv6). A user who may edit a host
source must not be able to make the runner fetch them. Loopback and private networks stay allowed
(a CMDB is often internal).

`opener()` checks twice: the host of every URL it requests, redirects included, is resolved and
refused when any of its addresses is in `REFUSED_NETWORKS` (this also covers requests sent through
an HTTP proxy, which resolves the host itself); and the address a connection actually reached is
checked before anything is sent on it, so a name that resolves differently the second time (DNS
rebinding) gets no further.
"""
from __future__ import annotations

import http.client
import ipaddress
import socket
import urllib.parse
import urllib.request

from chalicelib.services.host_sources.parse import SourceError

REFUSED_NETWORKS = tuple(ipaddress.ip_network(n) for n in ("169.254.0.0/16", "fe80::/10", "fd00:ec2::254/128"))


def is_refused(address: str) -> bool:
    """Whether an IP address (IPv4, IPv6, IPv4-mapped IPv6; a zone suffix `%eth0` is ignored) is refused."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in REFUSED_NETWORKS)


def _refusal(host: str, address: str) -> SourceError:
    return SourceError(f"{host} is {address}, a link-local or cloud metadata address: host sources may not "
                       "connect to it")


def check_host(host: str, port: int | None) -> None:
    """Resolve `host` and raise a SourceError when any of its addresses is refused."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        return  # unresolvable: the request itself fails with the resolver's message
    for *_, sockaddr in infos:
        if is_refused(sockaddr[0]):
            raise _refusal(host, sockaddr[0])


class _CheckEveryUrl(urllib.request.BaseHandler):
    """Runs before each request the opener makes, the ones its redirect handler makes included."""

    def http_request(self, request: urllib.request.Request) -> urllib.request.Request:
        url = urllib.parse.urlsplit(request.full_url)
        check_host(url.hostname or "", url.port)
        return request

    https_request = http_request


class _CheckedHTTPConnection(http.client.HTTPConnection):
    def connect(self) -> None:
        super().connect()
        peer = self.sock.getpeername()[0]
        if is_refused(peer):
            self.close()
            raise _refusal(self.host, peer)


class _CheckedHTTPSConnection(http.client.HTTPSConnection, _CheckedHTTPConnection):
    """HTTPSConnection.connect calls super().connect(), which is the check above (by this MRO):
    the peer is checked after the TCP connect and before the TLS handshake."""


class _HTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, request):
        return self.do_open(_CheckedHTTPConnection, request)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, request):
        return self.do_open(_CheckedHTTPSConnection, request, context=self._context)


def opener() -> urllib.request.OpenerDirector:
    """urllib's default opener (proxies from the environment, redirects), refusing those addresses."""
    return urllib.request.build_opener(_CheckEveryUrl, _HTTPHandler, _HTTPSHandler)
