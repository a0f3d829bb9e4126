"""Downloading manifests and Helm values from URLs users give, without letting a URL reach kaas's own network.

kaas fetches those URLs from its own server, so a URL could aim at the cloud metadata endpoint, at kaas's
database, or at anything else only the server can reach (server-side request forgery). So: http(s) only;
every address the host resolves to must be public unless the host is explicitly allowed; the connection
goes to the very address that was checked, so a second DNS answer cannot swap in a private one (DNS
rebinding); every redirect is checked the same way; and the body is read in chunks up to a size limit.

Request headers may carry credentials (a Slack bot token to download a shared file), so they never appear
in messages, and they are dropped when a redirect leaves the origin they were meant for.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import time
from dataclasses import dataclass
from urllib.parse import SplitResult, urljoin, urlsplit

import urllib3
from urllib3.exceptions import HTTPError, NewConnectionError, SSLError
from urllib3.exceptions import TimeoutError as Urllib3Timeout

from providers.kube.errors import FetchRefused

MAX_URL_LENGTH = 2048
CHUNK_BYTES = 64 * 1024
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})

METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata.goog", "metadata"})
"""Names of cloud metadata services, refused before any DNS lookup (they only resolve inside a cloud)."""
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, ...
        "fd00:ec2::254",  # AWS over IPv6
        "169.254.170.2",  # AWS ECS task credentials
        "100.100.100.200",  # Alibaba Cloud
    )
)
"""Refused even for hosts in `FetchPolicy.allow_hosts`: nothing kaas downloads lives there, credentials do."""

_HINT_PUBLIC = "Use a public http(s) URL, such as a raw file on GitHub or a link to object storage."
# Hosts in the shorthand forms inet_aton accepts (2130706433, 0x7f.1, 0177.0.0.1): resolvers turn them into
# addresses the URL does not show, so they are refused outright.
_NUMERIC_HOST = re.compile(r"(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}\.?")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class FetchPolicy:
    """What `fetch` allows."""

    allow_hosts: frozenset[str] = frozenset()
    """Hosts (`name` or `name:port`, IPv6 as `[::1]:port`) that may resolve to private or loopback addresses:
    a registry on the local network, or a test server. Cloud metadata addresses stay refused."""
    max_bytes: int = 2 * 1024 * 1024
    timeout: float = 20
    """Seconds the whole download may take, redirects included."""
    max_redirects: int = 3
    ca_certs: str | None = None
    """A PEM file of CAs to trust instead of the system's (a private registry's CA)."""


def _shown(url: str) -> str:
    """`url` for messages: without query and fragment, which may carry signed tokens."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def _refuse(url: str, problem: str, hint: str = _HINT_PUBLIC) -> FetchRefused:
    return FetchRefused(f"kaas will not fetch {_shown(url)}: {problem}", hint=hint)


def _split(url: str) -> tuple[SplitResult, str, int]:
    """The parts of a syntactically acceptable http(s) URL, its host (lowercase, IDNA) and its port."""
    if len(url) > MAX_URL_LENGTH:
        raise FetchRefused(
            f"kaas will not fetch a URL of {len(url)} characters; the limit is {MAX_URL_LENGTH}",
            hint="Use a shorter link to the file.",
        )
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise FetchRefused(
            "kaas will not fetch a URL with spaces or control characters",
            hint="Percent-encode spaces (%20), or copy the link again.",
        )
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        shown = f"{parts.scheme}: URLs" if parts.scheme else "URLs without a scheme"
        raise FetchRefused(
            f"kaas will not fetch {shown}; only http:// and https:// URLs are fetched",
            hint="Link to the file over https://.",
        )
    if "@" in parts.netloc:
        raise FetchRefused(
            "kaas will not fetch a URL with a user name or password in it (user:password@host)",
            hint="Use a link that needs no credentials, or upload the file to Slack instead.",
        )
    if not parts.hostname:
        raise _refuse(url, "it has no host", hint="Use a full http(s) URL.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        host = parts.hostname.encode("idna").decode("ascii")
    except (ValueError, UnicodeError):
        raise _refuse(url, "its host or port is not valid", hint="Check the address of the link.") from None
    return parts, host.lower(), port


def _literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _allowed(host: str, port: int, policy: FetchPolicy) -> bool:
    allowed = {entry.lower() for entry in policy.allow_hosts}
    named = f"[{host}]" if ":" in host else host
    return bool({host, named, f"{named}:{port}"} & allowed)


def _address_problem(ip: Address, *, allowed: bool) -> str | None:
    """What makes `ip` an address kaas must not connect to, e.g. "a loopback address" (None when it may).

    For an allowed host only cloud metadata addresses are refused.
    """
    addresses = [ip]
    if ip.version == 6:
        # IPv6 forms that carry an IPv4 address (mapped, 6to4, NAT64) reach that IPv4 address, which is
        # judged first: it is what the user would recognise.
        embedded = [ip.ipv4_mapped, ip.sixtofour]
        if ip in _NAT64:
            embedded.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        addresses = [a for a in embedded if a is not None] + addresses
    if any(address in METADATA_ADDRESSES for address in addresses):
        return "a cloud metadata address"
    if allowed:
        return None
    for address in addresses:
        for test, what in (
            (address.is_unspecified, "an unspecified"),
            (address.is_loopback, "a loopback"),
            (address.is_link_local, "a link-local"),
            (address.is_multicast, "a multicast"),
            # Before `is_private`, which Python also sets for the reserved 240.0.0.0/4.
            (address.is_reserved, "a reserved"),
            (address.is_private, "a private"),
            (not address.is_global, "a non-public"),
        ):
            if test:
                return f"{what} address"
    return None


def check_url(url: str, policy: FetchPolicy) -> None:
    """Refuse (FetchRefused) a URL kaas will not fetch, judging by the URL alone (no DNS lookup).

    Only http(s) URLs with a host, no `user:password@`, no whitespace or control characters and at most
    `MAX_URL_LENGTH` characters pass; and not metadata host names, numeric hosts written in shorthand
    (`2130706433`, `0x7f.1`), nor literal addresses that are not public unless `policy` allows the host.
    """
    _checked(url, policy)


def check_host(url: str, policy: FetchPolicy) -> None:
    """`check_url`, then resolve the host and refuse it unless every address is public (or allowed).

    For URLs another program fetches (helm reads chart repositories itself): this cannot pin the address
    the way `fetch` does, but it refuses repositories that point at private or metadata addresses.
    """
    _, host, port = _checked(url, policy)
    _resolve(url, host, port, policy)


def _checked(url: str, policy: FetchPolicy) -> tuple[SplitResult, str, int]:
    """`check_url`, returning what `_split` found."""
    parts, host, port = _split(url)
    if host.rstrip(".") in METADATA_HOSTS:
        raise _refuse(url, f"{host} is a cloud metadata service")
    ip = _literal(host)
    if ip is None and _NUMERIC_HOST.fullmatch(host):
        raise _refuse(url, f"the host {host} is an address written in a shorthand form")
    problem = ip and _address_problem(ip, allowed=_allowed(host, port, policy))
    if problem:
        raise _refuse(url, f"{ip} is {problem}")
    return parts, host, port


def _resolve(url: str, host: str, port: int, policy: FetchPolicy) -> list[Address]:
    """The addresses of `host`, all checked; refused if any is not public (unless the host is allowed)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise FetchRefused(
            f"could not download {_shown(url)}: the host {host} cannot be resolved",
            hint="Check the address of the link.",
        ) from None
    addresses: list[Address] = []
    for info in infos:
        ip = ipaddress.ip_address(info[4][0])
        if ip not in addresses:
            addresses.append(ip)
    allowed = _allowed(host, port, policy)
    for ip in addresses:
        # One bad address is enough: a resolver may hand out any of them on the next lookup.
        problem = _address_problem(ip, allowed=allowed)
        if problem:
            raise _refuse(url, f"{host} resolves to {ip}, {problem}")
    return addresses


def _pool(
    parts: SplitResult, host: str, ip: Address, port: int, policy: FetchPolicy, seconds: float
) -> urllib3.HTTPConnectionPool:
    common = {
        "port": port,
        "timeout": urllib3.Timeout(connect=seconds, read=seconds),
        "retries": False,
        "maxsize": 1,
    }
    if parts.scheme == "https":
        # Connect to the checked address but verify the certificate (and send SNI) for the URL's host.
        return urllib3.HTTPSConnectionPool(
            str(ip),
            server_hostname=host,
            assert_hostname=host,
            cert_reqs="CERT_REQUIRED",
            ca_certs=policy.ca_certs,
            **common,
        )
    return urllib3.HTTPConnectionPool(str(ip), **common)


def _reason(exc: Exception, timeout: float) -> str:
    # urllib3's own messages name the pool and address; these say what happened (and never hold headers).
    if isinstance(exc, NewConnectionError):
        cause = exc.__cause__ or exc.__context__
        return f"could not connect ({getattr(cause, 'strerror', None) or 'connection failed'})"
    if isinstance(exc, Urllib3Timeout | TimeoutError):
        return f"timed out after {timeout:g} seconds"
    if isinstance(exc, SSLError):
        return f"the TLS connection failed ({exc})"
    return f"the connection failed ({type(exc).__name__})"


def _origin(parts: SplitResult) -> tuple[str, str, int | None]:
    return parts.scheme, (parts.hostname or "").lower(), parts.port


def fetch(url: str, policy: FetchPolicy, *, headers: dict[str, str] | None = None) -> bytes:
    """The body of `url`, downloaded under `policy`; FetchRefused when refused or when the download fails.

    `headers` (say, an Authorization header) go with the request, and with redirects that stay on the same
    scheme, host and port; they never appear in error messages.
    """
    deadline = time.monotonic() + policy.timeout
    sent = dict(headers or {})
    redirects = 0
    while True:
        status, location, body = _get(url, policy, sent, deadline)
        if status not in REDIRECT_STATUSES:
            return body
        if redirects == policy.max_redirects:
            raise _refuse(
                url,
                f"it redirects more than {policy.max_redirects} times",
                hint="Link to the file itself rather than to a page that redirects.",
            )
        target = urljoin(url, location)
        check_url(target, policy)
        if urlsplit(url).scheme == "https" and urlsplit(target).scheme == "http":
            raise _refuse(url, f"it redirects from https to plain http ({_shown(target)})")
        if _origin(urlsplit(target)) != _origin(urlsplit(url)):
            sent = {}
        url = target
        redirects += 1


def _get(url: str, policy: FetchPolicy, headers: dict[str, str], deadline: float) -> tuple[int, str, bytes]:
    """One GET of `url`: (status, Location, body); a redirect's body is not read."""
    parts, host, port = _checked(url, policy)
    addresses = _resolve(url, host, port, policy)
    named = f"[{host}]" if ":" in host else host
    request_headers = {
        **headers,
        # The connection is to an address, so the Host header names the site (ASCII, IDNA-encoded).
        "Host": f"{named}:{parts.port}" if parts.port else named,
        # Compressed bodies could expand past max_bytes inside one read.
        "Accept-Encoding": "identity",
    }
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    failure: Exception | None = None
    for ip in addresses:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        with _pool(parts, host, ip, port, policy, remaining) as pool:
            try:
                response = pool.urlopen(
                    "GET", path, headers=request_headers, redirect=False, preload_content=False
                )
            except NewConnectionError as exc:
                # Another address of the same host may answer (say, IPv4 when IPv6 is not routed).
                failure = exc
                continue
            except (HTTPError, OSError) as exc:
                raise _failed(url, exc, policy) from None
            try:
                return _read(url, response, policy, deadline)
            except (HTTPError, OSError) as exc:
                raise _failed(url, exc, policy) from None
            finally:
                # Closing (rather than releasing) also drops a body that was cut off.
                response.close()
    raise _failed(url, failure or TimeoutError(), policy)


def _failed(url: str, exc: Exception, policy: FetchPolicy) -> FetchRefused:
    return FetchRefused(
        f"could not download {_shown(url)}: {_reason(exc, policy.timeout)}",
        hint="Check that the link works from outside your network, then try again.",
    )


def _read(
    url: str, response: urllib3.BaseHTTPResponse, policy: FetchPolicy, deadline: float
) -> tuple[int, str, bytes]:
    """(status, Location, body) of a response, the body read only for a 2xx and only up to max_bytes."""
    status = response.status
    if status in REDIRECT_STATUSES:
        location = response.headers.get("Location")
        if not location:
            raise FetchRefused(
                f"could not download {_shown(url)}: the server answered {status} without a Location",
                hint="Link to the file itself.",
            )
        return status, location, b""
    if not 200 <= status < 300:
        answer = f"{status} {response.reason or ''}".rstrip()
        raise FetchRefused(
            f"could not download {_shown(url)}: the server answered {answer}",
            hint="Check that the link is public and points at the file itself.",
        )
    too_big = _refuse(
        url,
        f"it is larger than {policy.max_bytes:,} bytes",
        hint="Link to a smaller file, or split it.",
    )
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > policy.max_bytes:
        raise too_big
    body = bytearray()
    # read1 returns what has arrived, so a server that trickles bytes cannot hold a read past the deadline.
    while chunk := response.read1(CHUNK_BYTES):
        body += chunk
        if len(body) > policy.max_bytes:
            raise too_big
        if time.monotonic() > deadline:
            raise TimeoutError
    return status, "", bytes(body)
