"""Values only postconf expands: a master.cf entry a later duplicate replaces, and an attached
`-oname=value` that postconf reads differently from the daemon. master never runs the first
and the daemon never sees the second, but `postconf -n` and `-M` expand both and die with
"macro processing error" (found by the differential fuzz run). PF000 must say so, and must
stay silent on the same values where postconf accepts them."""
from __future__ import annotations

from pathlib import Path

import pytest

from pfcheck.postfix.config import load_config_dir
from pfcheck.rules import pf000_config_error
from pfcheck.rules.base import RuleContext
from tests.support.postfix_oracle import postconf

pytestmark = pytest.mark.live

SMTP = "smtp inet n - n - - smtpd\n"
CASES = {
    "replaced entry with a self-reference": (SMTP + "  -o inet_protocols=$inet_protocols\n" + SMTP, True),
    "replaced entry without one": (SMTP + "  -o inet_protocols=ipv4\n" + SMTP, False),
    "running entry with a self-reference": (SMTP + "  -o smtpd_banner=$smtpd_banner\n", True),
    "attached -o postconf truncates": ("relay unix - - n - - smtp\n  -osmtpd_sasl_path=${myorigin:y}\n", True),
    "attached -o postconf reads whole": ("relay unix - - n - - smtp\n  -osmtpd_sasl_path=$myorigin\n", False),
}


def _pfcheck_says_postconf_fails(directory: Path) -> bool:
    config = load_config_dir(directory, version="3.7")
    findings = list(pf000_config_error.check(RuleContext(config, directory), {}))
    return any("macro processing error" in finding.message for finding in findings)


@pytest.mark.parametrize("name", sorted(CASES))
def test_postconf_only_expansion(name: str, tmp_path: Path) -> None:
    master, fails = CASES[name]
    (tmp_path / "main.cf").write_text("compatibility_level = 3.6\n")
    (tmp_path / "master.cf").write_text(master)
    for mode in ("-n", "-M"):
        result = postconf(tmp_path, mode)
        assert (result.returncode != 0 and "macro processing error" in result.stderr) == fails, \
            (mode, result.stderr)
    assert _pfcheck_says_postconf_fails(tmp_path) == fails
