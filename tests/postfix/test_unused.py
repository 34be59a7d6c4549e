"""pfcheck.postfix.unused without Postfix: the version differences of postconf's unused-parameter
check (the 3.7 logic itself is proven against real postconf in test_unused_live.py), PF002's
details and `pfcheck show`'s `warnings`."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from pfcheck.postfix.config import load_config_dir
from pfcheck.postfix.unused import dbms_suffixes, unused_parameters
from pfcheck.show import render_show_text, show_model


def _unused(tmp_path: Path, main: str, master: str = "", version: str = "3.7") -> list[str]:
    (tmp_path / "main.cf").write_text(main)
    (tmp_path / "master.cf").write_text(master)
    return [f"{item.file}:{item.name}" for item in unused_parameters(load_config_dir(tmp_path, version=version))]


def test_2_10_searches_dbms_tables_in_every_value(tmp_path: Path) -> None:
    # postconf_user.c 2.10/2.11: pcf_register_dbms_parameters() for every name=value;
    # 3.0+: only for built-in and per-service parameters.
    main = "my_list = ldap:tab\ntab_server_host = h\nsmtpd_restriction_classes = my_list\n"
    assert _unused(tmp_path, main, version="2.10") == []
    assert _unused(tmp_path, main, version="3.7") == ["main.cf:tab_server_host"]


def test_3_8_does_not_enter_inline_regexp_tables(tmp_path: Path) -> None:
    main = "smtpd_client_restrictions = check_client_access pcre:{{ldap:tab}}\ntab_server_host = h\n"
    assert _unused(tmp_path, main, version="3.7") == []
    assert _unused(tmp_path, main, version="3.8") == ["main.cf:tab_server_host"]


def test_dbms_suffixes_follow_the_clients_of_each_version() -> None:
    assert "tls_require_cert" not in dbms_suffixes("3.2")["ldap"]
    assert "tls_require_cert" in dbms_suffixes("3.3")["ldap"]
    assert "mongodb" in dbms_suffixes("3.9") and "mongodb" not in dbms_suffixes("3.8")


def test_duplicate_entries_share_a_namespace(tmp_path: Path) -> None:
    # The second entry finds the namespace the first created: postconf warns twice.
    master = "smtp inet n - n - - smtpd -o bogus_x=1\nsmtp inet n - n - - smtpd\n"
    assert _unused(tmp_path, "", master) == ["master.cf:bogus_x", "master.cf:bogus_x"]
    master = "smtp inet n - n - - smtpd\nsmtp inet n - n - - smtpd -o bogus_x=1\n"
    assert _unused(tmp_path, "", master) == ["master.cf:bogus_x"]


def test_read_only_and_raw_parameters(tmp_path: Path) -> None:
    # read-only: a different warning, and no unused one; raw values are not scanned for $name.
    main = "process_name = x\nsmtpd_reject_footer = $my_footer\nmy_footer = hi\n"
    assert _unused(tmp_path, main) == ["main.cf:my_footer"]


def test_pf002_json_details_and_show_warnings(tmp_path: Path) -> None:
    (tmp_path / "main.cf").write_text("compatibility_level = 3.6\nmydistination = example.com\n")
    (tmp_path / "master.cf").write_text("smtp inet n - n - - smtpd -o smtpd_bogus=yes\n")
    out = subprocess.run([sys.executable, "-m", "pfcheck", "--policy", "builtin", "--format", "json", str(tmp_path)],
                         capture_output=True, text=True).stdout
    findings = [f for f in json.loads(out)["findings"] if f["code"] == "PF002"]
    assert [(f["line"], f["parameter"], f["expected"], f["service"]) for f in findings] == [
        (2, "mydistination", "mydestination", None), (1, "smtpd_bogus", None, "smtp/inet")]
    assert findings[0]["severity"] == "warning"
    model = show_model(load_config_dir(tmp_path))
    assert "mydistination" not in model["main"]
    assert "smtpd_bogus" not in model["effective"]["smtp/inet"]
    assert model["warnings"] == [
        {"path": str(tmp_path / "main.cf"), "line": 2, "column": 1,
         "message": "unused parameter: mydistination=example.com", "service": None},
        {"path": str(tmp_path / "master.cf"), "line": 1, "column": 30,
         "message": "unused parameter: smtpd_bogus=yes", "service": "smtp/inet"},
    ]
    text = render_show_text(model)
    assert f"# warning: {tmp_path / 'master.cf'}:1:30: unused parameter: smtpd_bogus=yes [smtp/inet]" in text
