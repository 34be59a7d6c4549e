"""trivial-rewrite's route computation (pfcheck/postfix/resolve.py) against the lookup order of
Postfix 3.7 transport.c / mail_addr_find.c and smtpd_check.c's replies for error routes."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import pytest

from pfcheck.postfix.resolve import (
    UNDELIVERABLE,
    Route,
    Router,
    dsn_split,
    strip_extension,
    transport_keys,
    update_entry,
)


def test_lookup_order_without_parent_style() -> None:
    # MA_FIND_FULL, MA_FIND_NOEXT (partial), MA_FIND_DOMAIN with PDDMDS: ".parent" keys
    assert transport_keys("user+ext@sub.example.com", delimiters="+", parent_style=False) == [
        ("user+ext@sub.example.com", False), ("user@sub.example.com", True),
        ("sub.example.com", True), (".example.com", True), (".com", True)]


def test_lookup_order_with_parent_style() -> None:
    # transport_maps in parent_domain_matches_subdomains: PDMS, bare parents, never ".parent"
    assert transport_keys("user@sub.example.com", delimiters="", parent_style=True) == [
        ("user@sub.example.com", False), ("sub.example.com", True), ("example.com", True), ("com", True)]


@pytest.mark.parametrize("address, delimiters, stripped", [
    ("user+ext@example.com", "+", "user@example.com"),
    ("user-ext@example.com", "+-", "user@example.com"),
    ("user@example.com", "+", None),
    ("+ext@example.com", "+", None),            # would leave a null local part
    ("user+@example.com", "+", "user@example.com"),
    ("postmaster+x@example.com", "+", "postmaster@example.com"),
    ("postmaster@example.com", "+", None),
    ("owner-list@example.com", "-", None),       # owner_request_special
    ("list-request@example.com", "-", None),
    ("user+ext@example.com", "", None),
])
def test_extension_stripping(address: str, delimiters: str, stripped: Optional[str]) -> None:
    assert strip_extension(address, delimiters) == stripped


@pytest.mark.parametrize("value, expected", [
    ("", ("smtp", "relay-target.example")),          # no channel: keep everything
    (":", ("smtp", "relay-target.example")),
    (":[192.0.2.25]", ("smtp", "[192.0.2.25]")),     # keep the channel, new nexthop
    ("relay:", ("relay", "dest.example")),            # new channel: nexthop reset to the domain
    ("relay", ("relay", "dest.example")),
    ("error:", ("error", UNDELIVERABLE)),
    ("retry", ("retry", UNDELIVERABLE)),
    ("error:only local", ("error", "only local")),
    ("smtp:[mx.example]:2525", ("smtp", "[mx.example]:2525")),
])
def test_update_entry(value: str, expected: Tuple[str, str]) -> None:
    assert update_entry(value, "dest.example", "smtp", "relay-target.example") == expected


@dataclass(frozen=True)
class FakeAnswer:
    value: Optional[str]
    known: bool = True
    location: Optional[Tuple[str, int]] = None
    detail: str = ""


FAIL = "FAIL"


class FakeTables:
    """Tables as key -> value dicts; `fixed` False tables ignore partial lookups (regexp-like).
    Records every lookup in order."""

    def __init__(self, tables: Dict[str, Dict[str, str]], fixed: Optional[Dict[str, bool]] = None,
                 unknown: Tuple[str, ...] = ()) -> None:
        self.tables = tables
        self.fixed = fixed or {}
        self.unknown = unknown
        self.calls: List[Tuple[str, str, bool]] = []

    def lookup(self, token: str, key: str, partial: bool) -> FakeAnswer:
        self.calls.append((token, key, partial))
        if token in self.unknown:
            return FakeAnswer(None, False, detail="not in the repository")
        if partial and not self.fixed.get(token, True):
            return FakeAnswer(None)
        value = self.tables[token].get(key)
        return FakeAnswer(value, location=(token, 1) if value is not None else None)


def router(values: Dict[str, str], tables: FakeTables) -> Router:
    params = {"parent_domain_matches_subdomains": "relay_domains", "recipient_delimiter": "",
              "transport_maps": "", "relocated_maps": "", "sender_dependent_default_transport_maps": "",
              "default_transport": "smtp", "relay_transport": "relay", "local_transport": "local:$myhostname",
              "virtual_transport": "virtual"}
    params.update(values)
    return Router(lambda name: params.get(name, ""), tables.lookup, lambda answer: answer.value == FAIL)


def test_wildcard_only_after_every_key_missed() -> None:
    tables = FakeTables({"hash:t": {"*": "error:only local", "partner.example": "smtp:"}})
    route = router({"transport_maps": "hash:t"}, tables)
    assert route.route("u@partner.example", "default").channel == "smtp"
    assert route.route("u@relay-target.example", "default") == Route(
        "error", "only local", "transport_maps", ("hash:t", 1))
    assert [key for _, key, _ in tables.calls[-4:]] == ["u@relay-target.example", "relay-target.example",
                                                       ".example", "*"]


def test_each_key_is_tried_in_every_table_before_the_next_key() -> None:
    tables = FakeTables({"hash:a": {"relay-target.example": "error:a"}, "hash:b": {"u@relay-target.example": "smtp:"}})
    assert router({"transport_maps": "hash:a, hash:b"}, tables).route("u@relay-target.example", "default").channel \
        == "smtp"
    assert tables.calls[:2] == [("hash:a", "u@relay-target.example", False), ("hash:b", "u@relay-target.example", False)]


def test_pattern_tables_see_only_the_full_address_and_the_wildcard() -> None:
    tables = FakeTables({"regexp:r": {"relay-target.example": "error:no", "*": "discard:"}}, fixed={"regexp:r": False})
    route = router({"transport_maps": "regexp:r"}, tables).route("u@relay-target.example", "default")
    assert route.channel == "discard"  # the domain key is partial: a regexp table is not asked
    assert ("regexp:r", "*", False) in tables.calls


def test_parent_style_reads_the_parameter() -> None:
    tables = FakeTables({"hash:t": {"example": "error:no", ".example": "smtp:"}})
    assert router({"transport_maps": "hash:t"}, tables).route("u@relay-target.example", "default").channel == "smtp"
    parent = router({"transport_maps": "hash:t", "parent_domain_matches_subdomains": "transport_maps"}, tables)
    assert parent.route("u@relay-target.example", "default").channel == "error"


def test_extension_forms() -> None:
    tables = FakeTables({"hash:t": {"u@relay-target.example": "error:no such user"}})
    route = router({"transport_maps": "hash:t", "recipient_delimiter": "+"}, tables)
    assert route.route("u+tag@relay-target.example", "default").channel == "error"
    assert route.route("other@relay-target.example", "default").channel == "smtp"


def test_main_cf_transports_per_class() -> None:
    tables = FakeTables({})
    route = router({"default_transport": "error:null client", "relay_transport": "relay:[192.0.2.1]"}, tables)
    assert route.route("u@relay-target.example", "default") == Route("error", "null client", "default_transport")
    assert route.route("u@partner.example", "relay") == Route("relay", "[192.0.2.1]", "relay_transport")
    assert route.route("u@partner.example", "alias").channel == "error"
    assert router({"default_transport": ""}, tables).route("u@x.example", "default").fail


def test_unknown_and_failing_tables() -> None:
    unknown = router({"transport_maps": "hash:gone"}, FakeTables({}, unknown=("hash:gone",)))
    route = unknown.route("u@relay-target.example", "default")
    assert route.unknown == "hash:gone" and route.unknown_parameter == "transport_maps"
    failing = router({"transport_maps": "hash:t"}, FakeTables({"hash:t": {"u@relay-target.example": FAIL}}))
    assert failing.route("u@relay-target.example", "default").fail
    sender = router({"sender_dependent_default_transport_maps": "hash:s"}, FakeTables({}))
    assert sender.route("u@relay-target.example", "default").unknown == "hash:s"


def test_relocated_maps_bounce() -> None:
    tables = FakeTables({"hash:r": {"@relay-target.example": "new@elsewhere.example"}})
    route = router({"relocated_maps": "hash:r"}, tables).route("u@relay-target.example", "default")
    assert route.channel == "error" and route.nexthop == "5.1.6 User has moved to new@elsewhere.example"


def test_smtpd_replies() -> None:
    # smtpd_check.c check_rcpt_maps(): "<%s>: %s rejected: %s", dsn from the text or 5.1.1
    assert Route("error", "only local", "transport_maps").rcpt_reply("x@remote.example") == \
        "550 5.1.1 <x@remote.example>: Recipient address rejected: only local"
    assert Route("error", "5.7.1 go away", "transport_maps").rcpt_reply("x@remote.example") == \
        "550 5.7.1 <x@remote.example>: Recipient address rejected: go away"
    assert Route("retry", UNDELIVERABLE, "transport_maps").rcpt_reply("x@remote.example", sender=True) == \
        f"450 4.1.0 <x@remote.example>: Sender address rejected: {UNDELIVERABLE}"
    assert Route("discard", "", "transport_maps").rcpt_reply("x@remote.example") is None
    assert dsn_split("5.1.1", "5.7.10text") == ("5.1.1", "5.7.10text")


def test_reply_status_fixes() -> None:
    # smtpd_dsn_fix(): 5.1.0 is the sender status, a recipient gets 5.1.0 -> default 4.1.0 class 5
    assert Route("error", "5.1.8 bad domain", "t").rcpt_reply("x@y.example") == \
        "550 5.1.2 <x@y.example>: Recipient address rejected: bad domain"
    # smtpd_check_reject(): the DSN class follows the reply code
    assert Route("error", "4.7.1 later", "t").rcpt_reply("x@y.example") == \
        "550 5.7.1 <x@y.example>: Recipient address rejected: later"
