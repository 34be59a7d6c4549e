"""Parameter values as the relay evaluator reads them.

Every value comes from the listener's `EffectiveParams` (a `config.Scope` in pfcheck), which
already fills in Postfix's built-in defaults: the evaluator never types a default itself. What
is left here is how a value reads when it is empty, which the defaults cannot say.
"""
from __future__ import annotations

import re
from typing import FrozenSet, Optional

from pfcheck.postfix.relay.model import EffectiveParams


def is_yes(value: str) -> bool:
    """A boolean value as the evaluator reads it: `yes`, `true` or `1` (any case) is on."""
    return value.strip().lower() in ("yes", "true", "1")


def builtin_default(name: str, version: Optional[str] = None) -> str:
    """The built-in default of `name` as `postconf -d` of that version prints it (raw), "" when
    there is none. A version pfcheck has no tables for reads the default version's."""
    from pfcheck.postfix import defaults  # only for empty values: the tables are large to import

    try:
        return defaults.default_value(name, version or defaults.DEFAULT_VERSION) or ""
    except defaults.UnsupportedVersion:
        return defaults.default_value(name) or ""


def flag(params: EffectiveParams, name: str, version: Optional[str] = None) -> bool:
    """A boolean parameter of `params` whose built-in default is a plain `yes` or `no`.

    An empty value reads as that default. Postfix refuses it ("bad boolean configuration": the
    program that reads it does not start, and PF000 says so), so no running Postfix has one;
    the verdict then speaks of the rest of the configuration. (A boolean whose default depends
    on compatibility_level is read with is_yes() by its caller.)
    """
    value = params.value(name)
    if value == "":
        value = builtin_default(name, version)
    return is_yes(value)


def listed_names(params: EffectiveParams, name: str) -> FrozenSet[str]:
    """The names a list parameter such as parent_domain_matches_subdomains holds."""
    return frozenset(item.strip() for item in re.split(r"[,\s]+", params.value(name)) if item)
