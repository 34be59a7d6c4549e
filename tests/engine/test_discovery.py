"""From a named path to the config directories it affects (pfcheck.discovery, pfcheck.references).

Every test runs the real CLI in-process on real files in a temp directory (a git repo where
the search root matters) and reads the JSON output.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from pfcheck.cli import main
from pfcheck.references import ReverseIndex

SMTPD = "smtp      inet  n       -       y       -       -       smtpd\n"
BASE_MAIN = (
    "compatibility_level = 3.6\nmyhostname = mx.example.net\nmynetworks = 127.0.0.0/8\n"
    "disable_vrfy_command = yes\n"
    "smtpd_forbid_bare_newline = normalize\nsmtpd_forbid_unauth_pipelining = yes\n"
    "show_user_unknown_table_name = no\n"
)
OPEN = "0.0.0.0/0 OK\n"


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def lint(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict]:
    code = main(["--policy", "builtin", "--format", "json", *args])
    out = capsys.readouterr().out
    return code, json.loads(out)


def located(document: dict) -> set[tuple[str, str]]:
    return {(f["path"], f["code"]) for f in document["findings"]}


def relay_main(table: str, extra: str = "") -> str:
    return BASE_MAIN + extra + f"smtpd_relay_restrictions = check_client_access {table}, reject_unauth_destination\n"


def test_an_override_in_master_cf_that_names_a_table(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(repo, {
        "mx/main.cf": BASE_MAIN,
        "mx/master.cf": SMTPD + "  -o smtpd_relay_restrictions=check_client_access,cidr:/etc/postfix/sub.cidr,"
                                "reject_unauth_destination\n",
        "mx/sub.cidr": OPEN,
    })
    code, document = lint(capsys, "mx/sub.cidr")
    assert ("mx/master.cf", "PF301") in located(document) and code == 1


def test_a_mynetworks_list_file(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(repo, {
        "mx/main.cf": BASE_MAIN.replace("mynetworks = 127.0.0.0/8", "mynetworks = $config_directory/trusted"),
        "mx/master.cf": SMTPD,
        "mx/trusted": "127.0.0.0/8\n0.0.0.0/0\n",
    })
    code, document = lint(capsys, "mx/trusted")
    assert ("mx/trusted", "PF201") in located(document), document


def test_a_table_behind_a_directory_symlink(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(repo, {
        "hosts/mx/main.cf": relay_main("cidr:/etc/postfix/maps/clients.cidr"),
        "hosts/mx/master.cf": SMTPD,
        "hosts/other/main.cf": BASE_MAIN,
        "common/maps/clients.cidr": OPEN,
    })
    (repo / "hosts/mx/maps").symlink_to("../../common/maps")
    code, document = lint(capsys, "common/maps/clients.cidr")
    assert ("hosts/mx/main.cf", "PF301") in located(document)
    assert not any(path.startswith("hosts/other/") for path, _ in located(document))
    assert document["summary"]["files"] == 3  # main.cf, master.cf and the named table


def test_a_table_named_outside_the_config_directory_maps_to_its_basename(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # /usr/local/etc/x.cidr is not below /etc/postfix: pfcheck (like its table resolver) looks
    # for it next to main.cf.
    write(repo, {"mx/main.cf": relay_main("cidr:/usr/local/etc/x.cidr"), "mx/master.cf": SMTPD, "mx/x.cidr": OPEN})
    _, document = lint(capsys, "mx/x.cidr")
    assert ("mx/main.cf", "PF301") in located(document)


def test_files_that_belong_to_no_config_are_counted(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(repo, {"mx/main.cf": BASE_MAIN, "mx/master.cf": SMTPD, "mx/NOTES": "0.0.0.0/0 OK\n", "README.md": "x\n"})
    code, document = lint(capsys, "mx/NOTES", "README.md")
    assert code == 0 and document["findings"] == [] and document["summary"]["files"] == 0
    assert document["summary"]["unrelated_files"] == 2
    assert main(["--policy", "builtin", "mx/NOTES", "README.md"]) == 0
    assert "2 files are not part of a Postfix config" in capsys.readouterr().out


def test_only_candidate_directories_are_parsed(repo: Path) -> None:
    """Without symlinks a file can only be named by the config directories above it."""
    for index in range(20):
        write(repo, {f"hosts/h{index}/main.cf": BASE_MAIN})
    write(repo, {"hosts/h3/table": OPEN})
    index = ReverseIndex(repo)
    assert index.directories_for(repo / "hosts/h3/table") == []  # h3 names no table
    assert set(index._references) == {repo / "hosts/h3"}


def test_a_deleted_config_directory_is_not_judged(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pfcheck.discovery import discover

    write(repo, {"mx/main.cf": BASE_MAIN})
    found = discover([], deleted=["gone/main.cf", "gone/master.cf", "gone/.pfcheck.yaml", "mx/old.cidr"])
    assert found.targets == [] and found.unrelated == [repo / "mx/old.cidr"]


# --- templates by name, and the policy's exclude: -------------------------------------------

@pytest.mark.parametrize("name", ["main.cf.j2", "main.cf.erb", "master.cf.tmpl", "main.cf.jinja2", "main.cf.in"])
def test_templates_by_name_are_not_checked(name: str, repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # No template syntax inside: the name alone says that Postfix never reads this file.
    write(repo, {f"roles/postfix/{name}": "mynetworks = 0.0.0.0/0\n"})
    for named in (f"roles/postfix/{name}", "roles"):
        _, document = lint(capsys, named)
        assert [(f["code"], f["path"]) for f in document["findings"]] == [("PF900", f"roles/postfix/{name}")]
        assert "by its file name" in document["findings"][0]["message"]


def test_template_with_markers_names_its_language(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(repo, {"t/main.cf.j2": "compatibility_level = 3.6\nmynetworks = {{ nets | join(' ') }}\n"})
    _, document = lint(capsys, "t")
    (finding,) = document["findings"]
    assert finding["code"] == "PF900" and finding["line"] == 2 and "Jinja2" in finding["message"]


def test_exclude_skips_templates_and_configs(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(repo, {
        ".pfcheck.yaml": 'version: 1\nexclude: ["templates/**", "fixtures/broken"]\n',
        "templates/mx/main.cf.j2": "mynetworks = {{ x }}\n",
        "templates/mx/main.cf": "mynetworks = 0.0.0.0/0\n",
        "fixtures/broken/main.cf": "this is not a config\n",
        "mx/main.cf": BASE_MAIN, "mx/master.cf": SMTPD,
    })
    code = main(["--format", "json", "."])
    document = json.loads(capsys.readouterr().out)
    assert code == 0 and document["findings"] == [], document
    assert document["summary"]["excluded_files"] == 3
    assert main(["."]) == 0
    assert "3 files excluded by the policy" in capsys.readouterr().out


@pytest.mark.parametrize(("pattern", "message"), [
    ('"/etc/postfix/**"', "must be relative"),
    ('"../other"', 'must not leave'),
    ("{a: b}", "must be"),
])
def test_exclude_errors_have_positions(pattern: str, message: str, repo: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    write(repo, {".pfcheck.yaml": f"version: 1\nexclude: [{pattern}]\n", "mx/main.cf": BASE_MAIN})
    assert main(["mx"]) == 2
    error = capsys.readouterr().err
    assert error.startswith(".pfcheck.yaml:2:") or ".pfcheck.yaml:2:" in error, error
    assert message in error



def test_the_policy_option_file_rejudges_everything(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(repo, {"policies/prod.yaml": "version: 1\n", "mx/main.cf": BASE_MAIN + "disable_vrfy_command = no\n",
                 "mx/master.cf": SMTPD})
    assert main(["--policy", "policies/prod.yaml", "--format", "json", "policies/prod.yaml"]) == 1
    assert ("mx/main.cf", "PF101") in located(json.loads(capsys.readouterr().out))
