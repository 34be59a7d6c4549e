"""The HTML renderer (pfcheck/report/html.py) and the host facts behind it: structure,
escaping, no external URL, determinism, workers vs one process, and that a text run neither
computes the facts nor imports the renderer."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from pfcheck.engine.run import LintOptions, lint
from pfcheck.findings import Finding, Severity
from pfcheck.policy import PolicyResolver
from pfcheck.report import Report, render
from pfcheck.report.hosts import HostFacts, ListenerFacts
from pfcheck.rules import RULES
from tests.conftest import ROOT
from tests.support.browser import counts, listener_rows, parse_dom

HOSTILE = "<script>alert('x')</script>\"&'"


def _listener(service: str = "smtp/inet", relay: str = "closed", **changes: object) -> ListenerFacts:
    fields: dict[str, object] = dict(
        service=service, reachable=True, binding="all interfaces, port smtp", addresses=("0.0.0.0:25", "[::]:25"),
        bind_error=None, relay=relay, relay_detail="why", witness=None, vrfy=False,
        trusted="127.0.0.0/8", trusted_origin="main.cf:3")
    fields.update(changes)
    return ListenerFacts(**fields)  # type: ignore[arg-type]


def _finding(path: str, service: str, code: str = "PF101", **changes: object) -> Finding:
    return Finding(code, "vrfy-enabled", Severity.ERROR, path, 3, 1, "answers VRFY", service=service, **changes)  # type: ignore[arg-type]


def _report(hosts: list[HostFacts], **changes: object) -> Report:
    findings = [f for host in hosts for f in host.findings]
    return Report(findings=findings, rules={}, files_checked=len(hosts), tool_version="0.1.0", hosts=hosts, **changes)  # type: ignore[arg-type]


def _fleet() -> list[HostFacts]:
    witness = (("client", "203.0.113.7"), ("helo", "probe"), ("sender", "<a@b>"), ("recipient", "<r@t.example>"))
    open_finding = _finding("hosts/gw/main.cf", "2525/inet", "PF301", witness={"client": "203.0.113.7"}, failing=True)
    return [
        HostFacts("hosts/mx1", "3.7", (_listener(), _listener("submission/inet"))),
        HostFacts("hosts/gw", "3.7", (_listener("smtp/inet", "refuses-to-start"),
                                      _listener("2525/inet", "open", witness=witness, vrfy=True)),
                  findings=(open_finding, _finding("hosts/gw/master.cf", "2525/inet", status="new"))),
        HostFacts("hosts/tpl", "3.7", not_checked="template (Jinja2): not checked"),
    ]


def test_structure_rows_counts_and_sections() -> None:
    document = parse_dom(render(_report(_fleet()), "html"))
    rows = listener_rows(document)
    assert [(row["host"], row["listener"], row["data-relay"]) for row in rows] == [
        ("hosts/gw", "smtp/inet", "refuses-to-start"), ("hosts/gw", "2525/inet", "open"),
        ("hosts/mx1", "smtp/inet", "closed"), ("hosts/mx1", "submission/inet", "closed"),
        ("hosts/tpl", "—", "not-judged"),
    ]
    gw_open = rows[1]
    # Colour is never alone: every verdict cell says it in words.
    assert gw_open["verdict"].startswith("OPEN RELAY") and "client 203.0.113.7" in gw_open["verdict"]
    assert gw_open["findings"] == "2 error" and gw_open["vrfy"] == "on"
    assert rows[0]["verdict"].startswith("REFUSES TO START") and rows[2]["verdict"].startswith("closed")
    assert "template (Jinja2)" in rows[4]["verdict"]
    assert counts(document).items() >= {"hosts": 3, "listeners": 4, "relay-open": 1, "relay-closed": 2,
                                        "relay-refuses-to-start": 1, "findings": 2, "failing": 1}.items()
    sections = [s.attributes["data-host"] for s in document.find_all("section", **{"class": "host"})]
    assert sections == ["hosts/gw", "hosts/mx1", "hosts/tpl"]
    witness_cells = [cell.all_text() for cell in document.find_all("td", **{"class": "witness"})]
    assert any("203.0.113.7" in cell for cell in witness_cells)


def test_base_adds_new_column_and_status() -> None:
    document = parse_dom(render(_report(_fleet(), base="origin/main"), "html"))
    rows = listener_rows(document)
    assert [row["new"] for row in rows[:4]] == ["0", "1", "0", "0"]
    assert [cell.all_text() for cell in document.find_all("td", **{"class": "status"})] == ["", "new"]
    without = parse_dom(render(_report(_fleet()), "html"))
    assert "new" not in listener_rows(without)[1]


def test_everything_from_the_repository_is_escaped() -> None:
    hostile_host = HostFacts(HOSTILE, "3.7", (_listener(HOSTILE, trusted=HOSTILE, addresses=(HOSTILE,),
                                                        relay_detail=HOSTILE, bind_error=HOSTILE,
                                                        witness=(("client", HOSTILE),)),),
                             findings=(_finding(HOSTILE, HOSTILE, witness={"address": HOSTILE}),))
    page = render(_report([hostile_host]), "html")
    assert "<script>alert" not in page and "'x'" not in page
    assert page.count("<script>") == 1  # the page's own sorting script, nothing else
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;&quot;&amp;&#x27;" in page
    document = parse_dom(page)
    assert listener_rows(document)[0]["host"] == HOSTILE  # shown as text
    control = render(_report([HostFacts("a\x1b[31m\nb", "3.7")]), "html")
    assert "\x1b" not in control and "a\\x1b[31m\\x0ab" in control


def test_no_external_url() -> None:
    for report in (_report(_fleet(), information_uri="https://example.org/pfcheck"), _report([])):
        page = render(report, "html")
        assert not re.search(r"""\b(?:src|href|action|data|poster)\s*=\s*["']?\s*(?:[a-z][a-z0-9+.-]*:|//)""", page, re.I)
        assert not re.search(r"url\s*\(|@import|<link\b|<iframe\b|<object\b|<embed\b", page, re.I)
        assert all(link.startswith("#host-") for link in re.findall(r'href="([^"]*)"', page))
        assert "src=" not in page


def test_same_report_same_bytes_in_any_order() -> None:
    fleet = _fleet()
    first = render(_report(fleet), "html")
    assert first == render(_report(fleet), "html")
    reordered = [replace(host, findings=tuple(reversed(host.findings))) for host in reversed(fleet)]
    assert render(_report(reordered), "html") == first
    assert first.startswith("<!DOCTYPE html>\n") and first.endswith("</html>\n")
    assert not re.search(r"20\d\d-\d\d-\d\d", first)  # no timestamp


# --- the engine ------------------------------------------------------------------------------


def _fleet_repo(root: Path, count: int) -> Path:
    for index in range(count):
        directory = root / "hosts" / f"h{index:02d}"
        directory.mkdir(parents=True)
        relay = "smtpd_relay_restrictions = permit_mynetworks, check_sender_access inline:{example.net=OK}, " \
                "reject_unauth_destination\n" if index == 3 else ""
        (directory / "main.cf").write_text(
            f"compatibility_level = 3.6\nmyhostname = h{index}.example.net\nmynetworks = 127.0.0.0/8\n{relay}",
            encoding="utf-8")
    (root / ".git").mkdir()
    return root


def _lint(root: Path, **options: object) -> list[HostFacts]:
    resolver = PolicyResolver(RULES)
    cwd = os.getcwd()
    os.chdir(root)
    try:
        result = lint(["."], LintOptions(**options), lambda _d: resolver.load(None))  # type: ignore[arg-type]
    finally:
        os.chdir(cwd)
    return [replace(d.facts, findings=tuple(d.findings)) for d in result.directories if d.facts is not None]


def test_facts_only_when_asked_and_the_same_from_workers(tmp_path: Path) -> None:
    root = _fleet_repo(tmp_path, 6)
    assert _lint(root) == []
    serial = _lint(root, host_facts=True, jobs=1)
    forked = _lint(root, host_facts=True, jobs=2)
    assert serial == forked and len(serial) == 6
    assert render(_report(serial), "html") == render(_report(forked), "html")
    relay = {host.directory: host.listeners[0].relay for host in serial}
    assert relay.pop("hosts/h03") == "open" and set(relay.values()) == {"closed"}
    assert dict(serial[3].listeners[0].witness or ())["client"] == "203.0.113.7"
    assert serial[0].listeners[0].vrfy is True  # disable_vrfy_command left at its default, no


def test_cli_html_next_to_text_keeps_stdout_identical(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    base = [sys.executable, "-m", "pfcheck", "--policy", "builtin", "examples/"]
    text_only = subprocess.run(base, cwd=ROOT, capture_output=True, text=True, env=env, timeout=120)
    page = tmp_path / "out" / "report.html"
    both = subprocess.run([*base, "--format", "text", "--format", "html", "--output-file", str(page)],
                          cwd=ROOT, capture_output=True, text=True, env=env, timeout=120)
    assert both.returncode == text_only.returncode == 1
    assert both.stdout == text_only.stdout
    assert listener_rows(parse_dom(page.read_text(encoding="utf-8")))[1]["data-relay"] == "open"


def test_text_run_computes_no_facts() -> None:
    program = (
        "import sys\n"
        "from pfcheck.cli import main\n"
        "code = main(['--policy', 'builtin', '-q', 'examples/'])\n"
        "print(code, sorted(m for m in sys.modules if m in ('pfcheck.engine.host_facts', 'pfcheck.report.html')))\n"
    )
    completed = subprocess.run([sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert completed.stdout.strip().splitlines()[-1] == "1 []"


@pytest.mark.parametrize("count", [0])
def test_empty_run_renders_a_page(count: int) -> None:
    page = render(_report([]), "html")
    assert "<table id=\"listener-table\">" not in page and counts(parse_dom(page))["hosts"] == count
