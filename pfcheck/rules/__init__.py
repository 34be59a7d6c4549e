"""The rule registry: every rule module, imported by name, grouped by how the engine reaches its
findings. It owns each rule's identity: codes and names are a stable public interface, and
whatever reports a finding of a rule (a rule's `check()`, the suppression step, the baseline)
takes the rule's name and default severity from here.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, NamedTuple, Optional

from pfcheck.findings import Finding, Severity
from pfcheck.rules import (
    pf000_config_error,
    pf001_config_warning,
    pf002_unknown_parameter,
    pf101_vrfy_enabled,
    pf201_mynetworks_outside_policy,
    pf202_mynetworks_implicit,
    pf203_mynetworks_widened,
    pf301_open_relay,
    pf302_relay_unproven,
    pf303_relay_guard_fails,
    pf304_relay_opened,
    pf305_relay_assumed,
    pf401_send_only_listens_remotely,
    pf402_send_only_receives_mail,
    pf403_internal_listens_publicly,
    pf410_banner_discloses_software,
    pf411_banner_discloses_version,
    pf412_banner_without_hostname,
    pf501_mx_tls_not_offered,
    pf502_mx_tls_required,
    pf503_submission_tls_optional,
    pf504_submission_without_auth,
    pf505_sasl_over_plaintext,
    pf506_sasl_anonymous,
    pf507_obsolete_tls_protocols,
    pf508_weak_tls_ciphers,
    pf509_deprecated_tls_parameter,
    pf510_client_cert_relay_public_ca,
    pf511_weak_fingerprint_digest,
    pf601_warn_if_reject_relay_control,
    pf602_deprecated_relay_restriction,
    pf603_mx_backup_without_networks,
    pf604_forbidden_ok_result,
    pf605_relay_domains_too_wide,
    pf606_relay_recipients_unvalidated,
    pf607_untrusted_routing,
    pf608_dequoted_address_unresolved,
    pf609_percent_bang_hack,
    pf610_unknown_restriction,
    pf611_xclient_xforward_too_wide,
    pf612_qmqp_open,
    pf613_filter_listener_exposed,
    pf701_compatibility_level_low,
    pf702_smtp_smuggling,
    pf703_soft_bounce,
    pf704_user_unknown_table_disclosed,
    pf705_recipient_validation_off,
    pf706_helo_not_required,
    pf707_strict_envelopes_off,
    pf708_biff_enabled,
    pf709_message_size_unlimited,
    pf801_control_literal_form,
    pf900_not_checked,
    pf901_invalid_suppression,
    pf902_unused_suppression,
    pf903_stale_baseline_entry,
    pf904_expired_waiver,
    pf905_unused_assumption,
    pf906_template_placeholder,
    pf907_host_dependent,
    pf908_unused_waiver,
)
from pfcheck.rules.base import BaseComparisonRule, FixableRule, RuleModule

if TYPE_CHECKING:
    from pfcheck.policy.model import Policy

#: Run on every config directory: `check(ctx, options)` (pfcheck/engine/run.py, run_rules).
DIRECTORY_RULES: tuple[RuleModule, ...] = (
    pf000_config_error,
    pf001_config_warning,
    pf002_unknown_parameter,
    pf101_vrfy_enabled,
    pf201_mynetworks_outside_policy,
    pf202_mynetworks_implicit,
    pf301_open_relay,
    pf302_relay_unproven,
    pf303_relay_guard_fails,
    pf305_relay_assumed,
    pf401_send_only_listens_remotely,
    pf402_send_only_receives_mail,
    pf403_internal_listens_publicly,
    pf410_banner_discloses_software,
    pf411_banner_discloses_version,
    pf412_banner_without_hostname,
    pf501_mx_tls_not_offered,
    pf502_mx_tls_required,
    pf503_submission_tls_optional,
    pf504_submission_without_auth,
    pf505_sasl_over_plaintext,
    pf506_sasl_anonymous,
    pf507_obsolete_tls_protocols,
    pf508_weak_tls_ciphers,
    pf509_deprecated_tls_parameter,
    pf510_client_cert_relay_public_ca,
    pf511_weak_fingerprint_digest,
    pf601_warn_if_reject_relay_control,
    pf602_deprecated_relay_restriction,
    pf603_mx_backup_without_networks,
    pf604_forbidden_ok_result,
    pf605_relay_domains_too_wide,
    pf606_relay_recipients_unvalidated,
    pf607_untrusted_routing,
    pf608_dequoted_address_unresolved,
    pf609_percent_bang_hack,
    pf610_unknown_restriction,
    pf611_xclient_xforward_too_wide,
    pf612_qmqp_open,
    pf613_filter_listener_exposed,
    pf701_compatibility_level_low,
    pf702_smtp_smuggling,
    pf703_soft_bounce,
    pf704_user_unknown_table_disclosed,
    pf705_recipient_validation_off,
    pf706_helo_not_required,
    pf707_strict_envelopes_off,
    pf708_biff_enabled,
    pf709_message_size_unlimited,
    pf801_control_literal_form,
    pf900_not_checked,
    pf906_template_placeholder,
    pf907_host_dependent,
)

#: Run with `--base REV` only: `compare(new, old, revision)` of a directory now and at REV
#: (pfcheck/engine/run.py, compare_with_base).
BASE_COMPARISON_RULES: tuple[BaseComparisonRule, ...] = (
    pf203_mynetworks_widened,
    pf304_relay_opened,
)

#: Reported by the suppression step (pfcheck/engine/suppress.py: PF901, PF902, PF904) and the
#: baseline (pfcheck/engine/baseline.py: PF903). No directive may name them: suppressing the
#: report of a broken suppression would hide the very thing it reports.
SUPPRESSION_RULES: tuple[RuleModule, ...] = (
    pf901_invalid_suppression,
    pf902_unused_suppression,
    pf903_stale_baseline_entry,
    pf904_expired_waiver,
)

#: Reported once per run by the engine, in a policy file (pfcheck/engine/assumptions.py: PF905, PF908).
RUN_RULES: tuple[RuleModule, ...] = (
    pf905_unused_assumption,
    pf908_unused_waiver,
)

#: Every rule module, keyed by code, in code order (the order `pfcheck rules` lists them).
RULES: dict[str, RuleModule] = {
    module.ID: module
    for module in sorted((*DIRECTORY_RULES, *BASE_COMPARISON_RULES, *SUPPRESSION_RULES, *RUN_RULES),
                         key=lambda module: module.ID)
}

#: Rules with a `fix(ctx, finding)` (`pfcheck --fix`, pfcheck/engine/fixing.py). Never one of
#: client trust (PF2xx) or relaying (PF3xx): a fix must not change either on its own.
FIXABLE_RULES: dict[str, FixableRule] = {
    module.ID: module for module in (pf000_config_error, pf101_vrfy_enabled)  # type: ignore[misc]
}
assert not any(code[2] in "23" for code in FIXABLE_RULES), "no fix may change trust or relaying"

BY_NAME: dict[str, str] = {module.NAME: code for code, module in RULES.items()}


class RuleIdentity(NamedTuple):
    """A rule's name and default severity, as its module declares them."""

    name: str
    severity: Severity


#: The identity of each of SUPPRESSION_RULES, by code.
SUPPRESSION_RULE_IDENTITIES: Mapping[str, RuleIdentity] = {
    module.ID: RuleIdentity(module.NAME, module.SEVERITY) for module in SUPPRESSION_RULES
}


def resolve(code_or_name: str) -> Optional[RuleModule]:
    """A rule by code (`PF101`, case-insensitive) or name (`vrfy-enabled`)."""
    key = code_or_name.strip()
    module = RULES.get(key.upper())
    if module is None and key in BY_NAME:
        module = RULES[BY_NAME[key]]
    return module


def summary(module: RuleModule) -> str:
    """First line of the rule's docstring, without the "(CODE, name)" it repeats."""
    first = (module.__doc__ or "").strip().splitlines()[0]
    return first.replace(f" ({module.ID}, {module.NAME})", "")


def engine_finding(code: str, path: str, line: int, column: int, message: str,
                   severity: Optional[Severity] = None, **details: Any) -> Finding:
    """A finding of a rule the engine reports itself (SUPPRESSION_RULES, RUN_RULES): the
    registered name, and the registered default severity unless the policy's is given."""
    rule = RULES[code]
    return Finding(code=code, name=rule.NAME, severity=severity or rule.SEVERITY, path=path,
                   line=max(line, 1), column=max(column, 1), message=message, **details)


def policy_severity(policy: Policy, code: str) -> Optional[Severity]:
    """The policy's severity for a rule, None when the policy turns it off; the registered
    default when the policy does not know the rule (one built for other rules)."""
    try:
        return policy.severity(code)
    except KeyError:
        return RULES[code].SEVERITY
