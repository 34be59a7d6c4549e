"""Lookup tables resolved inside the repository.

Oracle: real Postfix's `postmap -q` (same dict_* code as the daemons) on cidr, hash, texthash,
regexp, inline and static tables, with random tables and with the side files of the real
corpus. Where a daemon behaves differently from postmap (texthash duplicate keys), the test
says so.
"""
from __future__ import annotations

import random
import re
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pfcheck.postfix.addresses import IPV4, IPV6, ClientAddress, IntervalSet, format_address
from pfcheck.postfix.tables import (
    CidrTable,
    FailingTable,
    KeyedTable,
    RegexpTable,
    StaticTable,
    TableRef,
    TableResolver,
    UnknownTable,
    address_lookup_keys,
    domain_lookup_keys,
    load_table,
    logical_lines,
    parse_table_ref,
)
from tests.support.live_postfix import live_postfix_factory  # noqa: F401  (pytest fixture)
from tests.support.postfix_oracle import cool_down, need_postconf


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, TableResolver]:
    root = tmp_path / "repo"
    config = root / "postfix"
    config.mkdir(parents=True)
    return config, TableResolver(root, config)


def load(resolver: TableResolver, text: str):
    ref = parse_table_ref(text)
    assert ref is not None
    return resolver.load(ref)


# ---------------------------------------------------------------------------------------------
# References and paths


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("cidr:/etc/postfix/clients.cidr", TableRef("cidr", "/etc/postfix/clients.cidr", "cidr:/etc/postfix/clients.cidr")),
        ("inline:{ a=b, c=d }", TableRef("inline", "{ a=b, c=d }", "inline:{ a=b, c=d }")),
        ("static:{OK 1}", TableRef("static", "{OK 1}", "static:{OK 1}")),
        ("proxy:hash:/etc/postfix/x", TableRef("proxy", "hash:/etc/postfix/x", "proxy:hash:/etc/postfix/x")),
        ("2001:db8::1", TableRef("2001", "db8::1", "2001:db8::1")),
        ("::1", TableRef("", ":1", "::1")),
        ("[::1]/128", None),
        ("10.0.0.0/8", None),
        ("/etc/postfix/file", None),
    ],
)
def test_parse_table_ref(token: str, expected: TableRef | None) -> None:
    assert parse_table_ref(token) == expected


def test_resolver_maps_server_paths_into_the_repository(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    config = root / "conf"
    (config / "maps").mkdir(parents=True)
    (config / "access").write_text("x OK\n")
    (config / "maps" / "clients").write_text("x OK\n")
    (config / "elsewhere").write_text("x OK\n")
    resolver = TableResolver(root, config)
    assert resolver.source_path("/etc/postfix/access") == (config / "access").resolve()
    assert resolver.source_path("/etc/postfix//maps/./clients") == (config / "maps" / "clients").resolve()
    assert resolver.source_path("/usr/local/etc/elsewhere") == (config / "elsewhere").resolve()  # basename
    assert resolver.source_path("/etc/postfix/missing") is None
    assert resolver.source_path("/etc/postfix/maps") is None  # a directory
    assert resolver.source_path("access") is None  # relative: the queue directory
    custom = TableResolver(root, config, "/opt/pf/etc")
    assert custom.source_path("/opt/pf/etc/maps/clients") == (config / "maps" / "clients").resolve()
    assert custom.source_path("/etc/postfix/maps/clients") is None  # basename "clients" not in config


def test_resolver_refuses_escapes(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    config = root / "postfix"
    config.mkdir(parents=True)
    secret = tmp_path / "secret"
    secret.write_text("0.0.0.0/0 OK\n")
    (root / "inside").write_text("10.0.0.0/8 OK\n")
    (config / "out").symlink_to(secret)
    (config / "in").symlink_to(root / "inside")
    (config / "dirlink").symlink_to(tmp_path, target_is_directory=True)
    resolver = TableResolver(root, config)
    for name in ("/etc/postfix/../../etc/passwd", "/etc/postfix/../secret", "/etc/postfix/out",
                 "/etc/postfix/dirlink/secret", "/etc/passwd"):
        location = resolver.locate(name)
        assert location.path is None, name
    assert "refused" in resolver.locate("/etc/postfix/../../etc/passwd").reason
    assert "outside the repository" in resolver.locate("/etc/postfix/out").reason
    assert resolver.source_path("/etc/postfix/in") == (root / "inside").resolve()  # a symlink inside is fine
    table = load(resolver, "cidr:/etc/postfix/out")
    assert isinstance(table, UnknownTable) and "outside the repository" in table.reason
    # A config directory that itself points outside the repository is refused too.
    (root / "linked").symlink_to(tmp_path, target_is_directory=True)
    assert TableResolver(root, root / "linked").source_path("/etc/postfix/secret") is None


# ---------------------------------------------------------------------------------------------
# Source file format (readllines + postmap)


def test_logical_lines_like_readllines() -> None:
    text = (
        "# comment\n"
        "key1 value\n"
        "  continued\n"
        "# comment inside does not end it\n"
        "\n"
        "\tmore\n"
        "key2 v2\n"
        "  \n"
        "   # indented comment\n"
        "key3\tv3\r\n"
    )
    lines, issues = logical_lines(text)
    assert lines == [(2, "key1 value  continued\tmore"), (7, "key2 v2"), (10, "key3\tv3\r")]
    assert issues == []
    lines, issues = logical_lines("  orphan\n  still orphan\nkey v\n")
    assert lines == [(3, "key v")]
    assert issues[0].line == 1 and "must not start with whitespace" in issues[0].message


def test_postmap_source_parsing(repo: tuple[Path, TableResolver]) -> None:
    config, resolver = repo
    (config / "access").write_text(
        "Example.COM   OK  \n"
        '"quoted key" REJECT text\n'
        "back\\ slash DUNNO\n"
        "nokey\n"
        '"unbalanced x\n'
        "alias: x\n"
        "1.2.3.4 first\n"
        "1.2.3.4 second\n"
    )
    table = load(resolver, "hash:/etc/postfix/access")
    assert isinstance(table, KeyedTable) and table.kind == "hash" and table.fixed
    assert table.lookup("example.com").value == "OK"
    assert table.lookup("EXAMPLE.com").value == "OK"  # folded on both sides
    assert table.lookup('"quoted key"').value == "REJECT text"
    assert table.lookup("back\\ slash").value == "DUNNO"
    assert table.lookup("1.2.3.4") .value == "first"  # postmap: duplicate warns, first wins
    assert table.lookup("alias:").value == "x"
    messages = [issue.message for issue in table.issues]
    assert any("expected format: key whitespace value" in m for m in messages)
    assert any("unbalanced" in m for m in messages)
    assert any("is this an alias file?" in m for m in messages)
    assert any("duplicate entry" in m for m in messages)
    assert table.caveats and "postmap" in table.caveats[0]


def test_texthash_duplicates_break_the_table_in_daemons(repo: tuple[Path, TableResolver]) -> None:
    config, resolver = repo
    (config / "th").write_text("a OK\nA REJECT\n")
    table = load(resolver, "texthash:/etc/postfix/th")
    # Daemons open access maps with key folding and without duplicate handling: a and A collide
    # and dict_thash_open() returns a table whose lookups fail.
    assert table.lookup("a").error and "duplicate entry" in table.lookup("a").error
    # Address lists do not fold keys: no collision there, and A only matches "A".
    assert table.lookup("a", fold_key=False).value == "OK"
    assert table.lookup("A", fold_key=False).value == "REJECT"


# ---------------------------------------------------------------------------------------------
# Client lookup sequence (check_namadr_access)


def test_address_and_domain_lookup_keys() -> None:
    assert address_lookup_keys("1.2.3.4") == [("1.2.3.4", False), ("1.2.3", True), ("1.2", True), ("1", True)]
    assert address_lookup_keys("2001:db8::1") == [
        ("2001:db8::1", False), ("2001:db8:", True), ("2001:db8", True), ("2001", True)]
    assert address_lookup_keys("::1") == [("::1", False), (":", True)]
    assert domain_lookup_keys("a.b.example.com", parent_style=True) == [
        ("a.b.example.com", False), ("b.example.com", True), ("example.com", True), ("com", True)]
    assert domain_lookup_keys("a.example.com", parent_style=False) == [
        ("a.example.com", False), (".example.com", True), (".com", True)]
    assert domain_lookup_keys("unknown", parent_style=True) == [("unknown", False)]


def test_client_access_lookup_sequence(repo: tuple[Path, TableResolver]) -> None:
    config, resolver = repo
    (config / "access").write_text(
        "1.2.3.4 exact\n1.2.3 c\n1.2 b\n1 a\n"
        "2001:db8:1 v6net\n2001:db8::5 v6host\n"
        "example.com DOMAIN\n.sub.example.org SUBONLY\nunknown NORDNS\n"
    )
    table = load(resolver, "hash:/etc/postfix/access")
    lookup = table.client_access_lookup
    assert lookup("1.2.3.4", "unknown").value == "NORDNS"  # the hostname comes first
    assert lookup("1.2.3.4", "mx.other.net").value == "exact"
    assert lookup("1.2.3.9", "mx.other.net").value == "c"
    assert lookup("1.2.9.9", "mx.other.net").value == "b"
    assert lookup("1.9.9.9", "mx.other.net").value == "a"
    assert lookup("9.9.9.9", "mx.other.net").found is False
    assert lookup("2001:db8:1::7", "mx.other.net").value == "v6net"
    assert lookup("2001:db8::5", "mx.other.net").value == "v6host"
    assert lookup("::ffff:1.2.3.4", "mx.other.net").value == "exact"  # mapped: IPv4 lookups
    assert lookup("9.9.9.9", "a.b.example.com").value == "DOMAIN"  # parent style (default)
    assert lookup("9.9.9.9", "a.b.example.com", parent_style=False).found is False
    assert lookup("9.9.9.9", "x.sub.example.org", parent_style=False).value == "SUBONLY"
    unknown_name = lookup("1.2.3.4")
    assert unknown_name.known is False and unknown_name.value == "exact"


def test_cidr_tables_get_no_partial_lookups(repo: tuple[Path, TableResolver]) -> None:
    config, resolver = repo
    (config / "c.cidr").write_text("1.2.3.0/24 NET\n")
    table = load(resolver, "cidr:/etc/postfix/c.cidr")
    assert table.client_access_lookup("1.2.3.4", "unknown").value == "NET"
    assert table.client_access_lookup("1.2.4.4").found is False
    assert table.client_access_lookup("1.2.4.4").known is True  # a cidr table never matches names


def test_hash_client_address_results_partition(repo: tuple[Path, TableResolver]) -> None:
    config, resolver = repo
    (config / "access").write_text("1.2.3.4 exact\n1.2.3 c\n10 ten\n2001:db8::1 host\n2001:db8:0:1 approx\nexample.com OK\n")
    results = load(resolver, "hash:/etc/postfix/access").client_address_results()
    by_key = {entry.key: entry for entry in results.by_address if entry.ipv4}
    by_key6 = {entry.key: entry for entry in results.by_address if entry.ipv6}
    assert by_key["1.2.3.4"].ipv4 == IntervalSet.single(0x01020304, 0x01020305)
    assert by_key["1.2.3"].ipv4.size() == 255
    assert by_key["10"].ipv4.network_texts(IPV4) == ["10.0.0.0/8"]
    # "10" is also an IPv6 truncation key: 10::1 -> "10::1", "10:", "10".
    assert by_key6["10"].ipv6.network_texts(IPV6) == ["10::/16"]
    assert by_key6["2001:db8::1"].ipv6.size() >= 1
    assert by_key6["2001:db8:0:1"].known is False  # '0' groups: inet_ntop may compress them
    assert [entry.key for entry in results.by_hostname] == ["example.com"]
    total4 = sum(entry.ipv4.size() for entry in results.by_address)
    total6 = sum(entry.ipv6.size() for entry in results.by_address)
    assert total4 == 1 << 32 and total6 == 1 << 128


@given(st.integers(0, 2**32 - 1))
@settings(max_examples=60, deadline=None)
def test_hash_results_agree_with_lookups(seed: int) -> None:
    rng = random.Random(seed)
    keys = set()
    for _ in range(rng.randint(0, 12)):
        octets = [str(rng.choice([1, 2, 10, 192, rng.randrange(256)])) for _ in range(4)]
        keys.add(".".join(octets[: rng.randint(1, 4)]))
    lines = "".join(f"{key} r{i}\n" for i, key in enumerate(sorted(keys)))
    entries = [line.split() for line in lines.splitlines()]
    from pfcheck.postfix.tables import KeyedEntry

    table = KeyedTable(TableRef("hash", "/x", "hash:/x"),
                       [KeyedEntry(k, v, n + 1, k) for n, (k, v) in enumerate(entries)], keys_folded=True)
    results = table.client_address_results()
    for _ in range(50):
        key = rng.choice(sorted(keys)) if keys and rng.random() < 0.7 else "9"
        parts = key.split(".") + [str(rng.randrange(256)) for _ in range(4)]
        address = ".".join(parts[:4])
        expected = table.client_access_lookup(address, "unknown")
        assert results.result_for(address).result == expected.value, (address, lines)


# ---------------------------------------------------------------------------------------------
# cidr tables


def test_cidr_table_syntax_and_first_match(repo: tuple[Path, TableResolver]) -> None:
    config, resolver = repo
    (config / "c.cidr").write_text(
        "# comment\n"
        "10.0.0.0/8        OK\n"
        "!192.168.0.0/16   NOT192\n"
        "IF 172.16.0.0/12\n"
        "172.16.1.0/24   INNER\n"
        "ENDIF\n"
        "10.0.0.1/8 hostbits\n"
        "[2001:db8::]/32   V6\n"
        "1.2.3.4\n"
        "ENDIF\n"
        "endif garbage\n"
        "if 100.64.0.0/10\n"
        "100.64.1.0/24 CGN\n"
    )
    table = load(resolver, "cidr:/etc/postfix/c.cidr")
    assert isinstance(table, CidrTable)
    warnings = [issue.message for issue in table.issues]
    assert any("non-null host address bits" in w for w in warnings)
    assert any("no lookup result" in w for w in warnings)
    assert any("ENDIF without IF" in w for w in warnings)
    assert any("garbage after ENDIF" in w for w in warnings)
    assert any("IF has no matching ENDIF" in w for w in warnings)
    assert table.lookup("10.9.9.9").value == "OK"
    assert table.lookup("192.168.1.1").found is False
    assert table.lookup("8.8.8.8").value == "NOT192"  # negation: everything IPv4 outside
    assert table.lookup("2001:db8::1").value == "V6"
    assert table.lookup("2001:db9::1").found is False  # a negated IPv4 rule does not match IPv6
    assert table.lookup("mail.example.com").found is False


def test_cidr_if_blocks_and_unclosed_if(repo: tuple[Path, TableResolver]) -> None:
    config, resolver = repo
    (config / "c.cidr").write_text(
        "IF !10.0.0.0/8\n"
        "0.0.0.0/0 OUTSIDE\n"
        "ENDIF\n"
        "10.1.0.0/16 TEN-ONE\n"
        "IF 10.2.0.0/16\n"
        "0.0.0.0/0 TEN-TWO\n"
        "[::]/0 never-reached-by-v6\n"
    )
    table = load(resolver, "cidr:/etc/postfix/c.cidr")
    assert table.lookup("8.8.8.8").value == "OUTSIDE"
    assert table.lookup("10.1.5.5").value == "TEN-ONE"
    assert table.lookup("10.2.5.5").value == "TEN-TWO"
    assert table.lookup("10.3.5.5").found is False
    assert table.lookup("::1").found is False  # the unclosed IF is IPv4: IPv6 never gets past it
    results = table.client_address_results()
    assert sum(entry.ipv4.size() for entry in results.by_address) == 1 << 32
    # Indenting the block body makes it a continuation of the IF line (readllines): the IF
    # becomes a bad pattern and the ENDIF is unmatched (same warnings as postmap prints).
    (config / "indented.cidr").write_text("IF !10.0.0.0/8\n  0.0.0.0/0 OUTSIDE\nENDIF\n")
    indented = load(resolver, "cidr:/etc/postfix/indented.cidr")
    assert [issue.message.split(": ", 1)[1] for issue in indented.issues] == [
        'bad mask value in "10.0.0.0/8  0.0.0.0/0 OUTSIDE": skipping this rule',
        "ENDIF without IF: skipping this rule",
    ]
    assert indented.lookup("8.8.8.8").found is False


def random_cidr_table(rng: random.Random) -> str:
    lines = []
    depth = 0
    for number in range(rng.randint(1, 25)):
        roll = rng.random()
        family = IPV4 if rng.random() < 0.75 else IPV6
        bits = 32 if family == IPV4 else 128
        prefix = rng.choice([0, 1, 4, 8, 12, 16, 24, 28, 32] if family == IPV4 else [0, 16, 32, 48, 64, 128])
        value = rng.choice([0x0A000000, 0xC0A80000, 0xAC100000, rng.getrandbits(32)]) if family == IPV4 \
            else rng.choice([0x20010DB8 << 96, rng.getrandbits(128)])
        value &= ~((1 << (bits - prefix)) - 1)
        if rng.random() < 0.05:
            value |= 1
        text = format_address(value, family)
        pattern = f"[{text}]/{prefix}" if family == IPV6 and rng.random() < 0.5 else f"{text}/{prefix}"
        negation = "!" if rng.random() < 0.2 else ""
        if roll < 0.12:
            lines.append(f"IF {negation}{pattern}")
            depth += 1
        elif roll < 0.22 and depth:
            lines.append("ENDIF")
            depth -= 1
        else:
            lines.append(f"{negation}{pattern}\tr{number}")
    return "\n".join(lines) + "\n"


@given(st.integers(0, 2**32 - 1))
@settings(max_examples=80, deadline=None)
def test_cidr_partition_agrees_with_lookups(seed: int) -> None:
    from pfcheck.postfix.tables import load_cidr

    rng = random.Random(seed)
    text = random_cidr_table(rng)
    table = load_cidr(TableRef("cidr", "/t", "cidr:/t"), text, Path("/t"))
    results = table.client_address_results()
    probes = []
    for entry in results.by_address:
        for family in (IPV4, IPV6):
            for start, end in entry.addresses(family).ranges[:3]:
                probes += [ClientAddress.of(start, family), ClientAddress.of(end - 1, family)]
    for probe in probes:
        assert results.result_for(probe.text, ipv4_enabled=False).result == table.lookup(probe.text).value, (text, probe)
    membership = table.match_list_membership(parent_style=True, hostnames=True)
    for probe in probes:
        assert (probe.value in (membership.ipv4 if probe.family == IPV4 else membership.ipv6)) == \
            table.lookup(probe.text).found, (text, probe)


# ---------------------------------------------------------------------------------------------
# static, inline, regexp, unknown and failing tables


def test_static_and_inline() -> None:
    assert load_table(parse_table_ref("static:OK"), None).lookup("x").value == "OK"
    braced = load_table(parse_table_ref("static:{ REJECT go away }"), None)
    assert isinstance(braced, StaticTable) and braced.value == "REJECT go away"
    assert isinstance(load_table(parse_table_ref("static:{ x"), None), FailingTable)
    inline = load_table(parse_table_ref("inline:{ 1.2.3.4=OK, { 5.6.7.8 = REJECT no thanks }, 1.2.3.4=DUNNO }"), None)
    assert inline.lookup("1.2.3.4").value == "DUNNO"  # later duplicates replace earlier ones
    assert inline.lookup("5.6.7.8").value == "REJECT no thanks"
    for bad in ("inline:{}", "inline:{ }", "inline:{ a }", "inline:{ a=b } x", "inline:a=b", 'inline:{ "a=b }'):
        table = load_table(parse_table_ref(bad), None)
        assert isinstance(table, FailingTable), bad
        assert table.lookup("a").error


def test_regexp_tables(repo: tuple[Path, TableResolver]) -> None:
    config, resolver = repo
    (config / "r.regexp").write_text(
        "/^10\\.1\\./ TEN\n"
        "if /^192\\.168\\./\n"
        "!/^192\\.168\\.1\\./ OTHER192\n"
        "endif\n"
        "/^(mail|mx)[0-9]+\\.example\\.com$/ HOSTS\n"
        "/^([a-z]+)\\.test$/ PREPEND X-Name: $1\n"
        "/\\d+x/ PCRE-ONLY\n"
    )
    table = load(resolver, "regexp:/etc/postfix/r.regexp")
    assert isinstance(table, RegexpTable)
    assert table.lookup("10.1.2.3").value == "TEN"
    assert table.lookup("192.168.2.1").value == "OTHER192"
    assert table.lookup("192.168.1.1").found is False or table.lookup("192.168.1.1").known is False
    assert table.lookup("MX12.example.com").value == "HOSTS"  # case-insensitive by default
    substituted = table.lookup("abc.test")
    assert substituted.found is True and substituted.known is False
    assert table.lookup("zzz").known is False  # reaches the unsupported \d pattern
    assert table.client_address_results().known is False
    catch_all = tmp_file(config, "all.regexp", "/^/ OK\n/x/ NO\n")
    everything = load(resolver, f"regexp:/etc/postfix/{catch_all}")
    assert everything.match_list_membership(parent_style=True, hostnames=True).ipv4 == IntervalSet.everything(IPV4)
    assert everything.client_address_results().by_address[0].result == "OK"


def tmp_file(config: Path, name: str, text: str) -> str:
    (config / name).write_text(text)
    return name


def test_unknown_failing_and_proxy_tables(repo: tuple[Path, TableResolver]) -> None:
    config, resolver = repo
    (config / "access").write_text("1.2.3.4 OK\n")
    for text in ("mysql:/etc/postfix/mysql.cf", "ldap:/etc/postfix/ldap.cf", "tcp:localhost:1234",
                 "socketmap:inet:127.0.0.1:9999:x", "hash:/etc/postfix/absent", "cidr:relative.cidr"):
        table = load(resolver, text)
        assert isinstance(table, UnknownTable), text
        assert table.lookup("1.2.3.4").known is False
        assert table.match_list_membership(parent_style=True, hostnames=True).unknown
    for text in ("bogus:/x", "fail:x", "HASH:/etc/postfix/access"):
        table = load(resolver, text)
        assert isinstance(table, FailingTable), text
        assert table.client_access_lookup("1.2.3.4").error
    proxied = load(resolver, "proxy:hash:/etc/postfix/access")
    assert proxied.lookup("1.2.3.4").value == "OK"
    assert any("proxy_read_maps" in caveat for caveat in proxied.caveats)
    assert load_table(parse_table_ref("cidr:/etc/postfix/x"), None).known is False


# ---------------------------------------------------------------------------------------------
# Differential tests against real Postfix (postmap -q)


def postmap_query(directory: Path, table: str, keys: list[str], *, build: str | None = None) -> tuple[dict[str, str], str]:
    postconf = need_postconf()
    postmap = str(Path(postconf).with_name("postmap"))
    if not (directory / "main.cf").exists():
        (directory / "main.cf").write_text("")
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"}
    if build is not None:
        cool_down(directory)
        subprocess.run([postmap, "-c", str(directory), build], check=True, capture_output=True, env=env, timeout=60)
    cool_down(directory)
    proc = subprocess.run([postmap, "-c", str(directory), "-q", "-", table], input="\n".join(keys) + "\n",
                          capture_output=True, text=True, env=env, timeout=60)
    answers = {}
    for line in proc.stdout.splitlines():
        key, _, value = line.partition("\t")
        answers[key] = value
    return answers, proc.stderr


@pytest.mark.live
def test_cidr_tables_agree_with_postmap(tmp_path: Path) -> None:
    rng = random.Random(99)
    resolver = TableResolver(tmp_path, tmp_path)
    mismatches = []
    for number in range(40):
        text = random_cidr_table(rng)
        path = tmp_path / f"t{number}.cidr"
        path.write_text(text)
        table = resolver.load(parse_table_ref(f"cidr:/etc/postfix/{path.name}"))
        probes = {format_address(rng.getrandbits(32), IPV4) for _ in range(40)}
        probes |= {format_address(rng.getrandbits(128), IPV6) for _ in range(10)}
        for entry in table.client_address_results().by_address:
            for family in (IPV4, IPV6):
                for start, end in entry.addresses(family).ranges[:4]:
                    probes |= {format_address(start, family), format_address(end - 1, family)}
        answers, stderr = postmap_query(tmp_path, f"cidr:{path}", sorted(probes))
        for probe in probes:
            ours = table.lookup(probe).value
            if answers.get(probe) != ours:
                mismatches.append((path.name, probe, answers.get(probe), ours))
        skipped_postfix = sorted(set(re.findall(r"line (\d+): (?!IF has)[^\n]*skipping this rule", stderr)), key=int)
        skipped_ours = sorted({str(i.line) for i in table.issues if "skipping this rule" in i.message}, key=int)
        assert skipped_ours == skipped_postfix, (text, stderr)
    assert mismatches == []


@pytest.mark.live
def test_hash_texthash_inline_static_agree_with_postmap(tmp_path: Path) -> None:
    source = (
        "Example.COM OK\n"
        "1.2.3.4 exact\n"
        "1.2.3 net\n"
        '"quoted key" REJECT text\n'
        "back\\ slash DUNNO\n"
        "multi line\n"
        "  continued\n"
        "# comment\n"
        "2001:DB8::1 v6\n"
        "dup first\n"
        "dup second\n"
    )
    (tmp_path / "access").write_text(source)
    keys = ["example.com", "EXAMPLE.COM", "1.2.3.4", "1.2.3", "1.2.3.5", '"quoted key"', "quoted key",
            "back\\ slash", "multi", "2001:db8::1", "2001:DB8::1", "dup", "missing"]
    resolver = TableResolver(tmp_path, tmp_path)
    hashed = resolver.load(parse_table_ref("hash:/etc/postfix/access"))
    answers, _ = postmap_query(tmp_path, f"hash:{tmp_path / 'access'}", keys, build=f"hash:{tmp_path / 'access'}")
    assert {k: hashed.lookup(k).value for k in keys if hashed.lookup(k).found} == answers
    (tmp_path / "th").write_text(source.replace("dup second\n", ""))
    texthash = resolver.load(parse_table_ref("texthash:/etc/postfix/th"))
    answers, _ = postmap_query(tmp_path, f"texthash:{tmp_path / 'th'}", keys)
    assert {k: texthash.lookup(k).value for k in keys if texthash.lookup(k).found} == answers
    for text in ("inline:{ a=1, {b = two words}, A=3 }", "static:{ OK fine }", "static:REJECT"):
        table = load_table(parse_table_ref(text), None)
        answers, _ = postmap_query(tmp_path, text, ["a", "b", "A", "zz"])
        assert {k: table.lookup(k).value for k in ["a", "b", "A", "zz"] if table.lookup(k).found} == answers, text


@pytest.mark.live
def test_regexp_evaluation_agrees_with_postmap(tmp_path: Path) -> None:
    rules = [
        r"/^10\.1\./ TEN", r"/^(mail|mx)[0-9]+\.example\.com$/ HOSTS", r"/[.]test$/i CASE",
        r"!/^192\./ NOT192", r"/^a+b?c{2,3}$/ REP", r"/^[^0-9]+$/ ALPHA", r"/x\/y/ SLASH",
        r"/^$/ EMPTY", r"/^2001:db8:/ V6",
    ]
    keys = ["10.1.2.3", "10.2.0.1", "mx12.example.com", "MX12.EXAMPLE.COM", "a.test", "A.TEST", "192.0.2.1",
            "acc", "abccc", "abcccc", "hello", "x/y", "2001:db8::1", "2001:DB8::1", "1.2.3.4"]
    resolver = TableResolver(tmp_path, tmp_path)
    for index in range(len(rules)):
        ordered = rules[index:] + rules[:index]
        name = f"r{index}.regexp"
        (tmp_path / name).write_text("\n".join(ordered) + "\n")
        table = resolver.load(parse_table_ref(f"regexp:/etc/postfix/{name}"))
        answers, _ = postmap_query(tmp_path, f"regexp:{tmp_path / name}", keys)
        for key in keys:
            result = table.lookup(key)
            assert result.known, (ordered, key)
            assert answers.get(key) == result.value, (ordered, key)


def corpus_tables(corpus_dir: Path) -> list[tuple[Path, str]]:
    """(config dir, table reference) for every cidr/hash/texthash/regexp side file present."""
    found = []
    pattern = re.compile(r"\b(cidr|hash|texthash|regexp|btree|lmdb):(/[^\s,]+)")
    for main_cf in sorted(corpus_dir.rglob("main.cf")):
        texts = main_cf.read_text(errors="replace")
        master = main_cf.with_name("master.cf")
        if master.exists():
            texts += master.read_text(errors="replace")
        seen = set()
        for table_type, name in pattern.findall(texts):
            ref = f"{table_type}:{name.rstrip('}')}"
            if ref in seen or "$" in ref:
                continue
            seen.add(ref)
            if TableResolver(main_cf.parent, main_cf.parent).source_path(name.rstrip("}")) is not None:
                found.append((main_cf.parent, ref))
    return found


def test_corpus_tables_load(corpus_dir: Path) -> None:
    tables = corpus_tables(corpus_dir)
    assert len(tables) >= 5
    for directory, ref in tables:
        table = TableResolver(directory, directory).load(parse_table_ref(ref))
        assert table.known, (directory, ref)
        results = table.client_address_results()
        assert sum(entry.ipv4.size() for entry in results.by_address) == 1 << 32 or not results.known


@pytest.mark.live
def test_corpus_tables_agree_with_postmap(corpus_dir: Path, tmp_path: Path) -> None:
    rng = random.Random(5)
    compared = 0
    for directory, ref in corpus_tables(corpus_dir):
        table = TableResolver(directory, directory).load(parse_table_ref(ref))
        if table.ref.type not in ("cidr", "regexp", "texthash", "hash"):
            continue
        copy = tmp_path / f"{compared}_{Path(table.ref.name).name}"
        copy.write_bytes(table.source.read_bytes())
        keys = [format_address(rng.getrandbits(32), IPV4) for _ in range(30)]
        if isinstance(table, KeyedTable):
            keys += [entry.raw_key for entry in list(table.entries.values())[:50]]
        elif isinstance(table, CidrTable):
            for entry in table.client_address_results().by_address:
                for start, _ in entry.ipv4.ranges[:3]:
                    keys.append(format_address(start, IPV4))
        else:
            keys += ["mail.example.com", "unknown", "127.0.0.1", "user@example.com"]
        keys = [key for key in keys if "\n" not in key and key.strip() == key and key]
        build = f"{table.ref.type}:{copy}" if table.ref.type == "hash" else None
        answers, _ = postmap_query(tmp_path, f"{table.ref.type}:{copy}", keys, build=build)
        for key in keys:
            result = table.lookup(key)
            if result.known and not result.error:
                assert answers.get(key) == result.value, (directory.name, ref, key)
        compared += 1
    assert compared >= 3


# ---------------------------------------------------------------------------------------------
# check_client_access against a running Postfix (tests/support/live_postfix.py): every table
# value is a reject action with a unique text, so the reply names the entry that matched.

ACCESS_LIVE_MAIN_CF = (
    "compatibility_level = 3.6\n"
    "myhostname = mx.example.com\n"
    "mydomain = example.com\n"
    "mynetworks =\n"
    "smtpd_relay_restrictions = check_client_access {table}, reject\n"
)
ACCESS_KEYS = [
    "192.0.2.7", "192.0.2", "198.51", "203", "10.1.2", "2001:db8:1", "2001:db8::7", "2001:db8::",
    "2001:db8:", "2001:db8:0:2", "2001", "fd00::1:2", "example.com", ".example.org", "unknown",
]


@pytest.mark.live
@pytest.mark.parametrize("table_type", ["hash", "texthash", "cidr"])
def test_client_access_lookups_agree_with_running_postfix(
    table_type: str, live_postfix_factory: type, tmp_path: Path
) -> None:
    from tests.support.live_postfix import ACCEPTED

    rng = random.Random(table_type)
    config = tmp_path / "postfix"
    config.mkdir()
    if table_type == "cidr":
        source = (
            "192.0.2.7 554 5.7.1 hit-0\n"
            "!192.0.2.0/24 554 5.7.1 hit-1\n"
            "10.0.0.0/8 554 5.7.1 hit-2\n"
            "[2001:db8::]/32 554 5.7.1 hit-3\n"
            "IF 172.16.0.0/12\n"
            "172.16.5.0/24 554 5.7.1 hit-4\n"
            "ENDIF\n"
            "0.0.0.0/1 554 5.7.1 hit-5\n"
        )
    else:
        source = "".join(f"{key} 554 5.7.1 hit-{n}\n" for n, key in enumerate(ACCESS_KEYS))
    (config / "access").write_text(source)
    table = TableResolver(tmp_path, config).load(parse_table_ref(f"{table_type}:/etc/postfix/access"))
    probes = ["192.0.2.7", "192.0.2.8", "198.51.100.1", "203.0.113.1", "10.1.2.3", "10.1.3.3",
              "2001:db8:1::5", "2001:db8::7", "2001:db8::", "2001:db8::8", "2001:db8:0:2::1",
              "2001:db8:0:2:1::", "2001:dead::1", "fd00::1:2", "fd00::1:2:3", "172.16.5.1", "172.16.6.1"]
    probes += [format_address(rng.getrandbits(32), IPV4) for _ in range(6)]
    names = [None, "mx.example.com", "a.example.org", "example.org"]
    mismatches = []
    table_text = f"{table_type}:/etc/postfix/access"
    with live_postfix_factory(ACCESS_LIVE_MAIN_CF.format(table=table_text),
                              files={"/etc/postfix/access": source}) as pf:
        for address in probes:
            if address.split(".")[0] == "0":
                continue
            name = rng.choice(names)
            ours = table.client_access_lookup(address, name or "unknown")
            assert ours.known
            reply = pf.rcpt(client=address, client_name=name)
            matched = re.search(r"hit-\d+", reply.text)
            theirs = f"554 5.7.1 {matched.group(0)}" if matched else None
            if reply.outcome == ACCEPTED or theirs != ours.value:
                mismatches.append((address, name, ours.value, reply.outcome, reply.text))
            results = table.client_address_results()
            entry = results.result_for(address)
            if entry.known and not results.by_hostname and name is None:
                assert entry.result == ours.value, (address, entry)
    assert mismatches == []
