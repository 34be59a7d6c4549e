"""HTML format: one self-contained page for a fleet of config directories (a CI artifact).

The page has the run's summary counts, a table of hosts x smtpd listeners (relay verdict,
VRFY, trusted networks, listening addresses, findings by severity, new with `--base`) and a
findings section per host (severity, code, message, location, new/existing, witness).

Self-contained: inline CSS and a small inline script (sorting by a column, filtering by
host), no external URL of any kind; without the script the page is the same table, unsorted
by the reader. Every text that comes from a checked repository (paths, messages, values) is
escaped, so a host directory named `<script>` is shown, never run. Like every renderer it is
a pure function of the Report: no clock, no environment, the same report gives the same
bytes. The per-host facts are `Report.hosts` (pfcheck/report/hosts.py), computed by the
engine when this format is requested; without them the page lists the findings only.
"""
from __future__ import annotations

from html import escape
from typing import Iterable, Optional, Sequence

from pfcheck.findings import Finding, Severity
from pfcheck.report import Report, printable, summary_line
from pfcheck.report.hosts import RELAY_VERDICTS, HostFacts, ListenerFacts

#: Verdict -> the label the page prints beside its colour (never colour alone).
_VERDICT_LABELS = {
    "open": "OPEN RELAY",
    "unproven": "UNPROVEN",
    "refuses-to-start": "REFUSES TO START",
    "closed": "closed",
    "not-judged": "not judged",
}

_CSS = """
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5em; color: #1b1f24; background: #fff; }
h1 { font-size: 1.6em; margin: 0 0 .2em; }
h2 { font-size: 1.25em; margin: 1.6em 0 .5em; border-bottom: 1px solid #d0d7de; padding-bottom: .2em; }
h3 { font-size: 1.05em; margin: 1.2em 0 .4em; font-family: ui-monospace, monospace; }
.meta { color: #57606a; margin: 0; }
.summary-line { font-weight: 600; }
.counts { display: flex; flex-wrap: wrap; gap: .6em; padding: 0; list-style: none; }
.counts li { border: 1px solid #d0d7de; border-radius: 6px; padding: .35em .8em; background: #f6f8fa; }
.counts b { font-size: 1.25em; margin-right: .25em; }
table { border-collapse: collapse; width: 100%; margin: .4em 0 1em; }
th, td { border: 1px solid #d0d7de; padding: .35em .5em; text-align: left; vertical-align: top; }
th { background: #f6f8fa; white-space: nowrap; }
th[data-sort] { cursor: pointer; }
td.mono, code { font-family: ui-monospace, monospace; font-size: .95em; overflow-wrap: anywhere; }
.verdict { font-weight: 700; white-space: nowrap; }
.verdict-open { background: #ffd7d5; color: #82071e; }
.verdict-unproven { background: #fff1c2; color: #7d4e00; }
.verdict-refuses-to-start { background: #ffe2c6; color: #8a3300; }
.verdict-closed { background: #dafbe1; color: #116329; }
.verdict-not-judged { background: #eaeef2; color: #424a53; }
.detail { display: block; font-weight: 400; white-space: normal; font-size: .9em; }
.sev-error { color: #a40e26; font-weight: 700; }
.sev-warning { color: #7d4e00; font-weight: 700; }
.sev-info { color: #0550ae; font-weight: 700; }
.vrfy-on { color: #a40e26; font-weight: 700; }
.status-new { font-weight: 700; color: #a40e26; }
.fails { font-weight: 700; }
.note { color: #57606a; }
#filter { font: inherit; padding: .3em .5em; width: 20em; max-width: 100%; }
@media print { #filter { display: none; } }
"""

#: Sorting by a header click and filtering by host; the page reads the same without it.
_SCRIPT = """
(function () {
  var table = document.getElementById("listener-table");
  var filter = document.getElementById("filter");
  if (!table || !filter) { return; }
  filter.hidden = false;
  var body = table.tBodies[0];
  filter.addEventListener("input", function () {
    var needle = filter.value.toLowerCase();
    Array.prototype.forEach.call(body.rows, function (row) {
      row.hidden = needle !== "" && row.getAttribute("data-host").toLowerCase().indexOf(needle) < 0;
    });
  });
  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (cell, column) {
    if (!cell.hasAttribute("data-sort")) { return; }
    cell.addEventListener("click", function () {
      var descending = cell.getAttribute("aria-sort") === "ascending";
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[column].getAttribute("data-key") || a.cells[column].textContent;
        var y = b.cells[column].getAttribute("data-key") || b.cells[column].textContent;
        return (x < y ? -1 : x > y ? 1 : 0) * (descending ? -1 : 1);
      });
      rows.forEach(function (row) { body.appendChild(row); });
      Array.prototype.forEach.call(table.tHead.rows[0].cells, function (other) { other.removeAttribute("aria-sort"); });
      cell.setAttribute("aria-sort", descending ? "descending" : "ascending");
    });
  });
}());
"""


def text(value: object) -> str:
    """Any value as HTML text: one printable line (pfcheck.excerpt), then HTML-escaped
    (quotes too, so the result is also safe inside an attribute)."""
    return escape(printable(str(value)), quote=True)


def render(report: Report) -> str:
    hosts = sorted(report.hosts, key=lambda host: host.directory)
    anchors = {host.directory: f"host-{index}" for index, host in enumerate(hosts, 1)}
    out: list[str] = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{text(report.tool_name)} report</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        "<header>",
        f"<h1>{text(report.tool_name)} report</h1>",
        f'<p class="meta">{text(report.tool_name)} {text(report.tool_version)}'
        + (f" &middot; compared with <code>{text(report.base)}</code>" if report.base is not None else "")
        + (" &middot; --new-only" if report.new_only else "") + "</p>",
        "</header>",
    ]
    out += _summary(report, hosts)
    if hosts:
        out += _listener_table(hosts, anchors, report.base is not None)
    out += _findings_sections(report, hosts, anchors)
    out += [f"<script>{_SCRIPT}</script>", "</body>", "</html>"]
    return "\n".join(out) + "\n"


# --- summary ------------------------------------------------------------------------------


def _summary(report: Report, hosts: Sequence[HostFacts]) -> list[str]:
    listeners = [listener for host in hosts for listener in host.listeners]
    counts: list[tuple[str, int, str]] = [("hosts", len(hosts), "hosts"), ("listeners", len(listeners), "smtpd listeners")]
    for verdict in RELAY_VERDICTS:
        counts.append((f"relay-{verdict}", sum(1 for item in listeners if item.relay == verdict),
                       f"relay {_VERDICT_LABELS[verdict].lower()}"))
    counts.append(("vrfy-on", sum(1 for item in listeners if item.vrfy and item.reachable), "reachable with VRFY"))
    counts.append(("findings", len(report.findings), "findings"))
    counts += [(f"severity-{name}", n, name) for name, n in report.by_severity().items()]
    counts.append(("failing", report.failing(), "failing"))
    statuses = report.by_status()
    if statuses is not None:
        counts += [(f"status-{name}", n, name) for name, n in statuses.items()]
    items = [f'<li data-count="{key}"><b>{n}</b>{text(label)}</li>' for key, n, label in counts]
    return ['<section id="summary">', "<h2>Summary</h2>", f'<p class="summary-line">{text(summary_line(report))}</p>',
            '<ul class="counts">', *items, "</ul>", "</section>"]


# --- hosts x listeners --------------------------------------------------------------------


def _listener_table(hosts: Sequence[HostFacts], anchors: dict[str, str], comparing: bool) -> list[str]:
    headers = ["Host", "Listener", "Relay", "VRFY", "Trusted networks", "Listening on", "Findings"]
    if comparing:
        headers.append("New")
    out = ['<section id="listeners">', "<h2>Hosts and listeners</h2>",
           '<p><input type="search" id="filter" placeholder="Filter by host" aria-label="Filter by host" hidden></p>',
           '<table id="listener-table">', "<thead><tr>" + "".join(f'<th data-sort="{i}">{h}</th>' for i, h in enumerate(headers))
           + "</tr></thead>", "<tbody>"]
    for host in hosts:
        link = f'<a href="#{anchors[host.directory]}">{text(host.directory)}</a>'
        if not host.listeners:
            note = host.not_checked and f"not checked: {host.not_checked}" or "no smtpd listener"
            cells = [f'<td class="host mono">{link}</td>', '<td class="listener">&mdash;</td>',
                     f'<td class="verdict verdict-not-judged" data-key="not-judged" colspan="5">'
                     f'{_VERDICT_LABELS["not-judged"]}<span class="detail">{text(note)}</span></td>']
            cells[-1] = cells[-1].replace('colspan="5"', f'colspan="{len(headers) - 2}"')
            out.append(f'<tr data-host="{text(host.directory)}" data-relay="not-judged">{"".join(cells)}</tr>')
            continue
        for listener in host.listeners:
            mine = [f for f in host.findings if f.service == listener.service]
            cells = [f'<td class="host mono">{link}</td>', f'<td class="listener mono">{text(listener.service)}</td>',
                     _verdict_cell(listener), _vrfy_cell(listener),
                     f'<td class="trusted mono" title="{text(listener.trusted_origin)}">{text(listener.trusted)}'
                     f'<span class="detail note">{text(listener.trusted_origin)}</span></td>',
                     _addresses_cell(listener), _severity_cell(mine)]
            if comparing:
                new = sum(1 for f in mine if f.status == "new")
                cells.append(f'<td class="new" data-key="{new:06d}">{new}</td>')
            out.append(f'<tr data-host="{text(host.directory)}" data-relay="{listener.relay}">{"".join(cells)}</tr>')
    out += ["</tbody>", "</table>", "</section>"]
    return out


def _verdict_cell(listener: ListenerFacts) -> str:
    rank = RELAY_VERDICTS.index(listener.relay) if listener.relay in RELAY_VERDICTS else len(RELAY_VERDICTS)
    witness = ""
    if listener.witness:
        witness = '<span class="detail witness">witness: ' + ", ".join(
            f"{text(name)} <code>{text(value)}</code>" for name, value in listener.witness) + "</span>"
    return (f'<td class="verdict verdict-{text(listener.relay)}" data-key="{rank}">'
            f'{text(_VERDICT_LABELS.get(listener.relay, listener.relay))}'
            f'<span class="detail">{text(listener.relay_detail)}</span>{witness}</td>')


def _vrfy_cell(listener: ListenerFacts) -> str:
    if listener.vrfy is None:
        return '<td class="vrfy" data-key="?">refused value</td>'
    if listener.vrfy and listener.reachable:
        return '<td class="vrfy vrfy-on" data-key="on">on</td>'
    if listener.vrfy:
        return '<td class="vrfy" data-key="on">on<span class="detail note">this host only</span></td>'
    return '<td class="vrfy" data-key="off">off</td>'


def _addresses_cell(listener: ListenerFacts) -> str:
    reach = "other hosts" if listener.reachable else "this host only"
    parts = [text(address) for address in listener.addresses] or [text(listener.binding)]
    error = f'<span class="detail sev-error">master cannot bind: {text(listener.bind_error)}</span>' \
        if listener.bind_error else ""
    return (f'<td class="addresses mono">{"<br>".join(parts)}'
            f'<span class="detail note">reachable from {reach}</span>{error}</td>')


def _severity_cell(findings: Sequence[Finding]) -> str:
    counts = {severity: sum(1 for f in findings if f.severity is severity) for severity in sorted(Severity, reverse=True)}
    shown = [f'<span class="sev-{severity}">{n} {severity}</span>' for severity, n in counts.items() if n]
    key = "".join(f"{999 - n:03d}" for n in counts.values())  # most errors first when sorted
    return f'<td class="findings" data-key="{key}">{", ".join(shown) or "none"}</td>'


# --- findings per host ----------------------------------------------------------------------


def _findings_sections(report: Report, hosts: Sequence[HostFacts], anchors: dict[str, str]) -> list[str]:
    out = ['<section id="findings">', "<h2>Findings</h2>"]
    claimed = {id(f) for host in hosts for f in host.findings}
    for host in hosts:
        out.append(f'<section class="host" id="{anchors[host.directory]}" data-host="{text(host.directory)}">')
        out.append(f"<h3>{text(host.directory)}</h3>")
        if host.not_checked:
            out.append(f'<p class="note">not checked: {text(host.not_checked)}</p>')
        out += _findings_table(host.findings, report.base is not None)
        out.append("</section>")
    others = [f for f in report.sorted_findings() if id(f) not in claimed]
    if others:
        title = "Other findings" if hosts else "All findings"
        out += ['<section class="host" id="other-findings">', f"<h3>{title}</h3>",
                *_findings_table(others, report.base is not None), "</section>"]
    if report.not_checked:
        out += ['<section id="not-checked">', "<h3>Not checked</h3>", "<ul>"]
        out += [f"<li><code>{text(item.path)}</code>: {text(item.reason)}</li>" for item in report.sorted_not_checked()]
        out += ["</ul>", "</section>"]
    out.append("</section>")
    return out


def _findings_table(findings: Iterable[Finding], comparing: bool) -> list[str]:
    ordered = sorted(findings, key=lambda f: (*f.sort_key(), f.service or "", f.message))
    if not ordered:
        return ['<p class="note">No findings.</p>']
    headers = ["Severity", "Code", "Message", "Location", "Listener", "Fails", *(["Status"] if comparing else []), "Witness"]
    out = ['<table class="findings">', "<thead><tr>" + "".join(f"<th>{h}</th>" for h in headers) + "</tr></thead>", "<tbody>"]
    for finding in ordered:
        cells = [
            f'<td class="sev-{finding.severity}">{finding.severity}</td>',
            f'<td class="code"><code>{text(finding.code)}</code> {text(finding.name)}</td>',
            f'<td class="message">{text(finding.message)}</td>',
            f'<td class="location mono">{text(finding.path)}:{finding.line}:{finding.column}</td>',
            f'<td class="listener mono">{text(finding.service or "")}</td>',
            f'<td class="failing{" fails" if finding.failing else ""}">{"yes" if finding.failing else "no"}</td>',
        ]
        if comparing:
            status = finding.status or ""
            cells.append(f'<td class="status status-{text(status)}">{text(status)}</td>')
        cells.append(f'<td class="witness">{_witness(finding.witness)}</td>')
        out.append("<tr>" + "".join(cells) + "</tr>")
    out += ["</tbody>", "</table>"]
    return out


def _witness(witness: Optional[dict[str, object]]) -> str:
    """PF201's address, PF301's client/helo/sender/recipient, and what the witness rests on."""
    if not witness:
        return ""
    shown = [f"{text(key)} <code>{text(value)}</code>" for key, value in witness.items()
             if key not in ("assumptions", "replayable") and value is not None]
    assumptions = witness.get("assumptions") or []
    if isinstance(assumptions, (list, tuple)) and assumptions:
        shown.append("assuming " + text("; ".join(map(str, assumptions))))
    if witness.get("replayable") is False:
        shown.append("not replayable with XCLIENT")
    return "<br>".join(shown)
