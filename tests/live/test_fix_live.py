"""`pfcheck --fix` against real Postfix: postconf before and after, and a live VRFY probe.

For a matrix of configs (the example hosts, generated ones, and `../shared/corpus/real` when
it is present; that part is skipped when it is absent), the config is copied into a temp git
repository, `postconf -c DIR -n`, `-M` and `-P` are read before and after `pfcheck --fix`,
and they must differ only in the intended parameters (the parameters of the findings that
were fixable and are gone). Then a private live Postfix (tests/support/live_postfix.py)
answers VRFY before the fix and `502` (disabled) after it.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Callable

import pytest

from pfcheck.cli import main
from tests.support.live_postfix import ACCEPTED, DISABLED, HELPER_SERVICES, live_postfix  # noqa: F401  (pytest fixture)
from tests.support.postfix_oracle import need_postconf, postconf

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p for p in (ROOT / "examples" / "hosts").iterdir() if (p / "main.cf").exists())
CORPUS = ROOT.parent / "shared" / "corpus" / "real"
#: At most this many corpus configs (each costs a lint, a fix and six postconf runs).
CORPUS_LIMIT = 25
GENERATED = {
    "main-no": {"main.cf": "compatibility_level = 3.6\nmyhostname = mx.example.com\ndisable_vrfy_command = no\n"},
    "unset": {"main.cf": "compatibility_level = 3.6\nmyhostname = mx.example.com\n"},
    "comment": {"main.cf": "compatibility_level = 3.6\nmyhostname = mx.example.com\n"
                           "smtpd_helo_required = yes # be strict\ndisable_vrfy_command = yes # no VRFY\n"},
    "o-no": {"main.cf": "compatibility_level = 3.6\nmyhostname = mx.example.com\ndisable_vrfy_command = yes\n",
             "master.cf": "smtp inet n - y - - smtpd\n  -o disable_vrfy_command=no\n"
                          "submission inet n - y - - smtpd -o {disable_vrfy_command = no} -o syslog_name=sub\n"},
}


def _postconf_views(directory: Path) -> dict[str, list[str]]:
    views = {"-n": postconf(directory, "-n").stdout.splitlines()}
    if (directory / "master.cf").exists():
        views["-M"] = postconf(directory, "-M").stdout.splitlines()
        views["-P"] = postconf(directory, "-P").stdout.splitlines()
    return views


def _without(views: dict[str, list[str]], names: set[str]) -> dict[str, list[str]]:
    """The views with every line (-n, -P) or `-o` option (-M) of `names` taken out."""
    pattern = "|".join(re.escape(name) for name in sorted(names)) or "(?!)"
    return {
        "-n": [l for l in views["-n"] if not re.match(rf"({pattern}) =", l)],
        **({"-P": [l for l in views["-P"] if not re.match(rf"[^/]+/[^/]+/({pattern}) =", l)],
            "-M": [re.sub(rf"\s+-o\s+({pattern})=\S*", "", l) for l in views["-M"]]} if "-M" in views else {}),
    }


def _fix(directory: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """Run --fix on the directory; the parameters of the fixable findings it removed."""
    monkeypatch.chdir(directory.parent)
    def fixable() -> set[tuple[str, str]]:
        main(["--policy", "builtin", "--format", "json", directory.name])
        document = json.loads(capsys.readouterr().out)
        return {(f["code"], f["parameter"]) for f in document["findings"] if f["fixable"]}
    before = fixable()
    main(["--policy", "builtin", "--fix", "--quiet", directory.name])
    capsys.readouterr()
    return {parameter for _code, parameter in before - fixable()}


def _copy(source: Path, tmp_path: Path) -> Path:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    target = tmp_path / "host"
    shutil.copytree(source, target, symlinks=True)
    return target


def _check(directory: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> set[str]:
    before = _postconf_views(directory)
    intended = _fix(directory, capsys, monkeypatch)
    after = _postconf_views(directory)
    assert _without(before, intended) == _without(after, intended), intended
    return intended


@pytest.mark.parametrize("source", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_examples_differ_only_in_the_intended_parameter(source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    need_postconf()
    _check(_copy(source, tmp_path / "repo"), capsys, monkeypatch)


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_generated_differ_only_in_the_intended_parameter(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    need_postconf()
    source = tmp_path / "source"
    source.mkdir()
    for file, text in GENERATED[name].items():
        (source / file).write_text(text)
    intended = _check(_copy(source, tmp_path / "repo"), capsys, monkeypatch)
    assert "disable_vrfy_command" in intended or name == "comment"
    if name == "comment":
        assert intended == {"smtpd_helo_required", "disable_vrfy_command"}


def test_corpus_differs_only_in_the_intended_parameter(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    need_postconf()
    if not CORPUS.is_dir():
        pytest.skip("../shared/corpus/real is absent (clean clone)")
    directories = sorted(p for p in CORPUS.iterdir() if (p / "main.cf").is_file())[:CORPUS_LIMIT]
    fixed = 0
    for index, source in enumerate(directories):
        directory = _copy(source, tmp_path / f"repo{index}")
        fixed += bool(_check(directory, capsys, monkeypatch))
    assert fixed > 0, "no corpus config had a proven fix"


def test_vrfy_answers_502_after_the_fix(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch, live_postfix: Callable[..., object]) -> None:
    source = tmp_path / "source"
    source.mkdir()
    # smtpd runs the recipient restrictions on VRFY: these let an outside client's VRFY root
    # through, so that the answer is disable_vrfy_command's (test_vrfy_mynetworks_live.py).
    (source / "main.cf").write_text("compatibility_level = 3.6\nmyhostname = mx.example.com\n"
                                    "smtpd_relay_restrictions = permit_auth_destination, permit_mynetworks, reject\n"
                                    "smtpd_recipient_restrictions =\n")
    (source / "master.cf").write_text("smtp inet n - n - - smtpd\n  -o disable_vrfy_command=no\n")
    directory = _copy(source, tmp_path / "repo")
    # The live instance also needs the unix helper services (the fixed files stay as fixed).
    before = live_postfix((directory / "main.cf").read_text(), (directory / "master.cf").read_text() + HELPER_SERVICES)
    reply = before.vrfy()  # type: ignore[attr-defined]
    assert reply.outcome == ACCEPTED, reply.transcript
    before.stop()  # type: ignore[attr-defined]
    assert _fix(directory, capsys, monkeypatch) == {"disable_vrfy_command"}
    after = live_postfix((directory / "main.cf").read_text(), (directory / "master.cf").read_text() + HELPER_SERVICES)
    assert after.vrfy().outcome == DISABLED  # type: ignore[attr-defined]
