"""A stand-in for Dovecot's auth-client socket, enough for smtpd to list AUTH in EHLO.

smtpd with `smtpd_sasl_type = dovecot` connects to `smtpd_sasl_path` when a session first
needs the mechanism list (src/xsasl/xsasl_dovecot_server.c, xsasl_dovecot_server_connect()):
it sends `VERSION\\t1\\t2` and `CPID\\t<pid>`, and reads lines until `DONE`. `MECH\\t<name>`
lines (with properties such as `plaintext`, `anonymous`) are the mechanisms it then filters
with smtpd_sasl_security_options / smtpd_sasl_tls_security_options. This server answers
the handshake on every connection and fails every authentication request.

    with FakeDovecotAuth(pf.queue_directory / "private" / "auth"):
        ...  # EHLO now lists "AUTH PLAIN LOGIN"
"""
from __future__ import annotations

import os
import socket
import threading
from pathlib import Path
from types import TracebackType
from typing import List, Optional, Sequence, Tuple, Type

#: (mechanism, properties) as Dovecot's auth-client protocol announces them.
DEFAULT_MECHANISMS: Tuple[Tuple[str, Tuple[str, ...]], ...] = (
    ("PLAIN", ("plaintext",)),
    ("LOGIN", ("plaintext",)),
)


class FakeDovecotAuth:
    """A unix-socket server speaking the start of Dovecot's auth-client protocol."""

    def __init__(self, path: Path,
                 mechanisms: Sequence[Tuple[str, Tuple[str, ...]]] = DEFAULT_MECHANISMS) -> None:
        self.path = Path(path)
        self.mechanisms = tuple(mechanisms)
        self.connections = 0
        self._server: Optional[socket.socket] = None
        self._thread: Optional[threading.Thread] = None
        self._clients: List[socket.socket] = []
        self._stop = threading.Event()

    def handshake(self) -> bytes:
        lines = ["VERSION\t1\t2"]
        for name, properties in self.mechanisms:
            lines.append("\t".join(("MECH", name, *properties)))
        lines += [f"SPID\t{os.getpid()}", "CUID\t1", "COOKIE\t" + "0" * 32, "DONE"]
        return ("\n".join(lines) + "\n").encode()

    def __enter__(self) -> "FakeDovecotAuth":
        if self.path.exists():
            self.path.unlink()
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(str(self.path))
        # smtpd connects as mail_owner after dropping privileges.
        self.path.chmod(0o666)
        server.listen(16)
        server.settimeout(0.1)
        self._server = server
        self._thread = threading.Thread(target=self._serve, name="fake-dovecot-auth", daemon=True)
        self._thread.start()
        return self

    def _serve(self) -> None:
        assert self._server is not None
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.connections += 1
            self._clients.append(client)
            threading.Thread(target=self._talk, args=(client,), daemon=True).start()

    def _talk(self, client: socket.socket) -> None:
        try:
            client.sendall(self.handshake())
            client.settimeout(0.2)
            buffer = b""
            while not self._stop.is_set():
                try:
                    chunk = client.recv(4096)
                except socket.timeout:
                    continue
                if not chunk:
                    return
                buffer += chunk
                while b"\n" in buffer:
                    line, _, buffer = buffer.partition(b"\n")
                    fields = line.decode("utf-8", "replace").split("\t")
                    if fields[0] == "AUTH" and len(fields) > 1:
                        client.sendall(f"FAIL\t{fields[1]}\treason=fake server\n".encode())
        except OSError:
            return

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                 traceback: Optional[TracebackType]) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.close()
        for client in self._clients:
            try:
                client.close()
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=2)
        try:
            self.path.unlink()
        except OSError:
            pass
