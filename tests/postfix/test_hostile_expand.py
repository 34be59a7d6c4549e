"""Hostile `$` expansions through the CLI (issue 13): no traceback, no hang, bounded memory,
and Postfix's own verdict. Each case runs `python -m pfcheck` in a subprocess under
`/usr/bin/time` with a generous timeout as a hang guard; the live half checks the verdicts
against real Postfix (`postconf -x`, and `postmap -q` as a program that runs
mail_params_init() like every daemon)."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Optional

import pytest

from tests.conftest import ROOT
from tests.support.postfix_oracle import cool_down, need_postconf, parse_postconf_lines, postconf

TIME = "/usr/bin/time"
HANG_GUARD_SECONDS = 30
#: Peak RSS bound for one run (an empty directory needs ~35 MiB).
PEAK_MIB = 150


def _run(*args: str, cwd: Path) -> tuple[int, str, str, Optional[float]]:
    """Exit code, stdout, stderr and peak RSS (MiB, None without /usr/bin/time) of one run."""
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_ACTIONS"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "pfcheck", *args]
    timed = os.path.exists(TIME)
    if timed:
        command = [TIME, "-f", "peak-kib=%M", *command]
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=HANG_GUARD_SECONDS)
    stderr, peak = result.stderr, None
    if timed:
        found = re.findall(r"^peak-kib=(\d+)$", stderr, re.MULTILINE)
        peak = int(found[-1]) / 1024 if found else None
        stderr = re.sub(r"^peak-kib=\d+\n?", "", stderr, flags=re.MULTILINE)
        stderr = re.sub(r"^Command exited with non-zero status \d+\n?", "", stderr, flags=re.MULTILINE)
    return result.returncode, result.stdout, stderr, peak


def _write(directory: Path, main: str, master: str = "smtp inet n - n - - smtpd\n") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "main.cf").write_text(main)
    (directory / "master.cf").write_text(master)
    return directory


def _pf000(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if " PF000 " in line]


def _lint(directory: Path) -> tuple[int, list[str], float]:
    code, out, err, peak = _run("--policy", "builtin", str(directory), cwd=directory.parent)
    assert code in (0, 1), (code, err[-2000:])
    assert "Traceback" not in out + err and "internal error" not in out + err, err[-2000:]
    if peak is not None:
        assert peak < PEAK_MIB, f"peak {peak:.0f} MiB"
    return code, _pf000(out), peak or 0.0


def _show(directory: Path) -> dict:
    code, out, err, peak = _run("show", "--format", "json", str(directory), cwd=directory.parent)
    assert code == 0, (code, err[-2000:])
    assert "Traceback" not in err
    if peak is not None:
        assert peak < PEAK_MIB, f"peak {peak:.0f} MiB"
    return json.loads(out)


def _chain(count: int, name: str = "x") -> str:
    return "".join(f"{name}{i} = ${name}{i + 1}\n" for i in range(count))


# --------------------------------------------------------------------------------------------
# Shapes (no Postfix needed)

CHAIN_MAIN = "compatibility_level = 3.6\n" + _chain(10_000) + "myhostname = $x0\n"
LADDER_MAIN = "compatibility_level = 3.6\na0 = x\n" + "".join(
    f"a{i} = $a{i - 1}$a{i - 1}\n" for i in range(1, 40)) + "myhostname = $a39\n"


def test_myhostname_from_an_unset_mydomain_is_no_crash(tmp_path: Path) -> None:
    directory = _write(tmp_path / "d", "compatibility_level = 3.6\nmyhostname = $mydomain\n")
    code, findings, _ = _lint(directory)
    assert code == 1
    assert len(findings) == 1 and 'bad string length 0 < 1: myhostname = "' in findings[0], findings
    model = _show(directory)
    assert model["main"]["myhostname"]["expanded"] == "localdomain"  # what postconf -x says


def test_ten_thousand_deep_chain_is_one_finding_where_the_daemon_reads_it(tmp_path: Path) -> None:
    directory = _write(tmp_path / "d", CHAIN_MAIN)
    _, findings, _ = _lint(directory)
    assert len(findings) == 1, findings[:5]
    assert "main.cf:10002:" in findings[0] and 'myhostname: unreasonable macro call nesting: "x101"' in findings[0]
    model = _show(directory)
    assert [e["message"].split(";")[0] for e in model["errors"]] == \
        ['myhostname: unreasonable macro call nesting: "x101"']


def test_a_doubling_ladder_is_measured_not_built(tmp_path: Path) -> None:
    directory = _write(tmp_path / "d", LADDER_MAIN)
    _, findings, peak = _lint(directory)
    assert len(findings) == 1 and "myhostname: expansion result exceeds" in findings[0], findings
    assert peak < 100


@pytest.mark.parametrize("shape", ["long-literal", "many-references", "nested-conditionals", "chain-1600",
                                   "conditional-chain-1600", "dollars"])
def test_large_values_finish_linearly(tmp_path: Path, shape: str) -> None:
    main = {
        "long-literal": "smtpd_banner = " + "x" * 200_000 + " $myhostname\n",
        "many-references": "a = y\nsmtpd_banner = " + "$a " * 66_000 + "\n",
        "nested-conditionals": "a = y\nsmtpd_banner = " + "${a?" * 1600 + "z" + "}" * 1600 + "\n",
        "chain-1600": _chain(1600, "y") + "y1600 = e\nsmtpd_banner = $y0\n",
        "conditional-chain-1600": "".join(f"y{i} = ${{y{i + 1}?$y{i + 1}}}\n" for i in range(1600))
        + "y1600 = e\nsmtpd_banner = $y0\n",
        "dollars": "smtpd_banner = " + "$" * 200_001 + "\n",
    }[shape]
    directory = _write(tmp_path / "d", "compatibility_level = 3.6\n" + main)
    _lint(directory)
    _show(directory)


CYCLES = {
    "pair": ("a = $b\nb = $a\nsmtpd_banner = $a\n", 'nesting: "b"'),
    "self": ("a = $a\nsmtpd_banner = $a\n", 'nesting: "a"'),
    "conditional": ("a = ${b?$b}\nb = ${a?x$a}\nsmtpd_banner = $a\n", 'nesting: "b?$b"'),
    "default-branch": ("a = ${c:$b}\nb = $a\nsmtpd_banner = $a\n", 'nesting: "b"'),
    "relational": ("a = ${{$a} == {x} ? {y}}\nsmtpd_banner = $a\n", "unbounded macro recursion"),
    "nothing-reads-it": ("a = $b\nb = $a\n", None),
}


@pytest.mark.parametrize("case", sorted(CYCLES))
def test_cycles_give_postfix_message_once(tmp_path: Path, case: str) -> None:
    main, expected = CYCLES[case]
    directory = _write(tmp_path / "d", "compatibility_level = 3.6\n" + main)
    _, findings, _ = _lint(directory)
    if expected is None:
        assert findings == []
        return
    assert len(findings) == 1 and "smtpd_banner: " in findings[0] and expected in findings[0], findings


def test_a_cycle_through_master_cf_overrides(tmp_path: Path) -> None:
    directory = _write(tmp_path / "d", "compatibility_level = 3.6\n",
                       "smtp inet n - n - - smtpd\nsub inet n - n - - smtpd -o smtpd_banner=$x\n  -o x=$y -o y=$x\n")
    _, findings, _ = _lint(directory)
    assert len(findings) == 1 and "master.cf:2:" in findings[0] and 'nesting: "y"' in findings[0], findings


# --------------------------------------------------------------------------------------------
# Against real Postfix

def _postmap(directory: Path) -> subprocess.CompletedProcess[str]:
    """A Postfix program that runs mail_params_init() (what every daemon does at start-up)."""
    need_postconf()
    postmap = shutil.which("postmap") or "/usr/sbin/postmap"
    cool_down(directory)
    return subprocess.run([postmap, "-c", str(directory), "-q", "key", "inline:{key=value}"],
                          capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"})


def _fatal(stderr: str) -> str:
    found = re.findall(r"fatal: (.*)$", stderr, re.MULTILINE)
    return found[-1] if found else ""


@pytest.mark.live
@pytest.mark.parametrize("main,fatal", [
    ("myhostname = $mydomain\n", "bad string length 0 < 1: myhostname = "),
    ("myhostname = mx.$mydomain\n", "bad string length 0 < 1: mydomain = "),
    ("myhostname = mx.\n", "bad string length 0 < 1: mydomain = "),
    ("myhostname = mx.\nmydomain = example.com\n", "parameter myhostname: bad parameter value: mx."),
    ("myhostname = mx.example.com\n", ""),
    ("myhostname = $x0\n" + _chain(150), "dictionary mail_dict: macro processing error"),
])
def test_hostname_fatals_are_the_daemons(tmp_path: Path, main: str, fatal: str) -> None:
    directory = _write(tmp_path / "d", "compatibility_level = 3.6\n" + main)
    result = _postmap(directory)
    assert (_fatal(result.stderr) != "") == (fatal != ""), result.stderr
    assert fatal in _fatal(result.stderr), result.stderr
    _, findings, _ = _lint(directory)
    if not fatal:
        assert findings == []
        return
    assert len(findings) == 1, findings
    warning = re.findall(r"warning: (unreasonable macro call nesting: \S+)", result.stderr)
    if warning:
        assert warning[0] in findings[0]
    else:
        assert f'"fatal: {_fatal(result.stderr).replace(str(directory), "/etc/postfix")}"' in findings[0]


@pytest.mark.live
@pytest.mark.parametrize("main", [
    "myhostname = $mydomain\n",
    "myhostname = mx.$mydomain\n",
    "myhostname = mx.$mydomain\nmydomain = example.org\n",
    "mydomain = sub.$myhostname\nmyhostname = mx.example.com\n",
])
def test_show_expands_the_host_names_as_postconf_x(tmp_path: Path, main: str) -> None:
    directory = _write(tmp_path / "d", main)
    result = postconf(directory, "-x", "myhostname", "mydomain")
    assert result.returncode == 0, result.stderr
    expected = parse_postconf_lines(result.stdout)
    model = _show(directory)
    for name in ("myhostname", "mydomain"):
        if name in model["main"]:
            assert model["main"][name]["expanded"] == expected[name], (name, expected)


@pytest.mark.live
@pytest.mark.parametrize("case", sorted(set(CYCLES) - {"relational", "nothing-reads-it"}))
def test_cycle_messages_are_postconfs(tmp_path: Path, case: str) -> None:
    main, _ = CYCLES[case]
    directory = _write(tmp_path / "d", "compatibility_level = 3.6\n" + main)
    result = postconf(directory, "-x", "smtpd_banner")
    warning = re.findall(r"warning: (.*)$", result.stderr, re.MULTILINE)
    assert result.returncode != 0 and warning, result.stderr
    _, findings, _ = _lint(directory)
    assert len(findings) == 1 and f"smtpd_banner: {warning[-1]};" in findings[0], (findings, warning)
    model = _show(directory)
    assert [e["message"].split(";")[0] for e in model["errors"]] == [f"smtpd_banner: {warning[-1]}"]


@pytest.mark.live
def test_nothing_reads_a_cycle_postconf_agrees(tmp_path: Path) -> None:
    directory = _write(tmp_path / "d", "compatibility_level = 3.6\na = $b\nb = $a\n")
    assert postconf(directory, "-n").returncode == 0
    assert _postmap(directory).returncode == 0
    assert _lint(directory)[1] == []
    assert _show(directory)["errors"] == []


@pytest.mark.live
def test_deep_chain_message_is_postconfs(tmp_path: Path) -> None:
    directory = _write(tmp_path / "d", CHAIN_MAIN)
    result = postconf(directory, "-n")
    assert result.returncode != 0
    assert 'warning: unreasonable macro call nesting: "x101"' in result.stderr
    assert "fatal: dictionary mail_dict: macro processing error" in result.stderr
    assert len(_lint(directory)[1]) == 1


def test_an_override_deep_in_a_chain_still_changes_the_service_value(tmp_path: Path) -> None:
    """differing_names() expands only what may reach an `-o` name; the rest is inherited."""
    from pfcheck.postfix.config import load_config_dir

    directory = _write(tmp_path / "d", "compatibility_level = 3.6\n" + _chain(50) + "x50 = end\n"
                       + _chain(3000, "u") + "smtpd_banner = $x0 ESMTP\nmydestination = $u0\n",
                       "smtp inet n - n - - smtpd\nsub inet n - n - - smtpd -o x50=other\n")
    config = load_config_dir(directory)
    scopes = {listener.key: listener.scope for listener in config.listeners()}
    assert scopes["smtp/inet"].value("smtpd_banner") == "end ESMTP"
    assert scopes["sub/inet"].value("smtpd_banner") == "other ESMTP"
    assert "smtpd_banner" in scopes["sub/inet"].differing_names()
    assert "u0" not in config.global_scope._may_reach(config.overridden_names)
    assert scopes["sub/inet"].get("mydestination").error is not None  # u0 .. u101: too deep
