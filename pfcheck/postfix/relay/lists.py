"""smtpd's restriction lists and restriction classes, split as smtpd_check_init() splits them."""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

from pfcheck.postfix.lines import CHARS_COMMA_SP, split_braced, split_comma_space
from pfcheck.postfix.relay.model import EffectiveParams

#: The restriction lists smtpd evaluates, in the order of their stages.
RESTRICTION_LIST_PARAMETERS = (
    "smtpd_client_restrictions",
    "smtpd_helo_restrictions",
    "smtpd_sender_restrictions",
    "smtpd_relay_restrictions",
    "smtpd_recipient_restrictions",
)
RELAY_LIST = "smtpd_relay_restrictions"
RCPT_LIST = "smtpd_recipient_restrictions"

#: Restriction classes smtpd defines itself (smtpd_check_init()), unless the configuration
#: defines a class of that name.
BUILTIN_CLASSES: Dict[str, Tuple[str, ...]] = {
    "reject_sender_login_mismatch": (
        "reject_authenticated_sender_login_mismatch",
        "reject_unauthenticated_sender_login_mismatch",
    ),
}

#: Restrictions with a part in how a list runs, not only in what it decides: `permit` ends the
#: list with a grant (has_required() stops at it), `warn_if_reject` turns the next
#: restriction's reject into a warning (generic_checks() handles it before any restriction).
PERMIT = "permit"
WARN_IF_REJECT = "warn_if_reject"

def split_restrictions(value: str) -> List[str]:
    """Split a restriction list like smtpd_check_parse(): commas/whitespace, `{...}` kept whole."""
    return [token for token, _ in split_braced(value, CHARS_COMMA_SP)]


def restriction_classes(params: EffectiveParams) -> Tuple[Dict[str, List[str]], Optional[str], Optional[str]]:
    """Parse smtpd_restriction_classes like smtpd_check_init(): (classes, fatal, bad class)."""
    classes: Dict[str, List[str]] = {}
    for name in split_comma_space(params.value("smtpd_restriction_classes")):
        value = params.value(name)
        if not value.strip():
            return classes, f"restriction class `{name}' needs a definition", name
        classes[name] = split_restrictions(value)
    for name, expansion in BUILTIN_CLASSES.items():
        classes.setdefault(name, list(expansion))
    return classes, None, None
