"""Compliance profiles: which rules answer which control of ComplianceAsCode, Lynis, DISA STIG
and CIS, with the control ids exactly as each source spells them.

This table is the one place a control is mapped: `profiles:` in the policy and `--profile`
turn on the rules of a profile's controls (`rules_of()`), findings of those rules are tagged
with the controls (`controls_of()`), PF801 compares a control's literal form
(`Control.literal`) with what Postfix does, and `pfcheck profiles` and docs/compliance.md list
it (tests/engine/test_compliance.py keeps the document and the table in step).

A control's `rules` are the rules whose findings mean that Postfix's behaviour violates the
control: "unrestricted relaying" is what Postfix does (PF301-PF304), not whether a line reads
`permit_mynetworks, reject`. Where the control's text demands a literal form, `literal` holds
it, and PF801 (control-literal-form, info) says where the form and the behaviour differ.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional


@dataclass(frozen=True)
class Profile:
    """A source of controls (`profiles: [NAME]`)."""

    name: str
    title: str
    source: str


#: How PF801 compares a literal form with main.cf's value.
LIST = "list"  #: as smtpd reads lists: commas and white space separate, names case-insensitive
TEXT = "text"  #: the value as written (unexpanded), white space runs read as one space


@dataclass(frozen=True)
class LiteralForm:
    """What a control's text demands be written in main.cf: `parameter` = `value`."""

    parameter: str
    value: str
    compare: str = LIST

    def describe(self) -> str:
        return f"{self.parameter} = {self.value}"


#: What the behaviour behind a control is: PF801 reads it to say whether Postfix complies.
RELAY = "relay"  #: no listener relays for untrusted clients, and smtpd starts
VRFY = "vrfy"  #: no reachable listener answers VRFY
WARNINGS = "warnings"  #: postconf warns about nothing
LOCAL_ONLY = "local-only"  #: master binds every inet service to loopback only
BANNER = "banner"  #: the greeting starts with $myhostname and names no software, OS or version


@dataclass(frozen=True)
class Control:
    """One control of one profile. `ids[0]` is the id the source leads with; the rest are the
    other spellings the same source uses for it (STIG ID, vulnerability id, rule id)."""

    profile: str
    ids: tuple[str, ...]
    title: str
    source: str
    behaviour: str
    rules: tuple[str, ...]
    literal: Optional[LiteralForm] = None


PROFILES: dict[str, Profile] = {
    profile.name: profile
    for profile in (
        Profile("cac", "ComplianceAsCode", "https://github.com/ComplianceAsCode/content (linux_os/guide/services/mail)"),
        Profile("lynis", "Lynis", "https://github.com/CISOfy/lynis include/tests_mail_messaging"),
        Profile("stig", "DISA STIG", "https://public.cyber.mil/stigs/ (RHEL 6/7/8/9, TOSS 4, Ubuntu 16.04, UNIX SRG)"),
        Profile("cis", "CIS Benchmarks", "https://www.cisecurity.org/cis-benchmarks (mail transfer agent local-only mode)"),
    )
}

_RELAY_RULES = ("PF301", "PF302", "PF303", "PF304")
_STIG_CLIENT_LIST = LiteralForm("smtpd_client_restrictions", "permit_mynetworks, reject")
_WARNING_RULES = ("PF000", "PF001", "PF002")
_LOCAL_ONLY_RULES = ("PF401",)
_LOCAL_ONLY_TITLE = "Ensure mail transfer agent is configured for local-only mode"

CONTROLS: tuple[Control, ...] = (
    # ComplianceAsCode
    Control("cac", ("postfix_prevent_unrestricted_relay",),
            "Prevent Unrestricted Mail Relaying", "ComplianceAsCode rule postfix_prevent_unrestricted_relay",
            RELAY, _RELAY_RULES, _STIG_CLIENT_LIST),
    Control("cac", ("postfix_network_listening_disabled",),
            "Disable Postfix Network Listening",
            "ComplianceAsCode rule postfix_network_listening_disabled (var_postfix_inet_interfaces, CCI-000382)",
            LOCAL_ONLY, _LOCAL_ONLY_RULES, LiteralForm("inet_interfaces", "loopback-only")),
    Control("cac", ("has_nonlocal_mta",), "No mail transfer agent listens on a non-loopback address",
            "ComplianceAsCode rule has_nonlocal_mta (listening sockets)", LOCAL_ONLY, _LOCAL_ONLY_RULES),
    Control("cac", ("postfix_server_banner",), "Configure SMTP Greeting Banner",
            "ComplianceAsCode rule postfix_server_banner (NIST AC-22, AU-13)", BANNER,
            ("PF410", "PF411", "PF412"), LiteralForm("smtpd_banner", "$myhostname ESMTP", TEXT)),
    # Lynis
    Control("lynis", ("MAIL-8817",), "Check Postfix configuration errors",
            "Lynis include/tests_mail_messaging (postconf warnings)", WARNINGS, _WARNING_RULES),
    Control("lynis", ("MAIL-8818",), "Postfix configuration: banner",
            "Lynis include/tests_mail_messaging", BANNER, ("PF410",)),
    Control("lynis", ("MAIL-8820",), "Postfix configuration scan: disable the VRFY command",
            "Lynis include/tests_mail_messaging", VRFY, ("PF101",)),
    # DISA STIG
    Control("stig", ("RHEL-07-040680", "V-204619", "SV-204619", "V-72297"),
            "The Red Hat Enterprise Linux operating system must be configured to prevent unrestricted mail relaying.",
            "DISA RHEL 7 STIG", RELAY, _RELAY_RULES, _STIG_CLIENT_LIST),
    Control("stig", ("RHEL-08-040290", "V-230550", "SV-230550"),
            "RHEL 8 must be configured to prevent unrestricted mail relaying.",
            "DISA RHEL 8 STIG", RELAY, _RELAY_RULES, _STIG_CLIENT_LIST),
    Control("stig", ("OL08-00-040290",),
            "OL 8 must be configured to prevent unrestricted mail relaying.",
            "DISA Oracle Linux 8 STIG", RELAY, _RELAY_RULES, _STIG_CLIENT_LIST),
    Control("stig", ("RHEL-09-252050", "V-257951", "SV-257951"),
            "RHEL 9 must be configured to prevent unrestricted mail relaying.",
            "DISA RHEL 9 STIG", RELAY, _RELAY_RULES, _STIG_CLIENT_LIST),
    Control("stig", ("TOSS-04-040700", "V-253111"),
            "TOSS must be configured to prevent unrestricted mail relaying.",
            "DISA TOSS 4 STIG", RELAY, _RELAY_RULES, _STIG_CLIENT_LIST),
    Control("stig", ("UBTU-16-030620", "V-75891", "SV-90571"),
            "The Ubuntu operating system must be configured to prevent unrestricted mail relaying.",
            "DISA Canonical Ubuntu 16.04 STIG", RELAY, _RELAY_RULES,
            LiteralForm("smtpd_relay_restrictions", "permit_mynetworks, permit_sasl_authenticated, reject")),
    Control("stig", ("RHEL-06-000249", "V-38622"), "Mail relaying must be restricted.",
            "DISA RHEL 6 STIG", LOCAL_ONLY, _LOCAL_ONLY_RULES, LiteralForm("inet_interfaces", "localhost")),
    Control("stig", ("GEN004560", "V-4384"),
            "The SMTP service's SMTP greeting must not provide version information.",
            "DISA UNIX SRG / legacy STIG", BANNER, ("PF411",)),
    Control("stig", ("GEN004680", "V-4693"), "The SMTP service must not have the VRFY feature active.",
            "DISA UNIX SRG / legacy STIG", VRFY, ("PF101",)),
    Control("stig", ("GEN004710", "V-23952"), "Mail relaying must be restricted.",
            "DISA UNIX SRG / legacy STIG", RELAY, _RELAY_RULES, _STIG_CLIENT_LIST),
    # CIS: the recommendation's number differs between benchmarks; each number seen is an id.
    Control("cis", ("2.2.15", "2.1.15", "2.2.18", "2.1.21"), _LOCAL_ONLY_TITLE,
            "CIS Distribution Independent Linux 2.0.0 and Ubuntu 16.04 (2.2.15), Aliyun Linux 2 (2.1.15), "
            "RHEL 8 (2.2.18), SLES 15 (2.2.15), Ubuntu 22.04 (2.1.21)", LOCAL_ONLY, _LOCAL_ONLY_RULES),
)


def profile_names() -> tuple[str, ...]:
    return tuple(PROFILES)


def controls_in(profiles: Iterable[str]) -> tuple[Control, ...]:
    wanted = set(profiles)
    return tuple(control for control in CONTROLS if control.profile in wanted)


def local_only_controls(profiles: Iterable[str]) -> tuple[Control, ...]:
    """The controls of these profiles that ask a host which is not a mail server to listen on
    loopback only (PF401 applies them to every host without a receiving role)."""
    return tuple(control for control in controls_in(profiles) if control.behaviour == LOCAL_ONLY)


def describe_controls(controls: Iterable[Control]) -> str:
    """`RHEL-07-040680, RHEL-08-040290 (stig); 2.2.15 (cis)`: each control's leading id, by profile."""
    by_profile: dict[str, list[str]] = {}
    for control in controls:
        by_profile.setdefault(control.profile, []).append(control.ids[0])
    return "; ".join(f"{', '.join(ids)} ({profile})" for profile, ids in by_profile.items())


def rules_of(profiles: Iterable[str]) -> frozenset[str]:
    """Every rule a control of these profiles names (their behaviour and PF801 literal forms)."""
    codes: set[str] = set()
    for control in controls_in(profiles):
        codes.update(control.rules)
        if control.literal is not None:
            codes.add(LITERAL_RULE)
    return frozenset(codes)


def controls_of(code: str, profiles: Iterable[str]) -> tuple[str, ...]:
    """The control ids a finding of rule `code` is tagged with under these profiles: each
    control's ids, in table order, each once."""
    tags: list[str] = []
    for control in controls_in(profiles):
        if code in control.rules:
            tags.extend(tag for tag in control.ids if tag not in tags)
    return tuple(tags)


#: The rule that compares literal forms with behaviour (pfcheck/rules/pf801_control_literal_form.py).
LITERAL_RULE = "PF801"


def profile_of(control_id: str) -> str:
    """The profile a control id belongs to (ids are unique across profiles)."""
    for control in CONTROLS:
        if control_id in control.ids:
            return control.profile
    raise KeyError(control_id)


def markdown_table(profiles: Iterable[str] = ()) -> str:
    """The control-to-rule map as a Markdown table (docs/compliance.md holds this output)."""
    wanted = list(profiles) or list(PROFILES)
    rows = ["| Profile | Control ids | Control | Rules (behaviour) | Literal form (PF801) | Source |",
            "|---|---|---|---|---|---|"]
    for control in controls_in(wanted):
        literal = f"`{control.literal.describe()}`" if control.literal else "—"
        rules = ", ".join(control.rules)
        rows.append(
            f"| {control.profile} | {', '.join(f'`{tag}`' for tag in control.ids)} | {control.title} | "
            f"{rules} | {literal} | {control.source} |"
        )
    return "\n".join(rows) + "\n"
