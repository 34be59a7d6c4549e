"""The RCPT TO replies pfcheck predicts for trivial-rewrite routes equal what a live smtpd
answers (Postfix 3.7.11): smtpd_check.c check_rcpt_maps() for error/retry routes, acceptance for
the others. One private instance, one transport table with every kind of entry."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Tuple

import pytest

from pfcheck.postfix import relay
from pfcheck.postfix.relay.lookups import Tables
from pfcheck.postfix.relay.rewrite import AddressModel
from tests.support.live_postfix import live_postfix_factory  # noqa: F401  (pytest fixture)
from tests.support.relay_cases import DEFAULT_MASTER_CF, Probe, RelayCase, build_config, smtp_session

TRANSPORT = """\
dsn.example          error:5.7.1 go away
fix.example          error:4.1.8 bad domain
retry.example        retry:try later
discard.example      discard:
keep.example         :[192.0.2.25]
user@ext.example     error:no such address
.parent.example      error:parent entry
*                    error:only local
"""
MAIN_CF = """\
compatibility_level = 3.6
recipient_delimiter = +
default_transport = smtp
smtpd_relay_restrictions = check_client_access static:OK, reject_unauth_destination
transport_maps = hash:/etc/postfix/transport
"""
# user+tag@ext.example finds the user@ext.example entry (MA_FIND_NOEXT), other+tag@ the wildcard.
RECIPIENTS: List[str] = [
    "x@remote.example", "x@dsn.example", "x@fix.example", "x@retry.example", "x@discard.example",
    "x@keep.example", "user+tag@ext.example", "user@ext.example", "other+tag@ext.example", "x@sub.parent.example",
    "x@parent.example",
]


@pytest.mark.live
def test_route_replies_agree_with_smtpd(tmp_path: Path, live_postfix_factory: type) -> None:
    case = RelayCase("transport-replies", "test", MAIN_CF, None, {"/etc/postfix/transport": TRANSPORT},
                     {"smtp/inet": relay.Verdict.CLOSED})
    config = build_config(case, tmp_path / "eval")
    model = AddressModel(config.main, Tables(config.resolver))
    predicted: List[Tuple[str, Optional[str]]] = []
    for recipient in RECIPIENTS:
        route = model.route_of(model.resolve(recipient))
        assert route.unknown is None and route.fail is None, (recipient, route)
        predicted.append((recipient, route.rcpt_reply(recipient)))
    with live_postfix_factory(case.full_main_cf(), DEFAULT_MASTER_CF, case.files) as pf:
        results = smtp_session(pf, "smtp/inet", "203.0.113.7", None, "probe.attacker.example",
                               [Probe("probe@attacker.example", recipient) for recipient in RECIPIENTS])
    problems = []
    for (recipient, reply), (_, code, text, outcome) in zip(predicted, results):
        live = f"{code} {text}"
        if reply is None:
            if outcome != "accepted":
                problems.append(f"{recipient}: pfcheck accepts, Postfix says {live}")
        elif live != reply:
            problems.append(f"{recipient}: pfcheck says {reply!r}, Postfix says {live!r}")
    assert not problems, "\n".join(problems)
