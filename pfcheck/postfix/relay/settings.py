"""Parameter values as the relay evaluator reads them.

Every value comes from the listener's `EffectiveParams` (a `config.Scope` in pfcheck), which
already fills in Postfix's built-in defaults: the evaluator never types a default itself.
Booleans, versions, compatibility levels, inet_protocols and parent_domain_matches_subdomains
are read by the shared modules (`defaults`, `numbers`, `addresses`, `networks`); what is left
here is how a value reads when it is empty or refused, which those cannot say.

A value Postfix refuses (a boolean other than yes/no, a malformed compatibility_level, an
unknown inet_protocols word) makes smtpd exit at start-up: PF000 reports it and the relay rules
skip such listeners (rules/relay_common.dies_at_startup()). The evaluator still judges the rest
of the configuration, but never as safe: `Readings.refused` names what it read that Postfix
refuses, and evaluate_relay() tries both readings of them and answers at worst UNPROVEN.
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

from pfcheck.postfix.relay.model import EffectiveParams


def builtin_default(name: str, version: Optional[str] = None) -> str:
    """The built-in default of `name` as `postconf -d` of that version prints it (raw), "" when
    there is none. A version pfcheck has no tables for reads the default version's."""
    from pfcheck.postfix import defaults  # only for empty values: the tables are large to import

    try:
        return defaults.default_value(name, version or defaults.DEFAULT_VERSION) or ""
    except defaults.UnsupportedVersion:
        return defaults.default_value(name) or ""


def parse_version(version: str) -> Tuple[int, int]:
    """(major, minor) of a Postfix version (numbers.parse_version()); ValueError when it is not
    `major.minor[.patch]` (a caller's mistake: the target version is never configuration)."""
    from pfcheck.postfix import numbers

    key = numbers.parse_version(version)
    if key is None:
        raise ValueError(f"malformed Postfix version {version!r}: expected major.minor[.patch]")
    return key


class Readings:
    """How one evaluation reads the parameters of `params`, and what it read that Postfix
    refuses (`refused`: name -> Postfix's fatal text). `refused_reads` is what a refused value
    reads as in this evaluation (a boolean's yes or no, relay list first or not)."""

    def __init__(self, params: EffectiveParams, version: Optional[str], refused_reads: bool = False) -> None:
        self.params = params
        self.version = version
        self.refused_reads = refused_reads
        self.refused: Dict[str, str] = {}

    def refuse(self, name: str, message: str) -> None:
        self.refused.setdefault(name, message)

    def boolean(self, name: str, value: str, empty: Optional[bool] = None) -> bool:
        """`value` of boolean `name` as Postfix converts it (defaults.parse_postfix_bool()).

        An empty value that `params` does not set (a test's params may leave names out) reads
        as `empty`, else as the built-in default; anything else Postfix refuses (an empty value
        it sets included) is recorded and reads as `refused_reads`."""
        from pfcheck.postfix import defaults

        if value == "" and self.params.location(name) is None:
            if empty is not None:
                return empty
            value = builtin_default(name, self.version)
        parsed = defaults.parse_postfix_bool(value)
        if parsed is None:
            self.refuse(name, defaults.bad_boolean(name, value))
            return self.refused_reads
        return parsed

    def flag(self, name: str) -> bool:
        """A boolean parameter whose built-in default is a plain `yes` or `no`."""
        return self.boolean(name, self.params.value(name))

    def listed(self, name: str, list_parameter: str = "parent_domain_matches_subdomains") -> bool:
        """Whether `name` is one of the names `list_parameter` holds (networks.parent_style_for():
        match_parent_style(), CHARS_COMMA_SP words)."""
        from pfcheck.postfix.networks import parent_style_for

        return parent_style_for(name, self.params.value(list_parameter))
