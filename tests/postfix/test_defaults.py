"""pfcheck.postfix.defaults against the real postconf (3.7.11 here), plus the version table.

Live tests run `postconf -c <private dir>` only. Optional: PFCHECK_POSTFIX_BUILDS=DIR with
upstream builds `DIR/vX.Y.Z/postfix/bin/postconf` (scripts/gen_defaults.py --build-from-git)
also checks every other series against its own postconf.
"""
from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional

import pytest

from pfcheck.postfix import defaults
from tests.support.postfix_oracle import cool_down, need_postconf, postconf

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MASTER_CF = ROOT / "pfcheck" / "postfix" / "default_master.cf"
PACKAGE_MASTER_CF = next(
    (p for p in (Path("/usr/share/postfix/master.cf.dist"), Path("/etc/postfix/master.cf")) if p.is_file()), None)

#: Parameters whose default depends on compatibility_level (3.7), plus a few that must not.
COMPAT_PARAMETERS = (
    "mynetworks_style", "relay_domains", "smtpd_relay_restrictions", "smtputf8_enable",
    "append_dot_mydomain", "smtpd_relay_before_recipient_restrictions",
    "smtpd_tls_fingerprint_digest", "smtp_tls_fingerprint_digest", "lmtp_tls_fingerprint_digest",
    "respectful_logging", "smtpd_recipient_restrictions", "disable_vrfy_command",
    "smtpd_tls_protocols", "smtpd_forbid_unauth_pipelining", "smtpd_delay_reject",
    "allow_untrusted_routing", "resolve_dequoted_address", "postscreen_access_list",
)
#: compatibility_level values: None = no line at all.
COMPAT_LEVELS = (None, "0", "1", "2", "3.5", "3.6", "3.10", "9999", "-0", "+2", "3. 6", "03.06",
                 "3.6.0", "3.1023", "1.5")
MALFORMED_LEVELS = ("foo", "3.6.", "3.1024", "0x2", "9999999999999", "3.6.1.1", "-1")


def write_config(directory: Path, main_cf: str = "", master_cf: str = "") -> Path:
    (directory / "main.cf").write_text(main_cf)
    (directory / "master.cf").write_text(master_cf)
    return directory


def postconf_values(directory: Path, *args: str) -> Dict[str, str]:
    """Unfolded `name = value` lines of postconf output, values exactly as printed."""
    result = postconf(directory, *args)
    assert result.returncode == 0, result.stderr
    values: Dict[str, str] = {}
    for line in result.stdout.splitlines():
        name, separator, value = line.partition(" =")
        if separator:
            values[name] = value[1:] if value.startswith(" ") else value
    return values


# ------------------------------------------------------------------------------------------
# Versions


def test_supported_versions_and_default() -> None:
    assert defaults.SUPPORTED_VERSIONS[0] == "2.10" and defaults.SUPPORTED_VERSIONS[-1] == "3.10"
    assert defaults.DEFAULT_VERSION == "3.7" in defaults.SUPPORTED_VERSIONS
    assert len(defaults.SUPPORTED_VERSIONS) == 13
    assert set(defaults.SERIES_RELEASES) == set(defaults.SUPPORTED_VERSIONS)
    assert defaults.SERIES_RELEASES["3.7"] == "3.7.11"


@pytest.mark.parametrize("text, expected", [
    ("3.7", (3, 7)), ("3.7.11", (3, 7)), (" 3.10 ", (3, 10)), ("2.10.0", (2, 10)), ("3.0", (3, 0)),
])
def test_parse_version(text: str, expected: tuple) -> None:
    assert defaults.parse_version(text) == expected


@pytest.mark.parametrize("text", ["3.11", "2.9", "4.0", "3.7.11.1", "3", "v3.7", "3.x", "", "3.7-rc1", "3,7"])
def test_parse_version_rejects_with_the_supported_list(text: str) -> None:
    with pytest.raises(defaults.UnsupportedVersion) as error:
        defaults.parse_version(text)
    assert isinstance(error.value, ValueError)
    assert "2.10, 2.11, 3.0" in str(error.value) and "3.10" in str(error.value)


def test_every_function_validates_the_version() -> None:
    for call in (lambda: defaults.default_value("myorigin", "3.11"),
                 lambda: defaults.is_known_parameter("myorigin", "2.9"),
                 lambda: defaults.relay_before_recipient("4.0", "2", False),
                 lambda: defaults.builtin_defaults("1.0")):
        with pytest.raises(defaults.UnsupportedVersion):
            call()


# ------------------------------------------------------------------------------------------
# The version table (pure data checks)


def history_rows(parameter: str) -> list:
    return [row for row in defaults.HISTORY if row[0] == parameter]


def test_history_covers_every_series_once_and_matches_the_tables() -> None:
    versions = defaults.SUPPORTED_VERSIONS
    parameters = dict.fromkeys(row[0] for row in defaults.HISTORY)
    for parameter in parameters:
        covered: List[str] = []
        for _, first, last, value, source, _note in history_rows(parameter):
            assert source and ("mail_params.h" in source or "sys_defs.h" in source), (parameter, source)
            span = versions[versions.index(first): versions.index(last) + 1]
            covered += span
            for version in span:
                # the hand table and the build-derived per-series tables agree
                assert defaults.default_value(parameter, version) == value, (parameter, version)
                assert defaults.is_known_parameter(parameter, version) is (value is not None)
        assert covered == list(versions), parameter


def test_docs_show_every_history_row() -> None:
    text = (ROOT / "docs" / "defaults.md").read_text()
    for parameter, first, last, value, _source, _note in defaults.HISTORY:
        span = first if first == last else f"{first} – {last}"
        assert f"| `{parameter}` | {span} |" in text, (parameter, span)
        if value:
            assert value.replace("|", "\\|") in text, (parameter, value)


def test_history_names_the_parameters_the_rules_use() -> None:
    required = {
        "smtpd_relay_restrictions", "smtpd_recipient_restrictions", "smtpd_relay_before_recipient_restrictions",
        "mynetworks_style", "relay_domains", "compatibility_level", "disable_vrfy_command", "smtputf8_enable",
        "append_dot_mydomain", "smtpd_tls_fingerprint_digest", "smtpd_forbid_unauth_pipelining",
        "smtpd_forbid_bare_newline", "smtpd_tls_protocols", "smtpd_tls_mandatory_protocols",
        "smtp_tls_security_level", "smtpd_banner", "inet_interfaces", "inet_protocols", "allow_untrusted_routing",
        "resolve_dequoted_address", "smtpd_delay_reject", "parent_domain_matches_subdomains",
        "permit_mx_backup_networks", "smtpd_client_restrictions", "smtpd_helo_restrictions",
        "smtpd_sender_restrictions", "postscreen_access_list", "smtpd_restriction_classes", "mydestination",
        "virtual_alias_domains", "virtual_mailbox_domains", "proxy_interfaces", "smtpd_sasl_auth_enable",
        "smtpd_authorized_xclient_hosts",
    }
    assert required <= {row[0] for row in defaults.HISTORY}


RELAY_LIST = "permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination"


@pytest.mark.parametrize("version, name, expected", [
    ("2.10", "smtpd_relay_restrictions", RELAY_LIST),
    ("3.2", "smtpd_relay_restrictions", RELAY_LIST),
    ("3.3", "smtpd_relay_restrictions", "${{$compatibility_level} < {1} ? {} : {%s}}" % RELAY_LIST),
    ("3.7", "smtpd_relay_restrictions", "${{$compatibility_level} <level {1} ? {} : {%s}}" % RELAY_LIST),
    ("2.11", "mynetworks_style", "subnet"),
    ("3.0", "mynetworks_style", "${{$compatibility_level} < {2} ? {subnet} : {host}}"),
    ("3.10", "mynetworks_style", "${{$compatibility_level} <level {2} ? {subnet} : {host}}"),
    ("2.10", "relay_domains", "$mydestination"),
    ("3.5", "smtpd_tls_protocols", "!SSLv2, !SSLv3"),
    ("3.6", "smtpd_tls_protocols", ">=TLSv1"),
    ("3.8", "smtpd_forbid_unauth_pipelining", "no"),
    ("3.9", "smtpd_forbid_unauth_pipelining", "yes"),
    ("3.9", "smtpd_forbid_bare_newline", "normalize"),
    ("3.7", "smtpd_forbid_bare_newline", "no"),
    ("3.4", "smtpd_forbid_bare_newline", None),
    ("3.5", "smtpd_relay_before_recipient_restrictions", None),
    ("3.6", "smtpd_relay_before_recipient_restrictions", "${{$compatibility_level} <level {3.6} ? {no} : {yes}}"),
    ("2.11", "compatibility_level", None),
    ("2.11", "smtputf8_enable", None),
    ("3.0", "compatibility_level", "0"),
    ("3.10", "smtp_tls_security_level", ""),
    ("2.10", "meta_directory", None),           # introduced in 3.0, host-dependent where it exists
    ("3.8", "use_srv_lookup", ""),              # introduced in 3.8
    ("3.7", "use_srv_lookup", None),
    ("3.5", "postscreen_whitelist_interfaces", "static:all"),  # renamed in 3.6
    ("3.6", "postscreen_whitelist_interfaces", None),
    ("3.6", "postscreen_allowlist_interfaces",
     "${postscreen_whitelist_interfaces?{$postscreen_whitelist_interfaces}:{static:all}}"),
    ("3.7", "no_such_parameter", None),
])
def test_version_specific_defaults(version: str, name: str, expected: Optional[str]) -> None:
    assert defaults.default_value(name, version) == expected
    assert defaults.default_value(name, version + ".99") == expected  # patch level is ignored


def test_parameter_sets_grow_and_shrink_per_series() -> None:
    sizes = {v: len(defaults.builtin_defaults(v)) for v in defaults.SUPPORTED_VERSIONS}
    assert sizes["3.7"] == 831  # postconf -d of 3.7.11 prints 831 parameters
    assert sizes["2.10"] < sizes["3.0"] < sizes["3.7"] < sizes["3.10"]
    assert "smtp_connection_cache_reuse_limit" not in defaults.builtin_defaults("3.7")


# ------------------------------------------------------------------------------------------
# Host-dependent values


def test_host_dependent_values_are_symbolic() -> None:
    for name in ("myhostname", "mydomain", "mynetworks", "process_id", "daemon_directory", "mail_version"):
        assert name in defaults.HOST_DEPENDENT
        assert defaults.default_value(name) == f"<{name}>"
        assert defaults.is_host_placeholder(defaults.default_value(name) or "")
    assert defaults.default_value("myhostname", host={"myhostname": "mx.example.com"}) == "mx.example.com"
    assert defaults.default_value("mydomain", host={"myhostname": "mx.example.com"}) == "<mydomain>"
    # values that merely refer to host-dependent parameters stay as they are
    assert defaults.default_value("mydestination") == "$myhostname, localhost.$mydomain, localhost"
    assert defaults.default_value("smtpd_banner") == "$myhostname ESMTP $mail_name"
    assert not defaults.is_host_placeholder("<not a parameter>")
    assert "vm" not in {v for v in defaults.builtin_defaults("3.7").values()}


def test_builtin_defaults_is_read_only() -> None:
    table = defaults.builtin_defaults()
    with pytest.raises(TypeError):
        table["disable_vrfy_command"] = "yes"  # type: ignore[index]
    assert table["disable_vrfy_command"] == "no"


# ------------------------------------------------------------------------------------------
# Compatibility levels


@pytest.mark.parametrize("level, threshold, below", [
    ("0", "1", True), ("1", "1", False), ("2", "3.6", True), ("3.5", "3.6", True), ("3.6", "3.6", False),
    ("3.6.0", "3.6", False), ("3.9", "3.10", True), ("3.10", "3.9", False), ("3.10", "3.6", False),
    ("9999", "3.6", False), ("-0", "1", True), ("+2", "2", False), ("3. 6", "3.6", False),
    ("03.06", "3.6", False), ("3.1023", "4", True), ("1.5", "2", True), ("3.6.1", "3.6", False),
])
def test_compat_level_below(level: str, threshold: str, below: bool) -> None:
    assert defaults.compat_level_below(level, threshold) is below


@pytest.mark.parametrize("level", MALFORMED_LEVELS + ("", " ", "3..6", "3.6 ", ".6", "abc", "3.-1"))
def test_compat_level_malformed(level: str) -> None:
    with pytest.raises(ValueError, match="malformed compatibility level syntax"):
        defaults.compat_level_below(level, "3.6")


def test_compat_levels_before_3_6_are_integers() -> None:
    assert defaults.compat_level_below("1", "2", "3.5") is True
    assert defaults.compat_level_below("2", "2", "3.0") is False
    with pytest.raises(ValueError, match="bad numerical configuration"):
        defaults.compat_level_below("3.6", "2", "3.5")
    assert defaults.default_at_compat_level("mynetworks_style", "3.5", "2") == "host"
    assert defaults.default_at_compat_level("mynetworks_style", "3.5", None) == "subnet"
    assert defaults.default_at_compat_level("relay_domains", "3.0", "1") == "$mydestination"
    assert defaults.default_at_compat_level("mynetworks_style", "2.11", "9") == "subnet"  # no choice there


def test_default_at_compat_level_leaves_other_values_alone() -> None:
    assert defaults.default_at_compat_level("smtpd_banner", "3.7", "3.6") == "$myhostname ESMTP $mail_name"
    assert defaults.default_at_compat_level("no_such_parameter", "3.7", "3.6") is None
    assert defaults.default_at_compat_level("smtpd_relay_restrictions", "3.7", "0") == ""
    assert defaults.default_at_compat_level("smtpd_relay_restrictions", "3.7", "1") == RELAY_LIST


# ------------------------------------------------------------------------------------------
# Relay vs recipient list order


@pytest.mark.parametrize("version, level, relay_set, value, relay_first", [
    ("2.10", None, False, None, True),
    ("3.2", "0", False, None, True),
    ("3.3", "2", True, None, False),
    ("3.5", "2", False, None, False),
    ("3.6", None, False, None, False),      # level 0: default no, and the safety net
    ("3.7", "2", False, None, False),       # level < 3.6: default no
    ("3.7", "3.5", True, None, False),
    ("3.7", "3.6", False, None, True),      # level 3.6: default yes
    ("3.7", "3.10", False, None, True),
    ("3.7", "9999", False, None, True),
    ("3.7", "2", False, "yes", True),       # explicit yes at level >= 1
    ("3.7", "3.6", False, "no", False),     # explicit no
    ("3.7", "3.6", False, "NO", False),
    ("3.7", None, False, "yes", False),     # level 0 + relay list unset: safety net wins
    ("3.7", "0", True, "yes", True),        # ... unless smtpd_relay_restrictions is set
    ("3.7", "0", True, None, False),        # level 0 default is no anyway
    ("3.10", "0.5", False, "yes", False),   # (0, 5, 0) < (1, 0, 0): the safety net applies
])
def test_relay_before_recipient(version: str, level: Optional[str], relay_set: bool, value: Optional[str],
                                relay_first: bool) -> None:
    assert defaults.relay_before_recipient(version, level, relay_set, value) is relay_first


def test_relay_before_recipient_errors() -> None:
    with pytest.raises(ValueError, match="malformed compatibility level"):
        defaults.relay_before_recipient("3.7", "x", False)
    with pytest.raises(ValueError, match="bad boolean configuration"):
        defaults.relay_before_recipient("3.7", "3.6", False, "yes # comment")
    assert defaults.relay_before_recipient("3.5", "x", False) is False  # order is fixed in 3.3 - 3.5


# ------------------------------------------------------------------------------------------
# Known parameters


def test_service_and_legacy_parameters() -> None:
    services = [("relay", "smtp"), ("maildrop", "pipe"), ("smtp", "smtpd"), ("spawner", "spawn")]
    assert defaults.default_value("relay_destination_concurrency_limit", services=services) == \
        "$default_destination_concurrency_limit"
    assert defaults.default_value("maildrop_time_limit", services=services) == "$command_time_limit"
    assert defaults.default_value("spawner_time_limit", services=services) == "$command_time_limit"
    assert defaults.default_value("relay_time_limit", services=services) is None  # only pipe/spawn
    assert defaults.default_value("local_destination_concurrency_limit") == "2"   # built-in wins
    assert not defaults.is_known_parameter("relay_destination_concurrency_limit")  # no master.cf
    assert defaults.is_known_parameter("relay_destination_concurrency_limit", services=services)
    assert not defaults.is_known_parameter("foo_destination_concurrency_limit", services=services)
    assert defaults.is_known_parameter("virtual_maps")
    assert defaults.default_value("virtual_maps") is None
    assert defaults.legacy_names("3.7")["virtual_maps"] == ("virtual_alias_maps",)
    assert defaults.is_known_parameter("postscreen_whitelist_interfaces", "3.7")
    assert not defaults.is_known_parameter("tls_high_cipher_list")  # real name: tls_high_cipherlist
    assert defaults.is_known_parameter("tls_high_cipherlist")


def _generator():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("gen_defaults", ROOT / "scripts" / "gen_defaults.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["gen_defaults"] = module  # dataclasses need the module registered
    spec.loader.exec_module(module)
    return module


def test_generated_history_is_the_scripts_table() -> None:
    generator = _generator()
    rows = tuple((c.parameter, c.first, c.last, c.value, c.source, c.note) for c in generator.HISTORY)
    assert rows == defaults.HISTORY
    assert generator.check_history_complete() == []
    assert tuple(generator.SERIES) == defaults.SUPPORTED_VERSIONS
    assert set(generator.HOST_DEPENDENT_CURATED) <= defaults.HOST_DEPENDENT


@pytest.mark.live
def test_generator_reproduces_the_base_table(tmp_path: Path) -> None:
    need_postconf()
    output = tmp_path / "data.py"
    assert _generator().main(["--output", str(output)]) == 0
    namespace: dict = {}
    exec(compile(output.read_text(), str(output), "exec"), namespace)  # noqa: S102 - our own generated file
    from pfcheck.postfix import _defaults_data as committed
    assert namespace["BASE_DEFAULTS"] == committed.BASE_DEFAULTS
    assert namespace["HOST_DEPENDENT_REASONS"] == committed.HOST_DEPENDENT_REASONS
    assert namespace["BASE_RELEASE"] == committed.BASE_RELEASE
    for table in ("RAW_PARAMETERS", "READ_ONLY_PARAMETERS", "LEGACY_NAMES", "SERVICE_SUFFIXES"):
        (fresh,) = namespace[table].values()  # without builds: the installed 3.7 only
        assert fresh == defaults._grouped(getattr(committed, table), "3.7"), table


def test_raw_and_read_only_parameters() -> None:
    assert {"smtpd_reject_footer", "forward_path", "mailbox_command", "smtpd_expansion_filter"} <= \
        defaults.raw_parameters("3.7")
    assert "smtpd_banner" not in defaults.raw_parameters("3.7")
    assert "postscreen_command_time_limit" in defaults.raw_parameters("3.3")
    assert "postscreen_command_time_limit" not in defaults.raw_parameters("3.4")
    assert defaults.read_only_parameters("3.7") == {"process_id", "process_name", "service_name"}
    assert "service_name" not in defaults.read_only_parameters("3.2")


def test_import_is_lean() -> None:
    code = ("import sys; before = set(sys.modules); import pfcheck.postfix.defaults; "
            "print(sorted(m for m in set(sys.modules) - before if not m.startswith('pfcheck')))")
    output = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    extra = eval(output.stdout)  # noqa: S307 - our own print of a list of module names
    assert not [m for m in extra if m.split(".")[0] in {"subprocess", "json", "ruamel", "ipaddress", "pathlib"}], extra


# ------------------------------------------------------------------------------------------
# Live: the 3.7 table is postconf -d


@pytest.mark.live
def test_base_table_equals_postconf_d(tmp_path: Path) -> None:
    need_postconf()
    real = postconf_values(write_config(tmp_path), "-d")
    assert real["mail_version"].startswith("3.7.")
    table = defaults.builtin_defaults("3.7")
    assert set(table) == set(real)
    mismatches = {name: (table[name], value) for name, value in real.items()
                  if name not in defaults.HOST_DEPENDENT and table[name] != value}
    assert mismatches == {}
    assert defaults.HOST_DEPENDENT <= set(real)
    # the symbolic ones really are about this machine/build, not Postfix behaviour
    assert real["myhostname"] != defaults.default_value("myhostname")


@pytest.mark.live
@pytest.mark.parametrize("level", COMPAT_LEVELS)
def test_compat_level_behaviour_matches_postconf_x(tmp_path: Path, level: Optional[str]) -> None:
    need_postconf()
    main_cf = "" if level is None else f"compatibility_level = {level}\n"
    expanded = postconf_values(write_config(tmp_path, main_cf), "-x", *COMPAT_PARAMETERS, "mydestination")
    for name in COMPAT_PARAMETERS:
        ours = defaults.default_at_compat_level(name, "3.7", level)
        assert ours is not None
        # one level of $name is left in our raw branch ($mydestination): postconf shows it expanded
        ours = re.sub(r"\$(\w+)", lambda m: expanded[m.group(1)], ours)
        assert ours == expanded[name], (name, level)
    relay_set = False
    assert defaults.relay_before_recipient("3.7", level, relay_set) is (
        expanded["smtpd_relay_before_recipient_restrictions"] == "yes"
        and expanded["smtpd_relay_restrictions"] != "")  # at level < 1 the relay list is empty too


@pytest.mark.live
@pytest.mark.parametrize("level", MALFORMED_LEVELS)
def test_malformed_compat_levels_fail_like_postconf(tmp_path: Path, level: str) -> None:
    need_postconf()
    result = postconf(write_config(tmp_path, f"compatibility_level = {level}\n"), "-x", "mynetworks_style")
    assert result.returncode != 0 and "malformed compatibility level syntax" in result.stderr
    with pytest.raises(ValueError, match="malformed compatibility level syntax"):
        defaults.default_at_compat_level("mynetworks_style", "3.7", level)


@pytest.mark.live
def test_service_parameters_match_postconf(tmp_path: Path) -> None:
    need_postconf()
    assert PACKAGE_MASTER_CF is not None, "the Debian package master.cf is missing"
    master_cf = PACKAGE_MASTER_CF.read_text()
    master_cf += "spawner unix - n n - - spawn\nmyfilter unix - n n - - smtpd\n"
    real = postconf_values(write_config(tmp_path, "", master_cf), "-d")
    services = [(fields[0], fields[7]) for fields in (line.split() for line in master_cf.splitlines()
                                                      if line[:1] not in ("", "#", " ", "\t")) if len(fields) >= 8]
    builtin = defaults.builtin_defaults("3.7")
    derived = {name: value for name, value in real.items() if name not in builtin}
    assert len(derived) > 100 and "maildrop_time_limit" in derived and "spawner_time_limit" in derived
    for name, value in derived.items():
        assert defaults.default_value(name, services=services) == value, name
        assert defaults.is_known_parameter(name, services=services)


@pytest.mark.live
def test_known_parameters_match_postconf_unused_warnings(tmp_path: Path) -> None:
    need_postconf()
    candidates = ["virtual_maps", "postscreen_whitelist_interfaces", "tlsproxy_client_level", "fallback_relay",
                  "home", "rbl_code", "tls_high_cipher_list", "smtpd_relay_restrictions",
                  "relay_destination_concurrency_limit", "smtp_destination_concurrency_limit", "pfcheck_nonsense",
                  "local_destination_recipient_limit", "smtpd_per_record_deadline", "use_srv_lookup"]
    master_cf = "smtp unix - - n - - smtp\n"
    main_cf = "".join(f"{name} = x\n" for name in candidates)
    result = postconf(write_config(tmp_path, main_cf, master_cf), "-n")
    unused = set(re.findall(r"unused parameter: (\w+)=", result.stderr))
    for name in candidates:
        assert defaults.is_known_parameter(name, services=[("smtp", "smtp")]) is (name not in unused), name


# ------------------------------------------------------------------------------------------
# Live: default_master.cf


@pytest.mark.live
def test_default_master_cf_is_the_package_one(tmp_path: Path) -> None:
    need_postconf()
    assert PACKAGE_MASTER_CF is not None, "the Debian package master.cf is missing"
    (tmp_path / "ours").mkdir()
    (tmp_path / "package").mkdir()
    ours = write_config(tmp_path / "ours", "", DEFAULT_MASTER_CF.read_text())
    package = write_config(tmp_path / "package", "", PACKAGE_MASTER_CF.read_text())
    for option in ("-M", "-P", "-F"):
        mine, theirs = postconf(ours, option), postconf(package, option)
        assert mine.returncode == theirs.returncode == 0
        assert mine.stdout == theirs.stdout, option
        assert mine.stdout.strip()
    services = postconf(ours, "-M").stdout
    assert re.search(r"^smtp\s+inet\s+n\s+-\s+y\s+-\s+-\s+smtpd$", services, re.M)
    assert len(services.splitlines()) >= 20


# ------------------------------------------------------------------------------------------
# Optional live: other series against upstream builds


def _builds() -> Dict[str, Path]:
    directory = os.environ.get("PFCHECK_POSTFIX_BUILDS")
    if not directory:
        return {}
    found = {}
    for series, release in defaults.SERIES_RELEASES.items():
        binary = Path(directory) / f"v{release}" / "postfix" / "bin" / "postconf"
        if binary.exists():
            found[series] = binary
    return found


def _build_postconf(binary: Path, directory: Path, *args: str) -> Dict[str, str]:
    cool_down(directory)
    result = subprocess.run([str(binary), "-c", str(directory), *args], capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", "LANG": "C"}, check=False)
    assert result.returncode == 0, result.stderr
    values = {}
    for line in result.stdout.splitlines():
        name, _, value = line.partition(" =")
        values[name] = value[1:] if value.startswith(" ") else value
    return values


@pytest.mark.live
@pytest.mark.parametrize("series", [v for v in defaults.SUPPORTED_VERSIONS if v != "3.7"])
def test_other_series_against_their_build(tmp_path: Path, series: str) -> None:
    binary = _builds().get(series)
    if binary is None:
        pytest.skip("set PFCHECK_POSTFIX_BUILDS to a directory of upstream postconf builds")
    write_config(tmp_path)
    real = _build_postconf(binary, tmp_path, "-d")
    table = defaults.builtin_defaults(series)
    assert set(table) == set(real)
    assert {n: v for n, v in real.items() if n not in defaults.HOST_DEPENDENT and table[n] != v} == {}
    if series in ("2.10", "2.11"):
        return
    levels = ("0", "1", "2") + (("3.5", "3.6", "3.10") if defaults.parse_version(series) >= (3, 6) else ())
    for level in levels:
        write_config(tmp_path, f"compatibility_level = {level}\n")
        expanded = _build_postconf(binary, tmp_path, "-x", "mydestination", *[
            n for n in COMPAT_PARAMETERS if n in table])
        for name in COMPAT_PARAMETERS:
            if name not in table:
                continue
            ours = defaults.default_at_compat_level(name, series, level) or ""
            ours = re.sub(r"\$(\w+)", lambda m: expanded[m.group(1)], ours)
            assert ours == expanded[name], (series, level, name)
