"""The rule registry: explicit, in code order. Codes and names are a stable public interface."""
from __future__ import annotations

from importlib import import_module
from types import ModuleType
from typing import Optional

#: The rule modules in code order; each has ID, NAME, SEVERITY, OPTIONS, check() and a docstring.
RULE_MODULES: tuple[str, ...] = (
    "pf000_config_error",
    "pf001_config_warning",
    "pf002_unknown_parameter",
    "pf101_vrfy_enabled",
    "pf201_mynetworks_outside_policy",
    "pf202_mynetworks_implicit",
    "pf203_mynetworks_widened",
    "pf301_open_relay",
    "pf302_relay_unproven",
    "pf303_relay_guard_fails",
    "pf304_relay_opened",
    "pf305_relay_assumed",
    "pf900_not_checked",
    "pf901_invalid_suppression",
    "pf902_unused_suppression",
    "pf903_stale_baseline_entry",
    "pf904_expired_waiver",
    "pf905_unused_assumption",
    "pf906_template_placeholder",
    "pf907_host_dependent",
)

#: Every rule module, keyed by code.
RULES: dict[str, ModuleType] = {
    module.ID: module for module in (import_module(f"pfcheck.rules.{name}") for name in RULE_MODULES)
}

BY_NAME: dict[str, str] = {module.NAME: code for code, module in RULES.items()}


def resolve(code_or_name: str) -> Optional[ModuleType]:
    """A rule by code (`PF101`, case-insensitive) or name (`vrfy-enabled`)."""
    key = code_or_name.strip()
    module = RULES.get(key.upper())
    if module is None and key in BY_NAME:
        module = RULES[BY_NAME[key]]
    return module


def summary(module: ModuleType) -> str:
    """First line of the rule's docstring, without the "(CODE, name)" it repeats."""
    first = (module.__doc__ or "").strip().splitlines()[0]
    return first.replace(f" ({module.ID}, {module.NAME})", "")
