"""Address lists (mynetworks syntax): parsing, matching, trusted sets and witnesses.

Oracles: glibc's inet_pton/inet_ntop through the socket module (Postfix uses the same C
library calls for client addresses), and real Postfix's cidr_match_parse() through
`postmap -q` on cidr tables (the same parser match lists use). Address-list semantics that only
a running smtpd can show (hostname order, `#` handling, ...) are listed in ADDRESS_LIST_CASES
for the live end-to-end matrix.
"""
from __future__ import annotations

import random
import socket
import subprocess
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pfcheck.postfix.addresses import (
    IPV4,
    IPV4_MAPPED,
    IPV6,
    ClientAddress,
    CidrPattern,
    IntervalSet,
    first_match_partition,
    format_address,
    parse_cidr_pattern,
    parse_ipv4,
    parse_ipv6,
    split_list,
)
from pfcheck.postfix.networks import parse_address_list
from pfcheck.postfix.witness import allowed_networks, witness_outside
from pfcheck.postfix.tables import TableResolver
from tests.support.live_postfix import live_postfix_factory  # noqa: F401  (pytest fixture)
from tests.support.postfix_oracle import cool_down, need_postconf


def mynetworks(value: str, resolver: TableResolver | None = None, **kwargs: object):
    return parse_address_list(value, param="mynetworks", resolver=resolver, **kwargs)


def trusted(value: str, address: str, **kwargs: object) -> bool | None:
    return mynetworks(value).match(address, **kwargs).matched


# ---------------------------------------------------------------------------------------------
# Interval sets


small_ranges = st.lists(st.tuples(st.integers(0, 60), st.integers(0, 60)), max_size=8)


def as_python_set(ranges: list[tuple[int, int]]) -> set[int]:
    return {value for start, end in ranges for value in range(start, end)}


@given(small_ranges, small_ranges)
def test_interval_set_operations_agree_with_python_sets(left: list, right: list) -> None:
    a, b = IntervalSet(left), IntervalSet(right)
    sa, sb = as_python_set(left), as_python_set(right)
    assert as_python_set(list(a.union(b).ranges)) == sa | sb
    assert as_python_set(list(a.intersection(b).ranges)) == sa & sb
    assert as_python_set(list(a.difference(b).ranges)) == sa - sb
    assert a.size() == len(sa)
    for value in range(-1, 62):
        assert (value in a) == (value in sa)
    # Canonical form: sorted, disjoint, non-adjacent.
    for (s1, e1), (s2, e2) in zip(a.ranges, a.ranges[1:]):
        assert s1 < e1 < s2 < e2


@given(small_ranges)
def test_networks_are_aligned_blocks_covering_the_set(ranges: list) -> None:
    interval_set = IntervalSet(ranges)
    covered: set[int] = set()
    for start, prefixlen in interval_set.networks(IPV4):
        size = 1 << (32 - prefixlen)
        assert start % size == 0
        covered |= set(range(start, start + size))
    assert covered == as_python_set(ranges)


@given(st.lists(st.tuples(st.integers(0, 40), st.integers(0, 40), st.integers(0, 6)), max_size=10))
def test_first_match_partition_agrees_with_brute_force(entries: list) -> None:
    segments = first_match_partition(entries, 41)
    assert segments[0][0] == 0 and segments[-1][1] == 41
    for (s1, e1, _), (s2, _, _) in zip(segments, segments[1:]):
        assert e1 == s2
    for value in range(41):
        expected = min((p for s, e, p in entries if s <= value < e), default=None)
        actual = next(w for s, e, w in segments if s <= value < e)
        assert actual == expected


def test_complement_and_network_texts() -> None:
    ten = IntervalSet.network(10 << 24, 8, IPV4)
    assert ten.network_texts(IPV4) == ["10.0.0.0/8"]
    assert ten.complement(IPV4).network_texts(IPV4)[:2] == ["0.0.0.0/5", "8.0.0.0/7"]
    assert IntervalSet.everything(IPV6).network_texts(IPV6, brackets=True) == ["[::]/0"]


# ---------------------------------------------------------------------------------------------
# Address text: glibc inet_pton / inet_ntop as oracle


def test_ipv4_parse_matches_glibc_inet_pton() -> None:
    samples = ["1.2.3.4", "0.0.0.0", "255.255.255.255", "01.2.3.4", "1.2.3", "1.2.3.4.5",
               "256.1.1.1", "1.2.3.04", "1..2.3", " 1.2.3.4", "1.2.3.4 ", "", "a.b.c.d", "1.2.3.-1"]
    for sample in samples:
        try:
            expected = int.from_bytes(socket.inet_pton(socket.AF_INET, sample), "big")
        except OSError:
            expected = None
        assert parse_ipv4(sample) == expected, sample


IPV6_SAMPLES = [
    "::", "::1", "1::", "1::2", "2001:db8::1", "2001:DB8::1", "::ffff:1.2.3.4", "::1.2.3.4",
    "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8", "1:2:3:4:5:6::8", "1::2::3", ":::",
    ":1::", "1:", ":1", "12345::", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:1.2.3.4", "::ffff:01.2.3.4",
    "fe80::1%eth0", "1.2.3.4::", "0:0:0:0:0:0:0:1", "2001:db8:0:0:1:0:0:1", "::ffff:0:1.2.3.4",
    "1:2:3:4:5:6:7::8", "g::1", "::ffff:1.2.3",
]


def test_ipv6_parse_matches_glibc_inet_pton() -> None:
    for sample in IPV6_SAMPLES:
        try:
            expected = int.from_bytes(socket.inet_pton(socket.AF_INET6, sample), "big")
        except OSError:
            expected = None
        assert parse_ipv6(sample) == expected, sample


special_ipv6 = st.sampled_from([
    0, 1, 0xFFFF_0102_0304, 0x0102_0304, 0xFFFF << 32, 1 << 112, (1 << 128) - 1,
    0x2001_0DB8_0000_0000_0001_0000_0000_0001, 0x2001_0DB8_0000_0001_0000_0000_0000_0000,
    0x0000_0000_0000_0000_0000_0001_0000_0000, 0x0001_0000_0000_0000_0000_0000_0000_0000,
])
hextet_heavy = st.lists(st.sampled_from([0, 0, 0, 1, 0xFFFF, 0xDB8, 0x2001]), min_size=8, max_size=8).map(
    lambda words: sum(word << (112 - 16 * i) for i, word in enumerate(words))
)


@given(st.one_of(special_ipv6, hextet_heavy, st.integers(0, (1 << 128) - 1)))
@settings(max_examples=400)
def test_ipv6_text_matches_glibc_inet_ntop(value: int) -> None:
    expected = socket.inet_ntop(socket.AF_INET6, value.to_bytes(16, "big"))
    assert format_address(value, IPV6) == expected
    assert parse_ipv6(expected) == value


def test_client_address_mapped_ipv4_is_converted_when_ipv4_enabled() -> None:
    assert ClientAddress.parse("::ffff:10.1.2.3") == ClientAddress(IPV4, 0x0A010203, "10.1.2.3")
    mapped = ClientAddress.parse("::ffff:10.1.2.3", ipv4_enabled=False)
    assert mapped.family == IPV6 and mapped.text == "::ffff:10.1.2.3"
    assert ClientAddress.parse("[2001:DB8::1]").text == "2001:db8::1"
    with pytest.raises(ValueError):
        ClientAddress.parse("mail.example.com")


# ---------------------------------------------------------------------------------------------
# cidr_match_parse()


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("10.0.0.0/8", (IPV4, 10 << 24, 8)),
        ("10.0.0.0/08", (IPV4, 10 << 24, 8)),
        ("[10.0.0.0]/8", (IPV4, 10 << 24, 8)),
        ("10.0.0.1", (IPV4, (10 << 24) + 1, 32)),
        ("0.0.0.0/0", (IPV4, 0, 0)),
        ("[2001:db8::]/32", (IPV6, 0x20010DB8 << 96, 32)),
        ("[2001:db8::/32]", (IPV6, 0x20010DB8 << 96, 32)),
        ("2001:db8::/32", (IPV6, 0x20010DB8 << 96, 32)),
        ("[::1]", (IPV6, 1, 128)),
        ("10.0.0.1/8", 'non-null host address bits in "10.0.0.1/8", perhaps you should use "10.0.0.0/8" instead'),
        ("1.0.0.0/0", 'non-null host address bits in "1.0.0.0/0", perhaps you should use "0.0.0.0/0" instead'),
        ("10.0.0.0/33", 'bad mask length in "10.0.0.0/33"'),
        ("10.0.0.0/", 'bad mask value in "10.0.0.0/"'),
        ("10.0.0.0/8a", 'bad mask value in "10.0.0.0/8a"'),
        ("10.0.0/8", 'bad network value in "10.0.0/8"'),
        ("[2001:db8::1]/32", 'non-null host address bits in "2001:db8::1/32", perhaps you should use "2001:db8::/32" instead'),
        ("[2001:db8::1", "missing ']' character after \"[2001:db8::1\""),
        ("[2001:db8::1]ab", 'garbage after "[2001:db8::1]"'),
        ("1.2.3", 'bad address pattern: "1.2.3"'),
    ],
)
def test_cidr_pattern_parse(pattern: str, expected: object) -> None:
    parsed = parse_cidr_pattern(pattern)
    if isinstance(expected, tuple):
        assert parsed == CidrPattern(*expected)
    else:
        assert parsed == expected


def _postmap() -> str:
    postconf = need_postconf()
    return str(Path(postconf).with_name("postmap"))


def _random_cidr_pattern(rng: random.Random) -> str:
    family = rng.choice([IPV4, IPV4, IPV6])
    bits = 32 if family == IPV4 else 128
    prefixlen = rng.choice([0, 1, 7, 8, 12, 16, 23, 24, 31, 32, 48, 64, 127, 128, 33, 129])
    value = rng.getrandbits(bits)
    if rng.random() < 0.7 and prefixlen <= bits:
        value &= ~((1 << (bits - min(prefixlen, bits))) - 1)  # usually a clean network
    text = format_address(value, family)
    form = rng.random()
    if family == IPV6 and form < 0.5:
        return f"[{text}]/{prefixlen}"
    if form < 0.1:
        return text
    if form < 0.15:
        return f"{text}/{prefixlen}x"
    return f"{text}/{prefixlen}"


@pytest.mark.live
def test_cidr_pattern_parse_agrees_with_postfix(tmp_path: Path) -> None:
    """Real Postfix's cidr_match_parse() via a cidr table: which rules it rejects (and why),
    and which rule answers for many addresses."""
    postmap = _postmap()
    rng = random.Random(20240611)
    patterns = [_random_cidr_pattern(rng) for _ in range(300)]
    (tmp_path / "main.cf").write_text("")
    table = tmp_path / "table.cidr"
    table.write_text("".join(f"{pattern} rule{i}\n" for i, pattern in enumerate(patterns)))
    probes = []
    for pattern in patterns:
        parsed = parse_cidr_pattern(pattern)
        if isinstance(parsed, CidrPattern):
            span = 1 << (32 if parsed.family == IPV4 else 128) - parsed.prefixlen
            probes.append(format_address(parsed.network + rng.randrange(span), parsed.family))
    probes += [format_address(rng.getrandbits(32), IPV4) for _ in range(200)]
    probes += [format_address(rng.getrandbits(128), IPV6) for _ in range(100)]
    cool_down(tmp_path)
    proc = subprocess.run([postmap, "-c", str(tmp_path), "-q", "-", f"cidr:{table}"],
                          input="\n".join(probes) + "\n", capture_output=True, text=True, timeout=60)
    rejected_by_postfix = {}
    for line in proc.stderr.splitlines():
        # postmap: warning: cidr map /x/table.cidr, line N: WHY: skipping this rule
        if ", line " in line and "skipping this rule" in line:
            number = int(line.split(", line ")[1].split(":")[0])
            why = line.split(f"line {number}: ", 1)[1].rsplit(": skipping this rule", 1)[0]
            rejected_by_postfix[number] = why
    ours = {i + 1: parsed for i, parsed in enumerate(map(parse_cidr_pattern, patterns)) if isinstance(parsed, str)}
    assert ours == rejected_by_postfix
    answers = dict(line.split("\t", 1) for line in proc.stdout.splitlines())
    parsed_rules = [(i, parse_cidr_pattern(p)) for i, p in enumerate(patterns)]
    for probe in probes:
        client = ClientAddress.parse(probe, ipv4_enabled=False)
        expected = next((f"rule{i}" for i, rule in parsed_rules
                         if isinstance(rule, CidrPattern) and client in rule), None)
        assert answers.get(probe) == expected, probe


# ---------------------------------------------------------------------------------------------
# Tokenizing and syntax items


def test_split_list_separators_and_braces() -> None:
    assert [t for t, _ in split_list("a,b  c,\n\td")] == ["a", "b", "c", "d"]
    assert list(split_list("x { a b } y")) == [("x", 0), ("{ a b }", 2), ("y", 10)]
    assert [t for t, _ in split_list("inline:{ a=1, b=2 }, 10.0.0.0/8")] == ["inline:{ a=1, b=2 }", "10.0.0.0/8"]


def test_item_kinds_negation_and_offsets() -> None:
    parsed = mynetworks("127.0.0.0/8, [::1]/128 !10.1.0.0/16 example.com static:x 10.0.0.0/33")
    kinds = [(item.kind, item.negated, item.text, item.offset) for item in parsed.items]
    assert kinds == [
        ("ipv4", False, "127.0.0.0/8", 0),
        ("ipv6", False, "[::1]/128", 13),
        ("ipv4", True, "!10.1.0.0/16", 23),
        ("hostname", False, "example.com", 36),
        ("table", False, "static:x", 48),
        ("bad", False, "10.0.0.0/33", 57),
    ]
    assert parsed.fatal is None


def test_comment_token_drops_the_rest_of_the_list() -> None:
    parsed = mynetworks("127.0.0.0/8 # trusted, 10.0.0.0/8")
    assert [item.text for item in parsed.items] == ["127.0.0.0/8"]
    assert parsed.warnings == [
        "mynetworks: comment at end of line is not supported: # trusted, 10.0.0.0/8 "
        "(the rest of the list is ignored)"
    ]
    assert parsed.match("10.1.1.1").matched is False
    # '!#x' is not a comment: it is a pattern that matches nothing.
    assert [item.kind for item in mynetworks("!#x 10.0.0.0/8").items] == ["bad", "ipv4"]


def test_bare_negation_is_fatal() -> None:
    parsed = mynetworks("127.0.0.0/8 ! 10.0.0.0/8")
    assert parsed.fatal == "mynetworks: no pattern after '!'"
    assert [issue.code for issue in parsed.issues if issue.fatal] == ["bare-negation"]
    assert [item.text for item in parsed.items] == ["127.0.0.0/8"]


def test_repeated_negation_toggles() -> None:
    assert trusted("!!10.0.0.0/8", "10.1.1.1") is True
    assert trusted("!!!10.0.0.0/8 0.0.0.0/0", "10.1.1.1") is False


def test_unbracketed_ipv6_is_a_failing_table() -> None:
    parsed = mynetworks("2001:db8::/32, 10.0.0.0/8")
    item = parsed.items[0]
    assert item.kind == "bad" and item.table is not None
    assert "unsupported dictionary type: 2001" in (item.ipv4_error or "")
    assert [issue.code for issue in parsed.issues] == ["unbracketed-ipv6"]
    assert "[2001:db8::]/32" in parsed.issues[0].message
    # The table is consulted first for every client, IPv4 included: temporary error.
    result = parsed.match("10.1.1.1")
    assert result.matched is False and result.error and result.item is item
    assert parsed.trusted_networks().error_ipv4 == IntervalSet.everything(IPV4)


def test_unbracketed_ipv6_with_empty_type_is_fatal() -> None:
    parsed = mynetworks("127.0.0.0/8 ::1")
    assert parsed.fatal and 'expecting "type:name" form' in parsed.fatal
    assert parsed.issues[-1].code == "unbracketed-ipv6" and parsed.issues[-1].fatal


def test_host_bits_fail_only_for_clients_of_that_family_that_reach_them() -> None:
    parsed = mynetworks("192.168.0.0/16 10.0.0.1/8 [::1]/128 [2001:db8::1]/32")
    assert [issue.code for issue in parsed.issues] == ["host-bits", "host-bits"]
    assert parsed.match("192.168.1.1").matched is True
    failed = parsed.match("10.1.1.1")
    assert failed.matched is False and failed.error and "non-null host address bits" in failed.error
    assert parsed.match("1.1.1.1").error  # every IPv4 client that gets this far
    assert parsed.match("::1").matched is True  # IPv6 skips IPv4 patterns without parsing them
    assert parsed.match("2001:db8::5").error
    networks = parsed.trusted_networks()
    assert networks.error_ipv4 == IntervalSet.network(192 << 24 | 168 << 16, 16, IPV4).complement(IPV4)
    assert networks.ipv6 == IntervalSet.single(1, 2)


@pytest.mark.parametrize(
    ("pattern", "address", "expected"),
    [
        ("10.0.0", "10.0.0.1", False),  # no mask: literal comparison only
        ("010.0.0.1", "10.0.0.1", False),
        ("10.0.0.1", "10.0.0.1", True),
        ("[10.0.0.1]", "10.0.0.1", True),
        ("[10.0.0.0]/8", "10.200.0.1", True),
        ("[2001:DB8::]/32", "2001:db8:ffff::1", True),
        ("[2001:db8::/32]", "2001:db8:1::1", True),
        ("[2001:db8:0:0::1]", "2001:db8::1", True),  # binary comparison after parsing
        ("[::ffff:10.0.0.0]/104", "::ffff:10.1.1.1", False),  # converted to IPv4 first
        ("0.0.0.0/0", "2001:db8::1", False),
        ("[::]/0", "10.1.1.1", False),
        ("{ 10.0.0.0/8 }", "10.1.1.1", False),
        ("10.0.0.0/8x", "10.1.1.1", False),  # junk characters: silently no match
    ],
)
def test_single_pattern_matching(pattern: str, address: str, expected: bool) -> None:
    assert trusted(pattern, address) is expected


def test_mapped_ipv6_patterns_apply_only_without_ipv4() -> None:
    parsed = mynetworks("[::ffff:10.0.0.0]/104")
    assert parsed.match("::ffff:10.1.1.1", ipv4_enabled=False).matched is True
    assert parsed.trusted_networks().ipv6 == IntervalSet()
    assert parsed.trusted_networks(ipv4_enabled=False).ipv6.network_texts(IPV6) == ["::ffff:10.0.0.0/104"]


def test_never_matching_items_are_reported() -> None:
    parsed = mynetworks("10.0.0 .example.com { 10.0.0.0/8 }")
    assert [item.kind for item in parsed.items] == ["bad", "bad", "bad"]
    assert [issue.code for issue in parsed.issues] == ["never-matches"] * 3
    assert "parent_domain_matches_subdomains" in parsed.issues[1].message
    assert "braces" in parsed.issues[2].message


def test_braced_token_with_colon_is_a_broken_table() -> None:
    parsed = mynetworks("{ [::1]/128 }")
    assert parsed.items[0].ipv6_error and "unsupported dictionary type" in parsed.items[0].ipv6_error


# ---------------------------------------------------------------------------------------------
# Order, DNS, hostnames


def test_first_match_wins_with_exclusions() -> None:
    value = "!10.1.0.0/16 10.0.0.0/8"
    assert trusted(value, "10.1.2.3") is False
    assert trusted(value, "10.2.3.4") is True
    reversed_value = "10.0.0.0/8 !10.1.0.0/16"
    assert trusted(reversed_value, "10.1.2.3") is True  # the exclusion comes too late
    result = mynetworks(value).match("10.1.2.3")
    assert result.item is not None and result.item.text == "!10.1.0.0/16"


def test_hostname_patterns_are_unknown_never_untrusted() -> None:
    parsed = mynetworks("127.0.0.0/8 example.com")
    result = parsed.match("192.0.2.1")
    assert result.matched is None and result.otherwise is False
    assert [item.text for item in result.undecided] == ["example.com"]
    assert parsed.match("192.0.2.1", client_name="mail.example.com").matched is True  # parent style
    assert parsed.match("192.0.2.1", client_name="example.com").matched is True
    assert parsed.match("192.0.2.1", client_name="badexample.com").matched is False
    assert parsed.match("127.0.0.1").matched is True  # decided before the hostname item
    networks = parsed.trusted_networks()
    assert networks.ipv4 == IntervalSet.network(127 << 24, 8, IPV4)
    assert networks.maybe_ipv4 == networks.ipv4.complement(IPV4)
    assert networks.maybe_ipv6 == IntervalSet.everything(IPV6).difference(IPV4_MAPPED)


def test_dot_domain_without_parent_style_matches_subdomains() -> None:
    parsed = parse_address_list(".example.com", param="smtpd_authorized_xclient_hosts", resolver=None)
    assert parsed.items[0].kind == "hostname"
    assert parsed.match("192.0.2.1", client_name="a.example.com").matched is True
    assert parsed.match("192.0.2.1", client_name="example.com").matched is False
    plain = parse_address_list("example.com", param="smtpd_authorized_xclient_hosts", resolver=None)
    assert plain.match("192.0.2.1", client_name="a.example.com").matched is False


def test_unknown_pattern_matches_clients_without_reverse_dns() -> None:
    parsed = mynetworks("unknown")
    assert parsed.items[0].dns == "unknown-client"
    assert parsed.issues[0].code == "unknown-client"
    assert parsed.match("203.0.113.9", client_name="unknown").matched is True
    assert parsed.match("203.0.113.9", client_name="mx.example.org").matched is False
    assert parsed.match("203.0.113.9").matched is None


def test_negated_hostname_before_a_network() -> None:
    parsed = mynetworks("!bad.example.com 10.0.0.0/8")
    assert parsed.match("10.1.1.1").matched is None
    assert parsed.match("10.1.1.1", client_name="x.bad.example.com").matched is False
    networks = parsed.trusted_networks()
    assert networks.ipv4 == IntervalSet() and networks.maybe_ipv4 == IntervalSet.network(10 << 24, 8, IPV4)


def test_address_only_lists_ignore_hostnames() -> None:
    parsed = parse_address_list("example.com 10.0.0.0/8", param="postscreen_access_list",
                                resolver=None, match_hostnames=False)
    assert parsed.items[0].kind == "bad"
    assert parsed.match("10.1.1.1").matched is True
    assert parsed.match("192.0.2.1").matched is False


# ---------------------------------------------------------------------------------------------
# Files and tables inside a temporary repository


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, TableResolver]:
    root = tmp_path / "repo"
    config = root / "postfix"
    config.mkdir(parents=True)
    return config, TableResolver(root, config)


def test_file_contents_are_inlined_with_line_origins(repo: tuple[Path, TableResolver]) -> None:
    config, resolver = repo
    (config / "trusted").write_text(
        "# office networks\n"
        "192.0.2.0/24, 198.51.100.0/24\n"
        "  # indented: a comment token, dropped with a warning\n"
        "203.0.113.0/24 # the rest of this line only\n"
        "/etc/postfix/more\n"
    )
    (config / "more").write_text("!10.9.0.0/16 10.0.0.0/8\n")
    parsed = mynetworks("127.0.0.0/8 /etc/postfix/trusted [::1]/128", resolver)
    texts = [(item.text, str(item.origin) if item.origin else None) for item in parsed.items]
    assert texts == [
        ("127.0.0.0/8", None),
        ("192.0.2.0/24", "/etc/postfix/trusted:2"),
        ("198.51.100.0/24", "/etc/postfix/trusted:2"),
        ("203.0.113.0/24", "/etc/postfix/trusted:4"),
        ("!10.9.0.0/16", "/etc/postfix/more:1"),
        ("10.0.0.0/8", "/etc/postfix/more:1"),
        ("[::1]/128", None),
    ]
    assert {item.offset for item in parsed.items[1:6]} == {12}
    assert [issue.code for issue in parsed.issues] == ["comment", "comment"]
    assert parsed.match("10.9.1.1").matched is False
    assert parsed.match("10.8.1.1").matched is True
    assert parsed.match("::1").matched is True  # a comment in a file does not end the list


def test_negated_file_negates_every_item(repo: tuple[Path, TableResolver]) -> None:
    config, resolver = repo
    (config / "blocked").write_text("!10.1.2.0/24\n10.1.0.0/16\n")
    parsed = mynetworks("!/etc/postfix/blocked 10.0.0.0/8", resolver)
    assert [(item.negated, item.pattern) for item in parsed.items] == [
        (False, "10.1.2.0/24"), (True, "10.1.0.0/16"), (False, "10.0.0.0/8")]
    assert parsed.match("10.1.9.9").matched is False
    assert parsed.match("10.1.2.9").matched is True
    assert parsed.match("10.2.0.1").matched is True


def test_missing_and_escaping_files_are_unknown(repo: tuple[Path, TableResolver], tmp_path: Path) -> None:
    config, resolver = repo
    outside = tmp_path / "outside"
    outside.write_text("0.0.0.0/0\n")
    (config / "link").symlink_to(outside)
    for name in ("/etc/postfix/absent", "/etc/postfix/link", "/etc/postfix/../../etc/passwd"):
        parsed = mynetworks(f"{name} 127.0.0.0/8", resolver)
        item = parsed.items[0]
        assert item.kind == "file" and item.unknown, name
        assert parsed.match("192.0.2.1").matched is None
        assert parsed.trusted_networks().ipv4 == IntervalSet()
    assert "outside the repository" in mynetworks("/etc/postfix/link", resolver).items[0].unknown


def test_self_including_file_fails(repo: tuple[Path, TableResolver]) -> None:
    config, resolver = repo
    (config / "loop").write_text("10.0.0.0/8\n/etc/postfix/loop\n")
    parsed = mynetworks("/etc/postfix/loop", resolver)
    assert [item.kind for item in parsed.items] == ["ipv4", "bad"]
    assert parsed.issues[0].code == "file-recursion"
    assert parsed.match("10.1.1.1").matched is True
    assert parsed.match("192.0.2.1").error


def test_tables_in_lists(repo: tuple[Path, TableResolver]) -> None:
    config, resolver = repo
    (config / "clients.cidr").write_text("10.0.0.0/8 anything\n!192.168.0.0/16 x\n[2001:db8::]/32 y\n")
    (config / "hosts").write_text("192.0.2.7 x\n2001:DB8::7 x\n10.1.2 x\nmx.example.net x\n198.51.100.0/24 x\n")
    parsed = mynetworks("cidr:/etc/postfix/clients.cidr", resolver)
    networks = parsed.trusted_networks()
    assert networks.ipv4 == IntervalSet.network(192 << 24 | 168 << 16, 16, IPV4).complement(IPV4)
    assert networks.ipv6.network_texts(IPV6) == ["2001:db8::/32"]
    hashed = mynetworks("hash:/etc/postfix/hosts", resolver)
    item = hashed.items[0]
    assert item.ipv4 == IntervalSet.single(0xC0000207, 0xC0000208)  # exact addresses only
    assert item.ipv6.network_texts(IPV6) == ["2001:db8::7/128"]  # postmap folds keys
    assert item.dns_keys == ("mx.example.net",)
    assert hashed.match("10.1.2.3").matched is None  # DNS could still match mx.example.net
    assert hashed.match("10.1.2.3", client_name="unknown").matched is False
    assert hashed.match("10.1.2.3", client_name="a.mx.example.net").matched is True
    assert any("needs a cidr: table" in warning for warning in hashed.warnings)
    assert any("'10.1.2'" in warning and "complete addresses" in warning for warning in hashed.warnings)
    everything = mynetworks("static:anything").trusted_networks()
    assert everything.ipv4 == IntervalSet.everything(IPV4)
    assert everything.ipv6 == IntervalSet.everything(IPV6).difference(IPV4_MAPPED)
    assert mynetworks("static:anything").trusted_networks(ipv4_enabled=False).ipv6 == IntervalSet.everything(IPV6)
    inline = mynetworks("inline:{ 192.0.2.1=x, {2001:db8::1 = y} }")
    assert inline.match("2001:db8::1").matched is True
    assert inline.match("192.0.2.2").matched is False


def test_unknown_and_broken_tables(repo: tuple[Path, TableResolver]) -> None:
    config, resolver = repo
    unknown = mynetworks("mysql:/etc/postfix/trusted.cf 10.0.0.0/8", resolver)
    assert unknown.items[0].unknown and unknown.issues[0].code == "unknown-table"
    result = unknown.match("10.1.1.1")
    assert result.matched is None  # the unknown table could match, not match, or fail
    missing = mynetworks("hash:/etc/postfix/nothing", resolver).items[0]
    assert missing.unknown and "not in the repository" in missing.unknown
    broken = mynetworks("bogus:/x 10.0.0.0/8")
    assert broken.match("10.1.1.1").error == "unsupported dictionary type: bogus"
    assert mynetworks("inline:{}").match("10.1.1.1").error


# ---------------------------------------------------------------------------------------------
# trusted_networks() agrees with match()


def _random_item(rng: random.Random) -> str:
    choice = rng.random()
    negation = "!" if rng.random() < 0.25 else ""
    if choice < 0.45:
        prefixlen = rng.choice([0, 4, 8, 12, 16, 24, 30, 32])
        value = rng.getrandbits(32) & ~((1 << (32 - prefixlen)) - 1)
        if rng.random() < 0.08:
            value |= 1  # host bits
        return f"{negation}{format_address(value, IPV4)}/{prefixlen}"
    if choice < 0.7:
        prefixlen = rng.choice([0, 16, 32, 64, 128])
        value = rng.getrandbits(128) & ~((1 << (128 - prefixlen)) - 1)
        return f"{negation}[{format_address(value, IPV6)}]/{prefixlen}"
    if choice < 0.8:
        return f"{negation}{format_address(rng.getrandbits(32), IPV4)}"
    if choice < 0.88:
        return f"{negation}{rng.choice(['example.com', 'unknown', '.example.org'])}"
    if choice < 0.94:
        return f"{negation}{rng.choice(['mysql:/x.cf', 'static:x', 'bogus:x', 'inline:{1.2.3.4=x}'])}"
    return f"{negation}{rng.choice(['10.0.0', '{x}', '2001:db8::/32'])}"


@given(st.integers(0, 2**32 - 1))
@settings(max_examples=150, deadline=None)
def test_trusted_networks_agree_with_match(seed: int) -> None:
    rng = random.Random(seed)
    value = " ".join(_random_item(rng) for _ in range(rng.randint(0, 7)))
    parsed = mynetworks(value)
    networks = parsed.trusted_networks()
    probes: list[ClientAddress] = []
    for segment in networks.segments:
        for address in {segment.start, segment.end - 1, (segment.start + segment.end) // 2}:
            probes.append(ClientAddress.of(address, segment.family))
    for probe in probes:
        result = parsed.match(probe.text)
        segment = next(s for s in networks.segments
                       if s.family == probe.family and s.start <= probe.value < s.end)
        expected = {"trusted": True, "untrusted": False, "error": False, "maybe": None}[segment.outcome]
        assert result.matched == expected, (value, probe.text, segment)
        assert (segment.outcome == "error") == (result.error is not None and not result.undecided), (value, probe.text)


def test_ten_thousand_networks_are_fast() -> None:
    rng = random.Random(7)
    items = []
    for _ in range(10_000):
        prefixlen = rng.choice([16, 20, 24, 28, 32])
        value = rng.getrandbits(32) & ~((1 << (32 - prefixlen)) - 1)
        items.append(("!" if rng.random() < 0.1 else "") + f"{format_address(value, IPV4)}/{prefixlen}")
        items.append(f"[{format_address(rng.getrandbits(64) << 64, IPV6)}]/64")
    started = time.perf_counter()
    parsed = mynetworks(", ".join(items))
    networks = parsed.trusted_networks()
    witness = witness_outside(parsed, ["127.0.0.0/8"])
    elapsed = time.perf_counter() - started
    assert len(parsed.items) == 20_000 and networks.ipv4 and witness is not None
    assert elapsed < 10, elapsed


# ---------------------------------------------------------------------------------------------
# Witnesses


def test_witness_prefers_globally_routable_addresses() -> None:
    witness = witness_outside(mynetworks("127.0.0.0/8 0.0.0.0/0"), ["127.0.0.0/8"])
    assert witness is not None and witness.certain
    assert witness.address == "1.0.0.1"  # 0.0.0.0/8 is not routable; skip the .0 address
    assert witness.item is not None and witness.item.text == "0.0.0.0/0"


def test_witness_first_offending_address_of_a_private_range() -> None:
    witness = witness_outside(mynetworks("10.0.0.0/8"), ["127.0.0.0/8", "10.0.0.0/16"])
    assert witness is not None and witness.address == "10.1.0.1" and witness.range_text == "10.1.0.0-10.255.255.255"
    assert witness_outside(mynetworks("10.0.0.0/8 [::1]/128"), ["10.0.0.0/8", "[::1]/128"]) is None


def test_witness_respects_exclusions_and_family() -> None:
    parsed = mynetworks("!10.0.0.0/9 10.0.0.0/8 [2001:db8::]/32")
    witness = witness_outside(parsed, ["10.0.0.0/8"])
    assert witness is not None and witness.family == IPV6 and witness.address == "2001:db8::1"
    witness = witness_outside(parsed, ["[2001:db8::]/32"])
    assert witness is not None and witness.address == "10.128.0.1"


def test_witness_prefers_the_item_exposing_routable_space() -> None:
    parsed = mynetworks("10.0.0.0/8 192.0.2.0/24 8.8.8.0/24")
    witness = witness_outside(parsed, ["127.0.0.0/8"])
    assert witness is not None and witness.address == "8.8.8.1" and witness.item.text == "8.8.8.0/24"


def test_witness_for_dns_trust_is_not_certain() -> None:
    parsed = mynetworks("127.0.0.0/8 example.com")
    witness = witness_outside(parsed, ["127.0.0.0/8", "[::1]/128"])
    assert witness is not None and not witness.certain
    assert witness.item is not None and witness.item.text == "example.com"
    assert witness.address == "1.0.0.1"
    assert witness_outside(parsed, ["127.0.0.0/8"], include_possible=False) is None


def test_witness_ipv6_everything() -> None:
    witness = witness_outside(mynetworks("[::]/0"), ["[::1]/128"])
    assert witness is not None and witness.address == "2000::1"


def test_allowed_networks_must_be_networks() -> None:
    assert allowed_networks(["127.0.0.0/8", "[::1]/128", "10.0.0.5"])[IPV4].size() == (1 << 24) + 1
    for bad in ("example.com", "10.0.0.1/8", "hash:/x", "!10.0.0.0/8"):
        with pytest.raises(ValueError):
            allowed_networks([bad])


# ---------------------------------------------------------------------------------------------
# Reference cases (mynetworks value, client address, verified client name, Match.matched,
# lookup error?) for other modules and the end-to-end matrix; the same semantics are checked
# against a running Postfix by the live tests below.

ADDRESS_LIST_CASES = [
    ("127.0.0.0/8 # trusted, 10.0.0.0/8", "10.1.1.1", "unknown", False, False),
    ("10.0.0.1/8 192.168.0.0/16", "192.168.1.1", "unknown", False, True),
    ("192.168.0.0/16 10.0.0.1/8", "192.168.1.1", "unknown", True, False),
    ("10.0.0.1/8", "2001:db8::1", "unknown", False, False),
    ("2001:db8::/32 10.0.0.0/8", "10.1.1.1", "unknown", False, True),
    ("0.0.0.0/0", "2001:db8::1", "unknown", False, False),
    ("0.0.0.0/0", "::ffff:192.0.2.1", "unknown", True, False),
    ("10.0.0", "10.0.0.1", "unknown", False, False),
    ("!10.1.0.0/16 10.0.0.0/8", "10.1.2.3", "unknown", False, False),
    ("unknown", "203.0.113.5", "unknown", True, False),
    (".example.com", "203.0.113.5", "a.example.com", False, False),
    ("example.com", "203.0.113.5", "a.example.com", True, False),
]


@pytest.mark.parametrize(("value", "address", "name", "matched", "error"), ADDRESS_LIST_CASES)
def test_address_list_cases(value: str, address: str, name: str, matched: bool, error: bool) -> None:
    result = mynetworks(value).match(address, client_name=name)
    assert result.matched is matched
    assert (result.error is not None) is error


# ---------------------------------------------------------------------------------------------
# Differential test against a running Postfix (the live harness of tests/support/live_postfix.py):
# `smtpd_relay_restrictions = permit_mynetworks, reject` turns the mynetworks verdict into the
# RCPT reply: trusted -> 250, not trusted -> 554, list lookup error -> 451 "Temporary lookup
# failure", fatal list -> smtpd refuses to start. XCLIENT sets the client address and the
# verified name (NAME=[UNAVAILABLE] gives "unknown").

LIVE_MAIN_CF = (
    "compatibility_level = 3.6\n"
    "myhostname = mx.example.com\n"
    "mydomain = example.com\n"
    "smtpd_relay_restrictions = permit_mynetworks, reject\n"
)
LIVE_NAMES = (None, "mx.example.com", "a.b.example.org")

LIVE_FILE_CASES = [
    ("127.0.0.0/8 # trusted, 10.0.0.0/8", {}),
    ("/etc/postfix/trusted [2001:db8::]/32", {
        "trusted": "# office\n192.0.2.0/24 # rest of line\n  198.51.100.0/24\n/etc/postfix/more\n",
        "more": "!10.9.0.0/16 10.0.0.0/8\n",
    }),
    ("!/etc/postfix/blocked 10.0.0.0/8", {"blocked": "!10.1.2.0/24\n10.1.0.0/16\n"}),
    ("cidr:/etc/postfix/clients.cidr", {"clients.cidr": "10.0.0.0/8 x\n!192.168.0.0/16 y\n[2001:db8::]/32 z\n10.0.0.1/8 hostbits\n"}),
    ("hash:/etc/postfix/hosts", {"hosts": "192.0.2.7 x\n2001:DB8::7 x\n10.1.2 x\nexample.com x\n198.51.100.0/24 x\n"}),
    ("texthash:/etc/postfix/dups 192.0.2.0/24", {"dups": "203.0.113.1 x\n203.0.113.1 y\n"}),
    ("texthash:/etc/postfix/th", {"th": "203.0.113.1 x\nUnknown y\n"}),
    ("inline:{ 192.0.2.1=x, {2001:db8::1 = y} } static:x", {}),
    ("2001:db8::/32 10.0.0.0/8", {}),
    ("192.0.2.0/24 ::1", {}),
    ("10.0.0.0/8 ! 192.0.2.0/24", {}),
    ("{ 10.0.0.0/8 } 10.0.0 .example.org *.example.org example.org", {}),
    ("[::ffff:10.0.0.0]/104 [2001:db8::1]/32 10.0.0.0/8", {}),
    ("0.0.0.0/0", {}),
]


def _live_expectation(parsed, address: str, name: "str | None") -> str:
    from tests.support.live_postfix import ACCEPTED, REFUSED_STARTUP, REJECTED, UNDETERMINED

    if parsed.fatal:
        return REFUSED_STARTUP
    result = parsed.match(address, client_name=name or "unknown")
    assert result.matched is not None, (parsed.value, address, name)
    if result.matched:
        return ACCEPTED
    return UNDETERMINED if result.error else REJECTED


def _live_probes(parsed, rng: random.Random) -> list[tuple[str, "str | None"]]:
    # Fixed clients with every name, then one random client per segment with a random name.
    probes = [(address, name) for address in ("192.0.2.7", "203.0.113.1", "2001:db8::7")
              for name in LIVE_NAMES]
    addresses = {"10.1.2.3", "2001:db9::1", "::1"}
    if not parsed.fatal:
        for segment in parsed.trusted_networks().segments:
            value = rng.randrange(segment.start, segment.end)
            if segment.family == IPV4 and value < 1 << 24:
                continue  # 0.0.0.0/8 is no client source; XCLIENT refuses it ("Bad ADDR syntax")
            addresses.add(format_address(value, segment.family))
    probes += [(address, rng.choice(LIVE_NAMES)) for address in sorted(addresses)][:10]
    return probes


def _check_live(factory: type, value: str, files: dict, tmp_path: Path, rng: random.Random) -> list:
    config = tmp_path / "postfix"
    config.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (config / name).write_text(text)
    parsed = mynetworks(value, TableResolver(tmp_path, config))
    probes = _live_probes(parsed, rng)
    mismatches = []
    with factory(LIVE_MAIN_CF + f"mynetworks = {value}\n",
                 files={f"/etc/postfix/{name}": text for name, text in files.items()}) as pf:
        for address, name in probes:
            reply = pf.rcpt(client=address, client_name=name)
            expected = _live_expectation(parsed, address, name)
            if reply.outcome != expected or (expected == "undetermined" and "lookup failure" not in reply.text.lower()):
                mismatches.append((value, address, name, expected, reply.outcome, reply.text))
    return mismatches


@pytest.mark.live
def test_address_lists_agree_with_running_postfix(live_postfix_factory: type, tmp_path: Path) -> None:
    rng = random.Random(4242)
    mismatches = []
    for number, (value, files) in enumerate(LIVE_FILE_CASES):
        mismatches += _check_live(live_postfix_factory, value, files, tmp_path / f"case{number}", rng)
    assert mismatches == []


@pytest.mark.live
def test_random_address_lists_agree_with_running_postfix(live_postfix_factory: type, tmp_path: Path) -> None:
    rng = random.Random(1717)
    mismatches = []
    for number in range(25):
        items = []
        for _ in range(rng.randint(1, 6)):
            item = _random_item(rng)
            items.append(item.replace("mysql:/x.cf", "inline:{192.0.2.9=x}"))
        mismatches += _check_live(live_postfix_factory, " ".join(items), {}, tmp_path / f"r{number}", rng)
    assert mismatches == []


def test_corpus_mynetworks_parse(corpus_dir: Path) -> None:
    """Literal mynetworks values of the real corpus (with their side files) parse without
    fatal errors or never-matching items, and trusted_networks() covers each listed network."""
    seen = 0
    for main_cf in sorted(corpus_dir.rglob("main.cf")):
        resolver = TableResolver(main_cf.parent, main_cf.parent)
        for line in main_cf.read_text(errors="replace").splitlines():
            name, equals, value = line.partition("=")
            if name.strip() != "mynetworks" or not equals or any(c in value for c in "{<$%"):
                continue
            parsed = mynetworks(value.strip(), resolver)
            assert parsed.fatal is None, (main_cf, value)
            bad = {issue.code for issue in parsed.issues if issue.code in ("host-bits", "bad-network", "never-matches", "unbracketed-ipv6")}
            if main_cf.parent.name.startswith("064_"):
                # Real findings in its mynetworks file: [2402:d0c0:0012:47ab::1]/64 etc. (every
                # IPv6 client that gets past the IPv4 entries gets a temporary error) and
                # `*.domain` entries that match nothing.
                assert bad == {"host-bits", "never-matches"}
                assert any("'*' is not a wildcard" in w for w in parsed.warnings)
                assert parsed.match("2001:db8::1").error is not None
                assert parsed.match("10.1.1.1").matched is True
            else:
                assert bad == set(), (main_cf, value, parsed.warnings)
            networks = parsed.trusted_networks(ipv4_enabled=False)
            for item in parsed.items:
                if item.kind in ("ipv4", "ipv6") and not item.negated:
                    family = IPV4 if item.kind == "ipv4" else IPV6
                    covered = networks.trusted(family).union(networks.maybe(family)).union(networks.errors(family))
                    assert item.addresses(family).difference(covered) == IntervalSet() or any(
                        other.negated for other in parsed.items[: item.index]), (main_cf, item)
            seen += 1
    assert seen >= 20
