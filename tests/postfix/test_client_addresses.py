"""Witness clients are addresses Postfix takes (pfcheck.postfix.client_addresses and every place
a witness client is chosen: PF201's trusted-set and grant witnesses, PF301's clients).

"Takes" is judged here by an implementation written independently of pfcheck's chooser:

* `valid_hostaddr()` as Postfix 3.7 documents and implements it (util/valid_hostname.c): a
  character-level scan written from the rules, not from pfcheck's sets;
* the C library's own `getaddrinfo(AI_NUMERICHOST)`/`getnameinfo(NI_NUMERICHOST)`, the round
  trip `normalize_mailhost_addr()` makes, and its IPv4-mapped rule (the client is then IPv4);
* Python's `ipaddress` for what no TCP client can be: unspecified, multicast, limited
  broadcast, 0.0.0.0/8.

The live proof (XCLIENT against a real smtpd) is tests/live/test_witness_live.py.
"""
from __future__ import annotations

import ipaddress
import json
import socket
from pathlib import Path
from typing import List, Optional

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pfcheck.postfix import client_addresses
from pfcheck.postfix.addresses import IPV4, IPV6, IntervalSet, format_address
from pfcheck.postfix.networks import parse_address_list
from pfcheck.postfix.witness import witness_outside
from pfcheck.postfix.relay import Verdict, client_grants, evaluate_relay
from pfcheck.postfix.tables import TableResolver
from tests.postfix.test_relay import Params, main_scope

# ------------------------------------------------------------------------------------------
# The independent judge


def postfix_valid_ipv4_hostaddr(text: str) -> bool:
    """valid_ipv4_hostaddr(): digits and dots only, 4 octets <= 255, no empty octet or
    trailing dot, and an initial 0 octet only when the whole text is zeros and dots."""
    octets = 0
    value = -1
    for position, char in enumerate(text):
        if char.isascii() and char.isdigit():
            if value < 0:
                octets += 1
                value = 0
            value = value * 10 + int(char)
            if value > 255:
                return False
        elif char == ".":
            if value < 0 or position == len(text) - 1:
                return False
            if octets == 1 and value == 0 and text.strip("0."):
                return False
            value = -1
        else:
            return False
    return octets == 4


def postfix_valid_ipv6_hostaddr(text: str) -> bool:
    """valid_ipv6_hostaddr(): fields of at most 4 hex digits, 2..7 colons, at most one `::`,
    no lone leading colon, and a dotted tail (after 2..6 colons) that passes the IPv4 check."""
    colons = 0
    double_at = 0
    field_length = 0
    position = 0
    while True:
        char = text[position] if position < len(text) else ""
        if char == "":
            if colons < 2:
                return False
            return not (field_length == 0 and double_at != colons - 1)
        if char == ".":
            if colons < 2 or colons > 6:
                return False
            return postfix_valid_ipv4_hostaddr(text[position - field_length:])
        if char == ":":
            following = text[position + 1:position + 2]
            if colons == 0 and field_length == 0 and following.isascii() and following.isalnum():
                return False
            colons += 1
            if colons > 7:
                return False
            position += 1
            field_length = 0
            if text[position:position + 1] == ":":
                if double_at > 0:
                    return False
                double_at = colons
            continue
        run = 0
        while position + run < len(text) and text[position + run] in "0123456789abcdefABCDEF":
            run += 1
        if run == 0 or run > 4:
            return False
        field_length = run
        position += run


def postfix_valid_hostaddr(text: str) -> bool:
    if not text:
        return False
    return postfix_valid_ipv6_hostaddr(text) if ":" in text else postfix_valid_ipv4_hostaddr(text)


def xclient_takes_as_is(text: str) -> bool:
    """XCLIENT ADDR=text (IPV6: prefix for IPv6) gives smtpd exactly this client: the syntax
    check, the C library's numeric round trip, and no IPv4-mapped conversion."""
    if not postfix_valid_hostaddr(text):
        return False
    try:
        info = socket.getaddrinfo(text, None, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, socket.AI_NUMERICHOST)
        host, _ = socket.getnameinfo(info[0][4], socket.NI_NUMERICHOST | socket.NI_NUMERICSERV)
    except (socket.gaierror, OSError):
        return False
    return not host.lower().startswith("::ffff:")


def can_connect_from(text: str) -> bool:
    address = ipaddress.ip_address(text)
    if address.is_unspecified or address.is_multicast:
        return False
    if address.version == 4:
        return address not in ipaddress.ip_network("0.0.0.0/8") and str(address) != "255.255.255.255"
    return address.ipv4_mapped is None


def acceptable(text: str) -> bool:
    return xclient_takes_as_is(text) and can_connect_from(text)


# ------------------------------------------------------------------------------------------
# The judge itself (so that it can fail)


@pytest.mark.parametrize("text, expected", [
    ("0.0.0.0", True), ("0.0.0.1", False), ("0.255.255.255", False), ("1.0.0.1", True),
    ("224.0.0.1", True), ("255.255.255.255", True), ("256.0.0.1", False), ("1.2.3", False),
    ("1.2.3.4.", False), ("::", True), ("::1", True), ("::0.0.0.1", False), ("::ffff:0.0.0.1", False),
    ("::ffff:1.2.3.4", True), ("ff02::1", True), (":1::2", False), ("1:2:3:4:5:6:7:8:9", False),
    ("12345::1", False), ("2001:db8::1", True),
])
def test_the_judge_agrees_with_observed_postfix(text: str, expected: bool) -> None:
    # Observed on the live 3.7.11 instance: XCLIENT ADDR=0.0.0.1 -> 501 Bad ADDR syntax,
    # ADDR=IPV6:::ffff:0.0.0.1 -> 501, ADDR=224.0.0.1, 255.255.255.255, IPV6:::, IPV6:ff02::1 -> 220.
    assert postfix_valid_hostaddr(text) is expected


def test_the_judge_refuses_what_no_client_can_be() -> None:
    for text in ("0.0.0.0", "224.0.0.1", "255.255.255.255", "::", "ff02::1", "::ffff:1.2.3.4", "0.0.0.1"):
        assert not acceptable(text), text
    for text in ("192.0.2.1", "240.0.0.1", "10.0.0.1", "2001:db8::1", "::2"):
        assert acceptable(text), text


# ------------------------------------------------------------------------------------------
# The chooser


def _range(text: str) -> tuple[int, IntervalSet]:
    found = client_addresses.key_range(text)
    assert found is not None, text
    return found


@pytest.mark.parametrize("key, expected", [
    ("0.0.0.0/0", "192.0.2.1"),
    ("0.0.0.0/8", None),
    ("224.0.0.0/4", None),
    ("255.255.255.255/32", None),
    ("0.0.0.0/31", None),
    ("0.0.0.0/7", "1.0.0.1"),
    ("10.0.0.0/8", "10.0.0.1"),
    ("198.51.100.128/25", "198.51.100.128"),
    ("203.0.113.0/24", "203.0.113.1"),
    ("224.0.0.0/3", "240.0.0.1"),  # class E: reserved, yet Linux connects from it
    ("[::]/0", "2001:db8::1"),
    ("::/0", "2001:db8::1"),
    ("[::]/128", None),
    ("[ff00::]/8", None),
    ("[::ffff:0:0]/96", None),
    ("10.1.2", "10.1.2.1"),
    ("0", None),
    ("192.0.2.77", "192.0.2.77"),
])
def test_grant_witness_edges(key: str, expected: Optional[str]) -> None:
    family, addresses = _range(key)
    chosen = client_addresses.grant_witness(addresses, family)
    assert chosen == expected
    if chosen is not None:
        assert acceptable(chosen)


INTERESTING_V4 = ["0.0.0.0", "0.0.0.1", "1.0.0.0", "127.0.0.0", "192.0.2.0", "198.51.100.0", "203.0.113.0",
                  "223.255.255.255", "224.0.0.0", "239.255.255.255", "240.0.0.0", "255.255.255.254",
                  "255.255.255.255"]
INTERESTING_V6 = ["::", "::1", "::0.1.0.0", "::1.0.0.0", "::ffff:0.0.0.0", "::ffff:1.0.0.0", "2001:db8::",
                  "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", "fe80::", "feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
                  "ff00::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"]


@st.composite
def networks(draw: st.DrawFn) -> tuple[int, int, int]:
    """(family, network start, prefix length), biased to the edges of the special ranges."""
    family = draw(st.sampled_from([IPV4, IPV6]))
    bits = 32 if family == IPV4 else 128
    interesting = [int(ipaddress.ip_address(text)) for text in (INTERESTING_V4 if family == IPV4 else INTERESTING_V6)]
    base = draw(st.one_of(st.sampled_from(interesting), st.integers(0, (1 << bits) - 1)))
    prefixlen = draw(st.one_of(st.sampled_from([0, 1, 3, 4, 7, 8, 24, 31, bits - 1, bits]),
                               st.integers(0, bits)))
    start = base & ~((1 << (bits - prefixlen)) - 1)
    return family, start, prefixlen


def _samples(start: int, end: int) -> List[int]:
    span = end - start
    points = {start, start + 1, start + span // 2, end - 2, end - 1, start + span // 3, start + span // 7}
    return sorted(point for point in points if start <= point < end)


@settings(max_examples=400, deadline=None)
@given(networks())
def test_grant_witness_is_acceptable_inside_and_documented(network: tuple[int, int, int]) -> None:
    family, start, prefixlen = network
    addresses = IntervalSet.network(start, prefixlen, family)
    end = addresses.ranges[0][1]
    chosen = client_addresses.grant_witness(addresses, family)
    if chosen is None:
        # No client can present from the range: none of its samples is acceptable.
        assert not [format_address(value, family) for value in _samples(start, end)
                    if acceptable(format_address(value, family))]
        return
    value = int(ipaddress.ip_address(chosen))
    assert start <= value < end
    assert acceptable(chosen), chosen
    documentation = [ipaddress.ip_network(text) for text in
                     (("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24") if family == IPV4 else ("2001:db8::/32",))]
    block = ipaddress.ip_network((start, prefixlen)) if family == IPV4 else \
        ipaddress.ip_network((start.to_bytes(16, "big"), prefixlen))
    if any(block.overlaps(doc) for doc in documentation):
        assert any(ipaddress.ip_address(chosen) in doc for doc in documentation), chosen


def _item_text(family: int, start: int, prefixlen: int) -> str:
    text = format_address(start, family)
    return f"{text}/{prefixlen}" if family == IPV4 else f"[{text}]/{prefixlen}"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(networks(), min_size=1, max_size=4), st.lists(st.booleans(), min_size=4, max_size=4))
def test_trusted_set_witness_is_trusted_and_acceptable(items: List[tuple[int, int, int]], negate: List[bool]) -> None:
    texts = [("!" if negate[index] and index < len(items) - 1 else "") + _item_text(*item)
             for index, item in enumerate(items)]
    trusted = parse_address_list(" ".join(texts), param="mynetworks", resolver=None)
    witness = witness_outside(trusted, ["127.0.0.0/8", "[::1]/128"])
    if witness is None:
        return
    assert acceptable(witness.address), (texts, witness.address)
    assert trusted.match(witness.address, client_name="unknown").matched is True


MYNETWORKS_EDGES = [
    "0.0.0.0/1 128.0.0.0/1",  # every IPv4 client
    "1.0.0.0/8 2.0.0.0/7 4.0.0.0/6 8.0.0.0/5 16.0.0.0/4 32.0.0.0/3 64.0.0.0/2 128.0.0.0/2 192.0.0.0/3",
    "192.0.2.0/24 198.51.100.0/24 203.0.113.0/24 198.18.0.0/15",  # every IPv4 probe
    "192.0.2.0/24 198.51.100.0/24 203.0.113.0/24 198.18.0.0/15 [2001:db8::]/32 [3fff::]/20 [2001:2::]/48",
    "[::]/1 [8000::]/1 0.0.0.0/0",
]


@pytest.mark.parametrize("value", MYNETWORKS_EDGES)
def test_relay_witness_clients_are_acceptable(value: str) -> None:
    params = Params("compatibility_level = 3.6\n"
                    f"mynetworks = {value}\n"
                    "smtpd_relay_restrictions = permit_mynetworks, check_client_access static:OK, "
                    "reject_unauth_destination\n")
    verdict = evaluate_relay(params, version="3.7", resolver=None, trusted=None, rewrite_params=main_scope(params))
    assert verdict.verdict is Verdict.OPEN and verdict.witness is not None
    assert acceptable(verdict.witness.client), verdict.witness.client


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(networks(), min_size=1, max_size=3))
def test_untrusted_relay_client_is_acceptable(items: List[tuple[int, int, int]]) -> None:
    """Whatever mynetworks trusts, the untrusted client PF301 names can present itself."""
    value = " ".join(_item_text(*item) for item in items)
    params = Params("compatibility_level = 3.6\n"
                    f"mynetworks = {value}\n"
                    "smtpd_relay_restrictions = check_client_access static:OK, reject_unauth_destination\n")
    verdict = evaluate_relay(params, version="3.7", resolver=None, trusted=None, rewrite_params=main_scope(params))
    assert verdict.witness is not None
    assert acceptable(verdict.witness.client), verdict.witness.client


def _grants(tmp_path: Path, entry: str, protocols: str = "all") -> list:
    (tmp_path / "clients.cidr").write_text(f"{entry} OK\n")
    params = Params("compatibility_level = 3.6\n"
                    f"inet_protocols = {protocols}\n"
                    "smtpd_relay_restrictions = permit_mynetworks, check_client_access "
                    "cidr:/etc/postfix/clients.cidr, reject_unauth_destination\n")
    return client_grants(params, version="3.7", resolver=TableResolver(tmp_path, tmp_path), trusted=None,
                         rewrite_params=main_scope(params))


@pytest.mark.parametrize("entry, expected", [
    ("0.0.0.0/0", "192.0.2.1"), ("0.0.0.0/8", None), ("224.0.0.0/4", None), ("::/0", "2001:db8::1"),
    ("0.0.0.0/31", None), ("255.255.255.255/32", None), ("10.0.0.0/8", "10.0.0.1"),
])
def test_client_grant_witnesses(tmp_path: Path, entry: str, expected: Optional[str]) -> None:
    grants = _grants(tmp_path, entry)
    assert [grant.address for grant in grants if grant.relays] == ([] if expected is None else [expected])
    for grant in grants:
        assert acceptable(grant.address)
        assert grant.assumptions == () and grant.replayable


def test_grant_in_a_disabled_family_is_not_replayable(tmp_path: Path) -> None:
    grants = [grant for grant in _grants(tmp_path, "::/0", protocols="ipv4") if grant.address == "2001:db8::1"]
    assert grants and not grants[0].replayable
    assert any("inet_protocols" in text for text in grants[0].assumptions)


def test_grant_witness_skips_clients_an_earlier_cidr_entry_catches(tmp_path: Path) -> None:
    # cidr tables are first-match: 192.0.2.1 would get REJECT, so it is no witness of the OK.
    grants = _grants(tmp_path, "192.0.2.0/24 REJECT\n0.0.0.0/0")
    assert [(grant.entry, grant.address, grant.relays) for grant in grants] == [("0.0.0.0/0", "198.51.100.1", True)]


def test_grant_witness_is_outside_the_trusted_set(tmp_path: Path) -> None:
    (tmp_path / "clients.cidr").write_text("0.0.0.0/0 OK\n")
    params = Params("compatibility_level = 3.6\nmynetworks = 127.0.0.0/8 192.0.2.0/24\n"
                    "smtpd_relay_restrictions = permit_mynetworks, check_client_access "
                    "cidr:/etc/postfix/clients.cidr, reject_unauth_destination\n")
    grants = client_grants(params, version="3.7", resolver=TableResolver(tmp_path, tmp_path), trusted=None,
                           rewrite_params=main_scope(params))
    assert [(grant.address, grant.relays) for grant in grants] == [("198.51.100.1", True)]


# ------------------------------------------------------------------------------------------
# JSON: assumptions and replayable, as the text says


@pytest.mark.parametrize("restrictions, replayable", [
    ("permit_mx_backup, reject_unauth_destination", False),
    ("check_client_access static:OK, reject_unauth_destination", True),
    ("reject_unknown_sender_domain, check_client_access static:OK, reject_unauth_destination", True),
    ("reject_rbl_client zen.example, check_client_access static:OK, reject_unauth_destination", True),
])
def test_pf301_json_witness_says_what_the_text_assumes(tmp_path: Path, restrictions: str, replayable: bool) -> None:
    from pfcheck.cli import main as pfcheck_main
    from tests.support.relay_cases import needs_more_than_xclient

    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "main.cf").write_text(f"compatibility_level = 3.6\nsmtpd_relay_restrictions = {restrictions}\n")
    output = tmp_path / "out.json"
    assert pfcheck_main(["--policy", "builtin", "--format", "json", "--output-file", str(output), str(repo)]) == 1
    [finding] = [finding for finding in json.loads(output.read_text())["findings"] if finding["code"] == "PF301"]
    witness = finding["witness"]
    assert witness["replayable"] is replayable
    assert witness["replayable"] is not needs_more_than_xclient(witness["assumptions"])
    if witness["assumptions"]:
        assert "; assuming " + "; ".join(witness["assumptions"]) in finding["message"]
    else:
        assert "assuming" not in finding["message"]
