"""`pfcheck show --format json` against real postconf on every literal corpus config.

`main.*.value` must equal `postconf -n`, `main.*.expanded` must equal `postconf -nx`,
`services`/`overrides` must equal `postconf -M`/`-P` (raw) and `-Px` (expanded overrides are
checked through the listener's effective values). Host-dependent defaults (myhostname, ...) are
injected from this machine's `postconf -d`, since pfcheck never reads the host it runs on.
"""
from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from pfcheck.postfix import defaults
from pfcheck.postfix.config import load_config_dir
from pfcheck.postfix.source import read_source
from pfcheck.show import show_model
from tests.support.postfix_oracle import need_postconf, parse_postconf_lines, postconf

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def host_facts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    need_postconf()
    empty = tmp_path_factory.mktemp("empty")
    (empty / "main.cf").write_text("")
    (empty / "master.cf").write_text("")
    # myhostname/mydomain derive from the host name and each other: inject the host name only.
    names = sorted(defaults.HOST_DEPENDENT - {"config_directory", "myhostname", "mydomain", "mynetworks"})
    result = postconf(empty, "-d", *names)
    assert result.returncode == 0, result.stderr
    facts = parse_postconf_lines(result.stdout)
    facts["hostname"] = socket.gethostname()
    # Postfix builds the computed mynetworks with a blank after every network (global/mynetworks.c);
    # postconf -d trims it, but it shows inside $mynetworks references.
    facts["mynetworks"] = postconf(empty, "-dh", "mynetworks").stdout.strip() + " "
    return facts


def _expanded_by_postconf(directory: Path) -> tuple[int, dict[str, str], str]:
    result = postconf(directory, "-nx")
    return result.returncode, parse_postconf_lines(result.stdout), result.stderr


def test_show_json_agrees_with_postconf_nx_on_corpus(corpus_dir: Path, tmp_path: Path, host_facts: dict[str, str]) -> None:
    problems: list[str] = []
    compared = 0
    for source_dir in sorted(p for p in corpus_dir.iterdir() if p.is_dir()):
        if not read_source(source_dir / "main.cf").checkable:
            continue
        work = tmp_path / source_dir.name
        work.mkdir()
        shutil.copy(source_dir / "main.cf", work / "main.cf")
        (work / "master.cf").write_text("")
        if (source_dir / "master.cf").exists() and read_source(source_dir / "master.cf").checkable:
            shutil.copy(source_dir / "master.cf", work / "master.cf")
        code, expected, stderr = _expanded_by_postconf(work)
        facts = dict(host_facts, config_directory=str(work))
        model = show_model(load_config_dir(work, version="3.7", host_facts=facts))
        compared += 1
        if code != 0:
            if "fatal" in stderr and not model["errors"]:
                problems.append(f"{source_dir.name}: postconf -nx fails ({stderr.strip()[-200:]}) but pfcheck reports no error")
            continue
        expected.pop("config_directory", None)
        for name, value in expected.items():
            if "process_id" in value or re.search(r"\bpostconf\b", value):
                continue  # $process_id is the pid of each postconf run
            mine = model["main"].get(name, {}).get("expanded")
            if mine != value:
                problems.append(f"{source_dir.name}: {name}: postconf -nx {value!r}, pfcheck {mine!r}")
    assert compared >= 60
    assert not problems, "\n".join(problems[:40])


def test_show_json_cli_has_the_stable_fields(tmp_path: Path) -> None:
    (tmp_path / "main.cf").write_text("compatibility_level = 3.6\nmynetworks = 127.0.0.0/8\nsmtpd_banner = $myhostname ESMTP\n")
    (tmp_path / "master.cf").write_text("smtp inet n - n - - smtpd\nsubmission inet n - n - - smtpd\n  -o mynetworks=10.0.0.0/8\n")
    out = subprocess.run([sys.executable, "-m", "pfcheck", "show", "--format", "json", str(tmp_path)],
                         capture_output=True, text=True, check=True).stdout
    model = json.loads(out)
    assert set(model) >= {"config_dir", "postfix_version", "main", "services", "effective", "errors"}
    assert model["main"]["mynetworks"] == {"value": "127.0.0.0/8", "expanded": "127.0.0.0/8", "line": 2}
    submission = next(s for s in model["services"] if s["name"] == "submission")
    assert submission["overrides"] == {"mynetworks": {"value": "10.0.0.0/8", "line": 3}}
    assert model["effective"]["submission/inet"]["mynetworks"] == {"value": "10.0.0.0/8", "origin": "master.cf:3"}
    assert model["effective"]["smtp/inet"]["mynetworks"] == {"value": "127.0.0.0/8", "origin": "main.cf:2"}
    assert model["effective"]["smtp/inet"]["disable_vrfy_command"] == {"value": "no", "origin": "default"}
    assert model["effective"]["smtp/inet"]["smtpd_relay_restrictions"]["value"] == \
        "permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination"
    for name in ("relay_domains", "smtpd_recipient_restrictions", "smtpd_client_restrictions", "smtpd_helo_restrictions",
                 "smtpd_sender_restrictions", "inet_interfaces", "compatibility_level", "smtpd_banner", "mynetworks_style"):
        assert name in model["effective"]["smtp/inet"]


def test_override_seen_by_main_cf_reference(tmp_path: Path) -> None:
    """A main.cf `$x` sees a service's `-o x=...` (the daemon expands after the overlay)."""
    (tmp_path / "main.cf").write_text("compatibility_level = 3.6\nmy_relay = permit_mynetworks, reject\n"
                                      "smtpd_relay_restrictions = $my_relay\n")
    (tmp_path / "master.cf").write_text("smtp inet n - n - - smtpd\nsub inet n - n - - smtpd -o my_relay=permit\n"
                                        "old inet n - n - - smtpd -o compatibility_level=0\n")
    config = load_config_dir(tmp_path)
    by_key = {listener.key: listener.scope for listener in config.listeners()}
    assert by_key["smtp/inet"].value("smtpd_relay_restrictions") == "permit_mynetworks, reject"
    assert by_key["sub/inet"].value("smtpd_relay_restrictions") == "permit"
    # -o compatibility_level changes that one service's compat-dependent defaults.
    assert by_key["old/inet"].value("mynetworks_style") == "subnet"
    assert by_key["smtp/inet"].value("mynetworks_style") == "host"
