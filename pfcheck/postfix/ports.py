"""Which TCP port a master.cf `inet` service listens on, and which SMTP role a port has.

master(8) binds an `inet` service to the port its name gives after an optional `host:`: a
number, or a name it looks up in the services database (getservbyname(3), i.e.
/etc/services). pfcheck cannot read the mail host's /etc/services, so it knows the names
that every system maps the same way for mail (IANA: smtp 25, submission 587, submissions
465, whose older aliases smtps/ssmtp Debian's netbase keeps). Any other name is unknown
(None), never guessed.
"""
from __future__ import annotations

from typing import Optional

from pfcheck.postfix.config import Listener, split_inet_name

SMTP_PORT = 25
SUBMISSION_PORT = 587
SUBMISSIONS_PORT = 465

#: Service names with the same port everywhere (IANA service-names registry; getservbyname()
#: compares names case-sensitively, so these are the only spellings).
SERVICE_PORTS: dict[str, int] = {
    "smtp": SMTP_PORT,
    "submission": SUBMISSION_PORT,
    "submissions": SUBMISSIONS_PORT,
    "smtps": SUBMISSIONS_PORT,
    "ssmtp": SUBMISSIONS_PORT,
}

#: Ports of mail submission (RFC 6409 on 587, RFC 8314 implicit TLS on 465).
SUBMISSION_PORTS = frozenset({SUBMISSION_PORT, SUBMISSIONS_PORT})


def inet_port(service_name: str) -> Optional[int]:
    """The port of an inet service name (`smtp`, `2525`, `127.0.0.1:submission`,
    `[::1]:25`): a number as written, a well-known mail service name, else None (a name
    only the host's /etc/services can resolve)."""
    _host, port = split_inet_name(service_name)
    if port.isdigit():
        number = int(port)
        return number if 0 < number < 65536 else None
    return SERVICE_PORTS.get(port)


def listener_ports(listener: Listener) -> frozenset[int]:
    """The ports through which clients reach an smtpd listener: its own inet service, or
    the postscreen services in front of its `pass` service. Unknown names are left out."""
    ports = (inet_port(entry.name) for entry in listener.entry_points if entry.type == "inet")
    return frozenset(port for port in ports if port is not None)


def is_mx_listener(listener: Listener) -> bool:
    """Whether clients reach this listener on port 25 (where other MTAs deliver mail)."""
    return SMTP_PORT in listener_ports(listener)


def is_submission_listener(listener: Listener) -> bool:
    """Whether clients reach this listener on a submission port (587 or 465)."""
    return not SUBMISSION_PORTS.isdisjoint(listener_ports(listener))
