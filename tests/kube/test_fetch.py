"""fetch and check_url against hostile URLs, and against real loopback HTTP and HTTPS servers."""

from __future__ import annotations

import contextlib
import datetime
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from providers.kube.errors import FetchRefused
from providers.kube.fetch import FetchPolicy, check_host, check_url, fetch

APP = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n"
TOKEN = "Bearer xoxb-not-a-real-token"


class Handler(BaseHTTPRequestHandler):
    """Routes of the test server; `server.stop` releases handlers that wait."""

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the tests read results, not logs."""

    def handle(self) -> None:
        if isinstance(self.connection, ssl.SSLSocket):
            try:
                self.connection.do_handshake()
            except (ssl.SSLError, OSError):
                # The client refused our certificate: that is what some tests want.
                return
        # The client may hang up mid-body, as fetch does once a body is too large.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            super().handle()

    def reply(self, status: int, body: bytes, **headers: str) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        stop: threading.Event = self.server.stop
        if url.path == "/app.yaml":
            self.reply(200, APP)
        elif url.path == "/echo":
            seen = {"host": self.headers.get("Host"), "authorization": self.headers.get("Authorization")}
            self.reply(200, json.dumps(seen).encode())
        elif url.path == "/auth":
            ok = self.headers.get("Authorization") == TOKEN
            self.reply(200 if ok else 401, b"secret" if ok else b"who are you?")
        elif url.path == "/redirect":
            self.reply(302, b"", Location=query["to"][0])
        elif url.path == "/loop":
            self.reply(302, b"", Location="/loop")
        elif url.path == "/no-location":
            self.reply(302, b"")
        elif url.path == "/missing":
            self.send_error(404)
        elif url.path == "/error":
            self.send_error(500)
        elif url.path == "/big":
            # No Content-Length: only counting the bytes as they come can stop this.
            self.send_response(200)
            self.end_headers()
            while not stop.is_set():
                self.wfile.write(b"x" * 65536)
        elif url.path == "/big-declared":
            # Declares 1 GiB, sends a little, then waits: only trusting the header refuses it in time.
            self.send_response(200)
            self.send_header("Content-Length", str(1 << 30))
            self.end_headers()
            self.wfile.write(b"x" * 1000)
            self.wfile.flush()
            stop.wait(30)
        elif url.path == "/slow":
            stop.wait(30)
            self.reply(200, APP)
        elif url.path == "/trickle":
            self.send_response(200)
            self.end_headers()
            while not stop.wait(0.05):
                self.wfile.write(b"x")
                self.wfile.flush()
        else:
            self.send_error(404)


class Server(ThreadingHTTPServer):
    """A loopback test server; with `context`, it speaks TLS (the handshake runs in the handler thread)."""

    def __init__(self, context: ssl.SSLContext | None = None):
        super().__init__(("127.0.0.1", 0), Handler)
        self.context = context
        self.stop = threading.Event()
        self.port = self.server_address[1]
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    def get_request(self) -> tuple[socket.socket, object]:
        sock, address = super().get_request()
        if self.context is not None:
            sock = self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, address

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        scheme = "https" if self.context else "http"
        return f"{scheme}://{host}:{self.port}{path}"

    def policy(self, host: str = "127.0.0.1", **options: object) -> FetchPolicy:
        return FetchPolicy(allow_hosts=frozenset({f"{host}:{self.port}"}), **options)

    def __enter__(self) -> Server:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.shutdown()
        self.server_close()
        self.thread.join()


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with Server() as running:
        yield running


@pytest.fixture
def other_server() -> Iterator[Server]:
    with Server() as running:
        yield running


def test_an_allowed_loopback_server_is_fetched(server: Server) -> None:
    assert fetch(server.url("/app.yaml"), server.policy()) == APP


def test_the_same_server_is_refused_unless_allowed(server: Server) -> None:
    with pytest.raises(FetchRefused, match=r"127\.0\.0\.1 is a loopback address") as caught:
        fetch(server.url("/app.yaml"), FetchPolicy())
    assert caught.value.hint
    # Allowing another port of the same host is not enough.
    with pytest.raises(FetchRefused, match="loopback"):
        fetch(server.url("/app.yaml"), FetchPolicy(allow_hosts=frozenset({"127.0.0.1:1"})))


def test_an_allowed_host_without_port_allows_every_port(server: Server) -> None:
    assert fetch(server.url("/app.yaml"), FetchPolicy(allow_hosts=frozenset({"127.0.0.1"}))) == APP


def test_redirects_on_an_allowed_server_are_followed(server: Server) -> None:
    assert fetch(server.url("/redirect?to=/app.yaml"), server.policy()) == APP
    chain = server.url("/redirect?to=" + server.url("/redirect?to=/app.yaml"))
    assert fetch(chain, server.policy()) == APP


def test_the_request_names_the_host_and_keeps_headers_on_the_same_origin(server: Server) -> None:
    seen = json.loads(fetch(server.url("/echo"), server.policy(), headers={"Authorization": TOKEN}))
    assert seen == {"host": f"127.0.0.1:{server.port}", "authorization": TOKEN}
    assert (
        fetch(server.url("/redirect?to=/auth"), server.policy(), headers={"Authorization": TOKEN})
        == b"secret"
    )


def test_headers_do_not_follow_a_redirect_to_another_origin(server: Server, other_server: Server) -> None:
    both = FetchPolicy(allow_hosts=frozenset({f"127.0.0.1:{server.port}", f"127.0.0.1:{other_server.port}"}))
    with pytest.raises(FetchRefused, match=r"the server answered 401") as caught:
        fetch(server.url("/redirect?to=" + other_server.url("/auth")), both, headers={"Authorization": TOKEN})
    assert "xoxb" not in caught.value.message + caught.value.hint


HOSTILE_URLS = [
    pytest.param("file:///etc/passwd", r"will not fetch file: URLs", id="file"),
    pytest.param("ftp://example.com/app.yaml", r"will not fetch ftp: URLs", id="ftp"),
    pytest.param("gopher://example.com:70/_GET", r"will not fetch gopher: URLs", id="gopher"),
    pytest.param("example.com/app.yaml", r"URLs without a scheme", id="no-scheme"),
    pytest.param("http:///app.yaml", r"it has no host", id="no-host"),
    pytest.param("https://user:pass@example.com/app.yaml", r"user name or password", id="userinfo"),
    pytest.param("https://token@example.com/app.yaml", r"user name or password", id="user-only"),
    pytest.param("http://127.0.0.1/", r"127\.0\.0\.1 is a loopback address", id="loopback"),
    pytest.param("http://localhost:8080/", r"localhost resolves to .*, a loopback address", id="localhost"),
    pytest.param("http://[::1]/", r"::1 is a loopback address", id="ipv6-loopback"),
    pytest.param("http://0.0.0.0/", r"0\.0\.0\.0 is an unspecified address", id="unspecified"),
    pytest.param("http://169.254.169.254/latest/meta-data/", r"cloud metadata address", id="aws-metadata"),
    pytest.param(
        "http://[fd00:ec2::254]/latest/", r"fd00:ec2::254 is a cloud metadata address", id="ec2-ipv6"
    ),
    pytest.param(
        "http://metadata.google.internal/computeMetadata/v1/",
        r"metadata\.google\.internal is a cloud metadata service",
        id="gce-metadata",
    ),
    pytest.param("http://169.254.1.1/", r"link-local", id="link-local"),
    pytest.param("http://[fe80::1]/", r"link-local", id="ipv6-link-local"),
    pytest.param("http://10.0.0.1/", r"10\.0\.0\.1 is a private address", id="rfc1918-10"),
    pytest.param("http://192.168.1.1/", r"192\.168\.1\.1 is a private address", id="rfc1918-192"),
    pytest.param("http://172.16.5.4/", r"private", id="rfc1918-172"),
    pytest.param("http://[fd12:3456::1]/", r"private", id="ipv6-ula"),
    pytest.param("http://100.64.0.1/", r"non-public", id="carrier-nat"),
    pytest.param("http://224.0.0.1/", r"multicast", id="multicast"),
    pytest.param("http://240.0.0.1/", r"reserved", id="reserved"),
    pytest.param("http://[::ffff:127.0.0.1]/", r"loopback", id="ipv4-mapped-loopback"),
    pytest.param("http://[::ffff:169.254.169.254]/", r"cloud metadata", id="ipv4-mapped-metadata"),
    pytest.param("http://[64:ff9b::a00:1]/", r"private", id="nat64-private"),
    pytest.param("http://[2002:7f00:1::]/", r"loopback", id="6to4-loopback"),
    pytest.param(
        "http://2130706433/", r"the host 2130706433 is an address written in a shorthand form", id="decimal"
    ),
    pytest.param("http://0x7f.1/", r"shorthand", id="hex"),
    pytest.param("http://0177.0.0.1/", r"shorthand", id="octal"),
    pytest.param("http://127.1/", r"shorthand", id="short-dotted"),
    pytest.param("http://0x7f000001:80/", r"shorthand", id="hex-with-port"),
    pytest.param("https://example.com:99999/app.yaml", r"its host or port is not valid", id="bad-port"),
    pytest.param("https://exa mple.com/app.yaml", r"spaces or control characters", id="space"),
    pytest.param("https://example.com/a\r\nX-Injected: 1", r"spaces or control characters", id="crlf"),
    pytest.param("https://example.com/\x00", r"control characters", id="nul"),
    pytest.param("https://example.com/" + "a" * 2048, r"2068 characters; the limit is 2048", id="too-long"),
]


@pytest.mark.parametrize(("url", "message"), HOSTILE_URLS)
def test_hostile_urls_are_refused_before_any_connection(url: str, message: str) -> None:
    with pytest.raises(FetchRefused, match=message) as caught:
        fetch(url, FetchPolicy())
    assert caught.value.hint


@pytest.mark.parametrize(
    "url",
    # Without DNS, `localhost` is just a name.
    [pytest.param(p.values[0], id=p.id) for p in HOSTILE_URLS if p.id != "localhost"],
)
def test_check_url_refuses_them_without_dns(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_dns(*args: object, **kwargs: object) -> None:
        raise AssertionError("check_url must not resolve names")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    with pytest.raises(FetchRefused):
        check_url(url, FetchPolicy())


def test_check_url_accepts_public_and_allowed_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_dns(*args: object, **kwargs: object) -> None:
        raise AssertionError("check_url must not resolve names")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    check_url("https://raw.githubusercontent.com/org/repo/main/app.yaml?token=x#frag", FetchPolicy())
    check_url("http://93.184.216.34/app.yaml", FetchPolicy())
    check_url("https://bücher.example/app.yaml", FetchPolicy())
    check_url("http://10.0.0.1:8080/app.yaml", FetchPolicy(allow_hosts=frozenset({"10.0.0.1:8080"})))
    check_url("http://[::1]:8080/", FetchPolicy(allow_hosts=frozenset({"[::1]:8080"})))
    # Metadata addresses stay refused even when allowed.
    with pytest.raises(FetchRefused, match="metadata"):
        check_url("http://169.254.169.254/", FetchPolicy(allow_hosts=frozenset({"169.254.169.254"})))


def fake_dns(monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[list[str]]]) -> list[str]:
    """Answer lookups of the names in `answers` (one list of addresses per lookup, the last repeating)."""
    real = socket.getaddrinfo
    asked: list[str] = []

    def getaddrinfo(host: str, port: int, *args: object, **kwargs: object) -> list:
        if host not in answers:
            return real(host, port, *args, **kwargs)
        asked.append(host)
        addresses = answers[host][min(asked.count(host), len(answers[host])) - 1]
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in addresses
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


def test_a_name_resolving_to_any_private_address_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dns(monkeypatch, {"sneaky.example.com": [["93.184.216.34", "10.1.2.3"]]})
    with pytest.raises(
        FetchRefused, match=r"sneaky\.example\.com resolves to 10\.1\.2\.3, a private address"
    ):
        fetch("https://sneaky.example.com/app.yaml", FetchPolicy())


def test_a_name_that_does_not_resolve_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    def gaierror(*args: object, **kwargs: object) -> None:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", gaierror)
    with pytest.raises(FetchRefused, match=r"the host nowhere\.invalid cannot be resolved"):
        fetch("https://nowhere.invalid/app.yaml", FetchPolicy())


def test_the_checked_address_is_the_one_connected_to(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    # A rebinding resolver: the second answer points elsewhere. fetch must not ask twice.
    asked = fake_dns(monkeypatch, {"rebind.test": [["127.0.0.1"], ["10.255.255.1"]]})
    seen = json.loads(fetch(server.url("/echo", host="rebind.test"), server.policy(host="rebind.test")))
    assert seen["host"] == f"rebind.test:{server.port}"
    assert asked == ["rebind.test"]


def test_the_next_address_is_tried_when_one_does_not_answer(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The server listens on 127.0.0.1 only, so 127.0.0.2 refuses the connection.
    fake_dns(monkeypatch, {"twice.test": [["127.0.0.2", "127.0.0.1"]]})
    assert fetch(server.url("/app.yaml", host="twice.test"), server.policy(host="twice.test")) == APP


def test_a_redirect_to_the_metadata_service_is_refused(server: Server) -> None:
    url = server.url("/redirect?to=http://169.254.169.254/latest/meta-data/iam/")
    with pytest.raises(FetchRefused, match=r"169\.254\.169\.254 is a cloud metadata address"):
        fetch(url, server.policy())


def test_a_redirect_to_a_private_address_is_refused(server: Server) -> None:
    with pytest.raises(FetchRefused, match=r"10\.0\.0\.5 is a private address"):
        fetch(server.url("/redirect?to=http://10.0.0.5:9200/"), server.policy())


def test_a_redirect_to_another_scheme_is_refused(server: Server) -> None:
    with pytest.raises(FetchRefused, match=r"file: URLs"):
        fetch(server.url("/redirect?to=file:///etc/passwd"), server.policy())


def test_redirect_loops_stop(server: Server) -> None:
    with pytest.raises(FetchRefused, match=r"it redirects more than 3 times"):
        fetch(server.url("/loop"), server.policy())
    with pytest.raises(FetchRefused, match=r"more than 1 times"):
        fetch(server.url("/loop"), server.policy(max_redirects=1))
    with pytest.raises(FetchRefused, match=r"more than 0 times"):
        fetch(server.url("/redirect?to=/app.yaml"), server.policy(max_redirects=0))


def test_a_redirect_without_location_is_refused(server: Server) -> None:
    with pytest.raises(FetchRefused, match=r"answered 302 without a Location"):
        fetch(server.url("/no-location"), server.policy())


def test_a_body_without_length_is_cut_at_max_bytes(server: Server) -> None:
    with pytest.raises(FetchRefused, match=r"it is larger than 100,000 bytes"):
        fetch(server.url("/big"), server.policy(max_bytes=100_000))


def test_a_declared_length_over_max_bytes_is_refused_before_reading(server: Server) -> None:
    with pytest.raises(FetchRefused, match=r"it is larger than 100,000 bytes"):
        fetch(server.url("/big-declared"), server.policy(max_bytes=100_000, timeout=30))


def test_a_body_of_exactly_max_bytes_is_accepted(server: Server) -> None:
    assert fetch(server.url("/app.yaml"), server.policy(max_bytes=len(APP))) == APP
    with pytest.raises(FetchRefused, match="larger than"):
        fetch(server.url("/app.yaml"), server.policy(max_bytes=len(APP) - 1))


@pytest.mark.parametrize(
    ("path", "message"),
    [
        pytest.param(
            "/missing", r"could not download http://127\.0\.0\.1:\d+/missing: .*answered 404", id="404"
        ),
        pytest.param("/error", r"answered 500", id="500"),
    ],
)
def test_error_statuses_are_refused(server: Server, path: str, message: str) -> None:
    with pytest.raises(FetchRefused, match=message):
        fetch(server.url(path), server.policy())


def test_messages_never_show_headers_or_query_strings(server: Server) -> None:
    with pytest.raises(FetchRefused) as caught:
        fetch(server.url("/missing?signature=s3cr3t"), server.policy(), headers={"Authorization": TOKEN})
    text = caught.value.message + caught.value.hint
    assert "s3cr3t" not in text and "xoxb" not in text
    assert "/missing" in text


def test_a_closed_port_is_a_download_failure() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    policy = FetchPolicy(allow_hosts=frozenset({f"127.0.0.1:{port}"}))
    with pytest.raises(
        FetchRefused, match=rf"could not download http://127\.0\.0\.1:{port}/: could not connect"
    ):
        fetch(f"http://127.0.0.1:{port}/", policy)


def test_a_server_that_does_not_answer_times_out(server: Server) -> None:
    with pytest.raises(FetchRefused, match=r"could not download .*/slow: timed out after 0\.5 seconds"):
        fetch(server.url("/slow"), server.policy(timeout=0.5))


def test_a_server_that_trickles_times_out(server: Server) -> None:
    with pytest.raises(FetchRefused, match=r"/trickle: timed out after 0\.5 seconds"):
        fetch(server.url("/trickle"), server.policy(timeout=0.5))


def make_certificate(directory: Path, hostname: str) -> tuple[Path, Path]:
    """A self-signed certificate for `hostname` (a DNS name only), and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{hostname}.crt", directory / f"{hostname}.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    """An HTTPS server whose certificate names `localhost` only, and the path of that certificate."""
    cert, key = make_certificate(tmp_path_factory.mktemp("tls"), "localhost")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    with Server(context) as running:
        yield running, str(cert)


def test_https_verifies_the_certificate_for_the_url_host(tls_server: tuple[Server, str]) -> None:
    server, ca = tls_server
    # fetch connects to 127.0.0.1, yet verifies the certificate for (and sends SNI of) `localhost`.
    policy = server.policy(host="localhost", ca_certs=ca)
    assert fetch(server.url("/app.yaml", host="localhost"), policy) == APP


def test_https_refuses_a_certificate_for_another_host(tls_server: tuple[Server, str]) -> None:
    server, ca = tls_server
    with pytest.raises(FetchRefused, match=r"could not download .*: the TLS connection failed"):
        fetch(server.url("/app.yaml"), server.policy(ca_certs=ca))


def test_https_refuses_an_untrusted_certificate(tls_server: tuple[Server, str]) -> None:
    server, _ = tls_server
    with pytest.raises(FetchRefused, match=r"the TLS connection failed .*certificate verify failed"):
        fetch(server.url("/app.yaml", host="localhost"), server.policy(host="localhost"))


def test_https_to_http_redirects_are_refused(tls_server: tuple[Server, str], server: Server) -> None:
    https, ca = tls_server
    policy = FetchPolicy(
        allow_hosts=frozenset({f"localhost:{https.port}", f"127.0.0.1:{server.port}"}), ca_certs=ca
    )
    url = https.url("/redirect?to=" + server.url("/app.yaml"), host="localhost")
    with pytest.raises(FetchRefused, match=r"it redirects from https to plain http"):
        fetch(url, policy)
    assert fetch(https.url("/app.yaml", host="localhost"), policy) == APP


@pytest.mark.parametrize(
    "url", ["http://localhost/charts", "http://127.0.0.1:8879/charts", "https://metadata.google.internal/x"]
)
def test_check_host_resolves_and_refuses_private_repositories(url: str) -> None:
    with pytest.raises(FetchRefused):
        check_host(url, FetchPolicy())


def test_check_host_accepts_an_allowed_loopback_repository() -> None:
    check_host("http://127.0.0.1:8879/charts", FetchPolicy(allow_hosts=frozenset({"127.0.0.1:8879"})))
