"""Real servers for the events tests, started on loopback by the tests themselves.

An HTTP(S) receiver that records requests (and can answer 500/404, hang until released, or
be slower than the client's timeout), a closed port, a self-signed certificate, an amqtt MQTT
broker on its own asyncio loop, a TCP proxy that can cut connections (for the MQTT last
will), an aiosmtpd SMTP server, and a fixture that fails a test leaving threads behind.
Their fixtures are in events_fixtures.py (`pytest_plugins = ["events_fixtures"]`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

# A hang guard, not a timing: several times what a loaded 2-core PC needs. Waits end as soon
# as the condition holds.
WAIT_S = 60.0


def wait_for(condition: Callable[[], object], timeout: float = WAIT_S, what: str = "") -> None:
    """Poll `condition` until true; fail the test (naming `what`) after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what or condition}")
        time.sleep(0.01)


def closed_port() -> int:
    """A loopback port with nothing listening (connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------- HTTP receiver


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """An HTTP(S) server on 127.0.0.1 that records every request it gets.

    `status` is the answer; `hang` makes each request wait until `release()` (or
    `hang_max_s`), which is how "slow" and "hanging" receivers are made.
    """

    status: int = 200
    hang: bool = False
    hang_max_s: float = 30.0
    tls: ssl.SSLContext | None = None
    requests: list[Request] = field(default_factory=list)
    in_handler: int = 0

    def __post_init__(self) -> None:
        self._cond = threading.Condition()
        self._released = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with receiver._cond:
                    receiver.requests.append(Request(self.path, dict(self.headers), body))
                    receiver.in_handler += 1
                    receiver._cond.notify_all()
                try:
                    if receiver.hang:
                        receiver._released.wait(receiver.hang_max_s)
                    payload = b"{}"
                    self.send_response(receiver.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                finally:
                    with receiver._cond:
                        receiver.in_handler -= 1
                        receiver._cond.notify_all()

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = False  # server_close() joins the handler threads

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that timed out and left is expected here

        self._server = Server(("127.0.0.1", 0), Handler)
        if self.tls is not None:
            self._server.socket = self.tls.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="test-http-receiver", daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}/hook"

    def count(self) -> int:
        with self._cond:
            return len(self.requests)

    def wait_requests(self, n: int, timeout: float = WAIT_S) -> list[Request]:
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.requests) >= n, timeout):
                pytest.fail(f"receiver got {len(self.requests)} requests, expected {n}")
            return list(self.requests)

    def release(self) -> None:
        self._released.set()

    def close(self) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


class Receivers:
    """Makes receivers: `receivers(status=500)`, `receivers(hang=True)`."""

    def __init__(self) -> None:
        self.made: list[Receiver] = []

    def __call__(self, **kwargs: Any) -> Receiver:
        r = Receiver(**kwargs)
        self.made.append(r)
        return r

    def release_all(self) -> None:
        for r in self.made:
            r.release()


# ---------------------------------------------------------------- TLS


@dataclass(frozen=True)
class SelfSigned:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context


def make_self_signed(folder: Path) -> SelfSigned:
    """A self-signed certificate for 127.0.0.1 / localhost, made with `cryptography`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "face-kiosk test receiver")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        ]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return SelfSigned(cert_path, key_path)


# ---------------------------------------------------------------- asyncio servers


class LoopThread:
    """An asyncio loop on a thread of its own, for servers written for asyncio."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def run(self, coro: Any, timeout: float = WAIT_S) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        # As asyncio.run does: cancel what is still running (a connection handler), so its
        # finally blocks close its sockets before the loop goes.
        async def cancel_the_rest() -> None:
            rest = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in rest:
                task.cancel()
            await asyncio.gather(*rest, return_exceptions=True)

        self.run(cancel_the_rest())
        self.run(self.loop.shutdown_asyncgens())
        self.run(self.loop.shutdown_default_executor())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(WAIT_S)
        self.loop.close()


class Broker:
    """An amqtt MQTT broker on 127.0.0.1 (anonymous, or users from a password file)."""

    def __init__(self, password_file: Path | None = None) -> None:
        from amqtt.broker import Broker as AmqttBroker

        class TidyBroker(AmqttBroker):
            """amqtt leaves the socket open on some error paths (a connection that dies
            before its CONNECT, as the proxy's cuts make): close each one when its handler
            ends, or the test after it fails on a ResourceWarning."""

            async def stream_connected(self, reader: asyncio.StreamReader,
                                       writer: asyncio.StreamWriter, listener_name: str) -> None:
                try:
                    await super().stream_connected(reader, writer, listener_name)
                finally:
                    writer.close()

        self.port = closed_port()  # amqtt needs the port up front; the race is negligible
        auth: dict[str, Any] = (
            {"amqtt.plugins.authentication.FileAuthPlugin": {"password_file": str(password_file)}}
            if password_file is not None
            else {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}}
        )
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{self.port}"}},
            "plugins": auth,
        }
        self._loop = LoopThread("test-amqtt")

        async def start() -> Any:
            broker = TidyBroker(config, loop=self._loop.loop)
            await broker.start()
            return broker

        self._broker = self._loop.run(start())

    def close(self) -> None:
        self._loop.run(self._broker.shutdown())
        self._loop.stop()


def password_file(folder: Path, users: dict[str, str]) -> Path:
    """An amqtt password file (argon2 hashes, via pwdlib as amqtt reads them)."""
    from pwdlib import PasswordHash
    from pwdlib.hashers.argon2 import Argon2Hasher

    hasher = PasswordHash((Argon2Hasher(),))
    path = folder / "passwd"
    path.write_text("".join(f"{u}:{hasher.hash(p)}\n" for u, p in users.items()),
                    encoding="utf-8")
    return path


class Subscriber:
    """A paho client recording every message under a topic filter."""

    def __init__(self, port: int, topic: str = "face-kiosk/#", *, client_id: str = "test-sub",
                 username: str | None = None, password: str | None = None) -> None:
        import paho.mqtt.client as paho
        from paho.mqtt.enums import CallbackAPIVersion

        self.messages: list[tuple[str, bytes, bool]] = []
        self._cond = threading.Condition()
        self._client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        if username is not None:
            self._client.username_pw_set(username, password)
        subscribed = threading.Event()
        self._client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
        self._client.on_subscribe = lambda c, u, mid, rcs, p: subscribed.set()
        self._client.on_message = self._on_message
        self._client.connect("127.0.0.1", port, keepalive=30)
        self._client.loop_start()
        if not subscribed.wait(WAIT_S):
            pytest.fail("test subscriber could not subscribe")

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        with self._cond:
            self.messages.append((message.topic, bytes(message.payload), bool(message.retain)))
            self._cond.notify_all()

    def wait(self, match: Callable[[tuple[str, bytes, bool]], bool], what: str,
             timeout: float = WAIT_S) -> tuple[str, bytes, bool]:
        """The first message (already received or coming) that `match`es."""
        with self._cond:
            found: list[tuple[str, bytes, bool]] = []

            def seen() -> bool:
                found[:] = [m for m in self.messages if match(m)]
                return bool(found)

            if not self._cond.wait_for(seen, timeout):
                pytest.fail(f"no MQTT message {what}; got {self.messages}")
            return found[0]

    def since(self, index: int) -> list[tuple[str, bytes, bool]]:
        with self._cond:
            return list(self.messages[index:])

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


class Proxy:
    """A TCP proxy to `port`; `cut()` drops every connection without a goodbye (like a pulled
    cable), `pause()` refuses new ones until `resume()`."""

    def __init__(self, port: int) -> None:
        self._upstream = port
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(8)
        self._listener.settimeout(0.1)
        self.port = int(self._listener.getsockname()[1])
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._pumps: list[threading.Thread] = []
        self._paused = False
        self._stop = threading.Event()
        self.accepted = 0
        self._thread = threading.Thread(target=self._accept, name="test-proxy", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                if self._paused:
                    client.close()
                    continue
                self.accepted += 1
            try:
                upstream = socket.create_connection(("127.0.0.1", self._upstream), timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            client.settimeout(None)
            with self._lock:
                self._sockets += [client, upstream]
                for a, b in ((client, upstream), (upstream, client)):
                    t = threading.Thread(target=self._pump, args=(a, b), name="test-proxy-pump",
                                         daemon=True)
                    self._pumps.append(t)
                    t.start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        with self._lock:
            sockets, self._sockets = self._sockets, []
            pumps, self._pumps = self._pumps, []
        for s in sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()
        for t in pumps:
            t.join(WAIT_S)

    def pause(self) -> None:
        with self._lock:
            self._paused = True

    def resume(self) -> None:
        with self._lock:
            self._paused = False

    def close(self) -> None:
        self._stop.set()
        self._thread.join(WAIT_S)
        self._listener.close()
        self.cut()


class SmtpServer:
    """An aiosmtpd SMTP server on 127.0.0.1 (no TLS, no auth) keeping every message."""

    def __init__(self) -> None:
        from aiosmtpd.smtp import SMTP

        self.messages: list[tuple[str, list[str], bytes]] = []
        self._cond = threading.Condition()
        server = self

        class Handler:
            async def handle_DATA(self, smtp: Any, session: Any, envelope: Any) -> str:  # noqa: N802
                with server._cond:
                    server.messages.append(
                        (envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content)))
                    server._cond.notify_all()
                return "250 OK"

        self._loop = LoopThread("test-smtp")

        async def start() -> asyncio.Server:
            # hostname given: SMTP() would otherwise look up the machine's FQDN per connection.
            return await self._loop.loop.create_server(
                lambda: SMTP(Handler(), hostname="smtp.test"), "127.0.0.1", 0)

        self._server: asyncio.Server = self._loop.run(start())
        self.port = int(self._server.sockets[0].getsockname()[1])

    def wait_messages(self, n: int, timeout: float = WAIT_S) -> list[tuple[str, list[str], bytes]]:
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.messages) >= n, timeout):
                pytest.fail(f"SMTP server got {len(self.messages)} messages, expected {n}")
            return list(self.messages)

    def close(self) -> None:
        async def stop() -> None:
            self._server.close()
            await self._server.wait_closed()

        self._loop.run(stop())
        self._loop.stop()
