"""The HTML report of real runs, loaded in real headless Chromium (tests/support/browser.py).

Each test runs the pfcheck CLI on a real config repo (examples/, a generated fleet with an open
relay host, a `--base` run in a real git repository), loads the page it wrote in Chromium,
and reads the DOM Chromium dumps after the page's script ran: the hosts x listeners rows with
their verdict texts, the summary counts, the findings. The screenshot is decoded and must be a
PNG of the window's size with the colours of the verdicts, not a blank page.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.support.browser import (
    Element, chromium, counts, decode_png, dump_dom, listener_rows, parse_dom, screenshot,
)

CLOSED_MAIN_CF = ("compatibility_level = 3.6\nmyhostname = {name}.example.net\nmynetworks = 127.0.0.0/8\n"
                  "disable_vrfy_command = yes\n")
#: A forged sender domain opens the relay (PF301 names the witness).
OPEN_MAIN_CF = CLOSED_MAIN_CF + ("smtpd_relay_restrictions = permit_mynetworks, "
                                 "check_sender_access inline:{{example.net=OK}}, reject_unauth_destination\n")


def _pfcheck(*arguments: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "pfcheck", *arguments], cwd=cwd, capture_output=True,
                          text=True, timeout=300, env=env)


def _page(tmp_path: Path, *arguments: str, cwd: Path) -> tuple[Path, Element]:
    chromium()  # skip (or fail when required) before doing any work
    page = tmp_path / "report.html"
    completed = _pfcheck(*arguments, "--format", "html", "--output-file", str(page), cwd=cwd)
    assert completed.returncode in (0, 1), completed.stderr
    return page, parse_dom(dump_dom(page))


def _git(repo: Path, *arguments: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *arguments], cwd=repo,
                   check=True, capture_output=True)


def test_examples_in_chromium(tmp_path: Path) -> None:
    page, document = _page(tmp_path, "--policy", "builtin", "examples/", cwd=ROOT)
    rows = {(row["host"], row["listener"]): row for row in listener_rows(document)}
    assert set(rows) == {
        ("examples/hosts/legacy-gw", "smtp/inet"), ("examples/hosts/legacy-gw", "2525/inet"),
        ("examples/hosts/mx1", "smtp/inet"), ("examples/hosts/mx1", "submission/inet"),
        ("examples/hosts/sendonly", "smtp/inet"),
    }
    legacy = rows[("examples/hosts/legacy-gw", "2525/inet")]
    assert legacy["data-relay"] == "open" and legacy["verdict"].startswith("OPEN RELAY")
    assert "client 203.0.113.7" in legacy["verdict"] and "<relaytest@relay-target.example>" in legacy["verdict"]
    assert legacy["vrfy"] == "on"
    assert legacy["trusted"].startswith("127.0.0.0/8 192.0.2.0/24 198.51.100.0/22")
    assert legacy["addresses"].startswith("0.0.0.0:2525 [::]:2525")
    # smtp/inet reads `disable_vrfy_command = yes # no VRFY please`: smtpd refuses it (PF000).
    assert rows[("examples/hosts/legacy-gw", "smtp/inet")]["verdict"].startswith("REFUSES TO START")
    assert rows[("examples/hosts/mx1", "smtp/inet")]["verdict"].startswith("closed")
    sendonly = rows[("examples/hosts/sendonly", "smtp/inet")]
    assert sendonly["verdict"].startswith("not judged") and "reachable from this host only" in sendonly["addresses"]
    assert counts(document).items() >= {"hosts": 3, "listeners": 5, "relay-open": 1, "relay-refuses-to-start": 1,
                                     "relay-closed": 2, "relay-not-judged": 1, "findings": 9, "failing": 4}.items()
    # The script ran in the browser: it shows the host filter the static page keeps hidden.
    assert "hidden" not in document.first("input", id="filter").attributes
    # The legacy host's findings section lists PF301 with its witness.
    section = document.first("section", id="host-1")
    assert section.attributes["data-host"] == "examples/hosts/legacy-gw"
    pf301 = [row for row in section.find_all("tr") if "PF301" in row.all_text()]
    assert len(pf301) == 1 and "203.0.113.7" in pf301[0].first("td", **{"class": "witness"}).all_text()

    image = decode_png(screenshot(page, tmp_path / "report.png", 1280, 900))
    assert (image.width, image.height) == (1280, 900)
    colours = image.colours()
    assert len(colours) > 50, "a blank or nearly blank screenshot"
    # The verdict cells' backgrounds are on screen (open: #ffd7d5, closed: #dafbe1).
    assert (0xFF, 0xD7, 0xD5) in colours and (0xDA, 0xFB, 0xE1) in colours
    blank = tmp_path / "blank.html"
    blank.write_text("<!DOCTYPE html><html><body></body></html>\n", encoding="utf-8")
    assert decode_png(screenshot(blank, tmp_path / "blank.png", 1280, 900)).colours() == {(255, 255, 255)}


def test_generated_fleet_with_an_open_relay_host(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    # 40 hosts: enough for the run to use worker processes (their facts come back with findings).
    names = [f"mx{index:02d}" for index in range(40)]
    for name in names:
        (repo / "hosts" / name).mkdir(parents=True)
        text = OPEN_MAIN_CF if name == "mx17" else CLOSED_MAIN_CF
        (repo / "hosts" / name / "main.cf").write_text(text.format(name=name), encoding="utf-8")
    _git(repo, "init", "-q")
    page, document = _page(tmp_path, "--policy", "builtin", ".", cwd=repo)
    rows = listener_rows(document)
    assert [row["host"] for row in rows] == [f"hosts/{name}" for name in names]
    verdicts = {row["host"]: row["data-relay"] for row in rows}
    assert verdicts.pop("hosts/mx17") == "open" and set(verdicts.values()) == {"closed"}
    open_row = next(row for row in rows if row["host"] == "hosts/mx17")
    assert "<postmaster@mx17.example.net>" in open_row["verdict"] and "1 error" in open_row["findings"]
    assert counts(document)["relay-open"] == 1 and counts(document)["listeners"] == 40
    image = decode_png(screenshot(page, tmp_path / "fleet.png", 1024, 2000))
    assert (image.width, image.height) == (1024, 2000) and (0xFF, 0xD7, 0xD5) in image.colours()


def test_base_run_marks_the_new_finding(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    for name in ("east", "west"):
        (repo / "hosts" / name).mkdir(parents=True)
        (repo / "hosts" / name / "main.cf").write_text(CLOSED_MAIN_CF.format(name=name), encoding="utf-8")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "closed fleet")
    # The change: west answers VRFY on a new submission listener.
    (repo / "hosts" / "west" / "master.cf").write_text(
        "smtp      inet  n       -       y       -       -       smtpd\n"
        "submission inet n       -       y       -       -       smtpd\n"
        "  -o disable_vrfy_command=no\n", encoding="utf-8")
    page, document = _page(tmp_path, "--policy", "builtin", "--base", "HEAD", ".", cwd=repo)
    rows = {(row["host"], row["listener"]): row for row in listener_rows(document)}
    submission = rows[("hosts/west", "submission/inet")]
    # Every finding of the new listener is new (PF101 among them); the others are existing.
    assert submission["vrfy"] == "on" and int(submission["new"]) >= 1
    assert rows[("hosts/west", "smtp/inet")]["new"] == "0"
    assert rows[("hosts/east", "smtp/inet")]["new"] == "0"
    west = next(s for s in document.find_all("section", **{"class": "host"}) if s.attributes.get("data-host") == "hosts/west")
    statuses = {row.first("td", **{"class": "code"}).all_text().split()[0]: row.first("td", **{"class": "status"}).all_text()
                for row in west.first("tbody").find_all("tr") if "submission/inet" in row.all_text()}
    assert statuses["PF101"] == "new"
    summary = counts(document)
    assert summary["status-new"] >= 1 and summary["status-existing"] >= 1


def test_hostile_directory_name_is_text_in_the_browser(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    hostile = "<img src=x onerror=\"document.title='pwned'\">"
    (repo / hostile).mkdir(parents=True)
    (repo / hostile / "main.cf").write_text(CLOSED_MAIN_CF.format(name="h"), encoding="utf-8")
    _git(repo, "init", "-q")
    _page_path, document = _page(tmp_path, "--policy", "builtin", ".", cwd=repo)
    assert document.first("title").all_text() == "pfcheck report"
    assert document.find_all("img") == []
    assert [row["host"] for row in listener_rows(document)] == [hostile]


@pytest.mark.parametrize("size", [(800, 600)])
def test_screenshot_size_follows_the_window(tmp_path: Path, size: tuple[int, int]) -> None:
    page, _document = _page(tmp_path, "--policy", "builtin", "examples/hosts/mx1", cwd=ROOT)
    image = decode_png(screenshot(page, tmp_path / "small.png", *size))
    assert (image.width, image.height) == size and len(image.colours()) > 20
