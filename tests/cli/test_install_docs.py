"""Every documented install of pfcheck works as written.

The install lines are read from the files users copy them from (README.md, docs/ci.md, both CI
examples, examples/.pre-commit-config.yaml), so an edit to any of them is tested too:

- every `pip install` line that installs pfcheck (not this checkout) installs
  `pfcheck @ git+<PROJECT_URI>@<full SHA>`, and every pre-commit `rev:` of the project's repo is a
  full SHA. There is no release tag and no package index entry yet: a tag or a bare
  `pip install pfcheck` fails here;
- they all pin one commit, the `rev:` of examples/.pre-commit-config.yaml (where the pin is
  kept), and that commit is in this repository's history: an ancestor of HEAD in a fresh
  `git clone` of the project (CI runs on a clean clone of main, so commits only, never tags);
- each distinct pip line runs as written, in bash, into a fresh virtualenv, with only the
  project URL replaced by the local clone (`git+file://localhost/...`: the pip of Python
  3.9-3.11 refuses `git+file:///...` in a `name @ url` requirement). Build isolation and the
  dependency come from the package index pip is configured with (offline here: the local wheel
  directories); the installed pfcheck must come from the venv, print its version
  (`pfcheck --version` == `pfcheck.__version__` == the installed distribution's version ==
  the pinned commit's pfcheck/__init__.py), list every flag the CI examples use, and report a
  VRFY finding (exit 1) on a small config;
- each pre-commit config (the README's snippet and examples/.pre-commit-config.yaml) runs
  through real pre-commit (`pre-commit run pfcheck --all-files` and
  `pre-commit run pfcheck-all --hook-stage manual`) in a temp config repo, with `repo:`
  replaced by the local clone: pre-commit checks out the pinned commit, builds the hook's
  environment and runs pfcheck, which must fail on the VRFY finding.
"""
from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator, NamedTuple

import pytest
from ruamel.yaml import YAML

from pfcheck.cli import PROJECT_URI
from tests.cli.test_ci_examples import _pfcheck_commands
from tests.cli.test_hook import (
    MX_MAIN_CF,
    MX_MASTER_CF,
    PFCHECK_ALL_NAME,
    PFCHECK_NAME,
    POLICY,
    VRFY_LINE,
    VRFY_ON,
    VRFY_VALUE_COLUMN,
    _clean_env,
    _git,
    _hook_output,
    _require_tools,
    _run,
    _status_line,
)
from tests.conftest import ROOT

pytestmark = pytest.mark.slow

PRE_COMMIT_CONFIG = ROOT / "examples" / ".pre-commit-config.yaml"
DOCUMENTED = [ROOT / "README.md", ROOT / "docs" / "ci.md", ROOT / "examples" / "ci" / "github-actions.yml",
              ROOT / "examples" / "ci" / "gitlab-ci.yml", PRE_COMMIT_CONFIG]
SHA = re.compile(r"[0-9a-f]{40}")
GIT_INSTALL = re.compile(r'pip install (?:-q )?"pfcheck @ git\+' + re.escape(PROJECT_URI) + r'@([^"]*)"')
# Installs of this checkout (README's "Try it" and test commands): tested by test_project.py.
CHECKOUT_INSTALL = re.compile(r"pip install (?:-q )?(?:-e )?(?:\.|'\.\[test\]')(?:\s|$)")
HOOK_IDS = ("pfcheck", "pfcheck-all")


class Line(NamedTuple):
    path: Path
    number: int
    text: str

    def __str__(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.number}: {self.text}"


def _lines(needle: str) -> list[Line]:
    return [Line(path, number, line.strip())
            for path in DOCUMENTED
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
            if needle in line]


def _pip_lines() -> list[Line]:
    """Every pip line that installs pfcheck from somewhere other than this checkout."""
    found = [line for line in _lines("pip install") if not CHECKOUT_INSTALL.search(line.text)]
    assert found, "no documented pip install of pfcheck"
    return found


def _pip_command(line: Line) -> str:
    """The shell command of a line: a YAML `- run:` / `- ` item or a bare shell line."""
    match = re.search(r"pip install .*$", line.text)
    assert match, str(line)
    return match.group(0)


def _yaml_blocks(path: Path) -> list[str]:
    return re.findall(r"```yaml\n(.+?)\n```", path.read_text(encoding="utf-8"), flags=re.S)


def _pre_commit_configs() -> dict[str, str]:
    """name -> text of every documented pre-commit config naming the project's repository."""
    configs = {"examples/.pre-commit-config.yaml": PRE_COMMIT_CONFIG.read_text(encoding="utf-8")}
    for path in DOCUMENTED:
        for index, block in enumerate(_yaml_blocks(path)):
            if PROJECT_URI in block:
                configs[f"{path.relative_to(ROOT)} yaml block {index + 1}"] = block
    assert len(configs) >= 2, configs  # the example and the README's snippet
    return configs


def _project_repos(text: str) -> list[dict[str, Any]]:
    repos = [repo for repo in YAML(typ="safe", pure=True).load(text)["repos"] if repo["repo"] == PROJECT_URI]
    assert repos, text
    return repos


def _pinned() -> str:
    (repo,) = _project_repos(PRE_COMMIT_CONFIG.read_text(encoding="utf-8"))
    return str(repo["rev"])


# --------------------------------------------------------------------------------------
# Static: one pin, a full SHA, everywhere


def test_every_install_pins_the_same_full_commit() -> None:
    pinned = _pinned()
    assert SHA.fullmatch(pinned), f"examples/.pre-commit-config.yaml rev {pinned!r} is not a full commit SHA"
    for line in _pip_lines():
        match = GIT_INSTALL.search(line.text)
        assert match, f"not an install from the git repository: {line}"
        assert match.group(1) == pinned, f"pins {match.group(1)!r}, examples/.pre-commit-config.yaml {pinned}: {line}"
    for name, text in _pre_commit_configs().items():
        for repo in _project_repos(text):
            assert str(repo["rev"]) == pinned, f"{name}: rev {repo['rev']!r}, expected {pinned}"
            assert {hook["id"] for hook in repo["hooks"]} <= set(HOOK_IDS), name
    # Every `rev:` line of these files is one of the configs above (none left unparsed).
    revs = [line for line in _lines("rev:") if re.match(r"(?:-\s*)?rev:", line.text)]
    assert revs and all(pinned in line.text for line in revs), [str(line) for line in revs]
    # The docs say why there is no tag to pin.
    for path in (ROOT / "README.md", ROOT / "docs" / "ci.md"):
        assert "no release tag yet" in path.read_text(encoding="utf-8"), path


# --------------------------------------------------------------------------------------
# A local clone of the project, and the pinned commit in it


class Clone(NamedTuple):
    path: Path
    env: dict[str, str]


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Clone:
    _require_tools()
    base = tmp_path_factory.mktemp("install-docs")
    env = _clean_env(base / "unused-home")
    shallow = _run(["git", "rev-parse", "--is-shallow-repository"], ROOT, env)
    if shallow.returncode != 0:
        pytest.skip(f"{ROOT} is not a git checkout: {shallow.stderr.strip()}")
    assert shallow.stdout.strip() == "false", \
        f"{ROOT} is a shallow clone: the pinned commit may be missing (git fetch --unshallow)"
    path = base / "pfcheck"
    _git(base, env, "clone", "-q", "--no-hardlinks", str(ROOT), str(path))
    return Clone(path, env)


def test_pinned_commit_is_in_the_history_and_has_the_hooks(clone: Clone) -> None:
    pinned = _pinned()
    exists = _run(["git", "cat-file", "-e", f"{pinned}^{{commit}}"], clone.path, clone.env)
    assert exists.returncode == 0, f"{pinned} is not a commit of {ROOT}"
    ancestor = _run(["git", "merge-base", "--is-ancestor", pinned, "HEAD"], clone.path, clone.env)
    assert ancestor.returncode == 0, f"{pinned} is not an ancestor of HEAD"
    manifest = YAML(typ="safe", pure=True).load(_git(clone.path, clone.env, "show", f"{pinned}:.pre-commit-hooks.yaml"))
    assert set(HOOK_IDS) <= {hook["id"] for hook in manifest}


def _version_at(clone: Clone, rev: str) -> str:
    source = _git(clone.path, clone.env, "show", f"{rev}:pfcheck/__init__.py")
    match = re.search(r'^__version__ = "([^"]+)"$', source, flags=re.M)
    assert match, "pfcheck/__init__.py has no __version__"
    return match.group(1)


def _config_with_a_finding(path: Path) -> Path:
    """hosts/mx answers VRFY (PF101 on both smtpd listeners)."""
    for name, text in (("hosts/mx/main.cf", MX_MAIN_CF.replace("disable_vrfy_command = yes", VRFY_ON)),
                       ("hosts/mx/master.cf", MX_MASTER_CF), (".pfcheck.yaml", POLICY)):
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text, encoding="utf-8")
    return path


VRFY_FINDING = f"hosts/mx/main.cf:{VRFY_LINE}:{VRFY_VALUE_COLUMN}: PF101 vrfy-enabled: smtp/inet answers VRFY"


# --------------------------------------------------------------------------------------
# pip


def _distinct_pip_commands() -> list[str]:
    return sorted({_pip_command(line) for line in _pip_lines()})


@pytest.mark.parametrize("command", _distinct_pip_commands(),
                         ids=lambda command: command.split('"', 1)[0].strip().replace(" ", "_"))
def test_pip_line_installs_a_working_pfcheck(command: str, clone: Clone, tmp_path: Path) -> None:
    local = command.replace(f"git+{PROJECT_URI}@", f"git+file://localhost{clone.path.as_posix()}@")
    assert local != command
    venv = tmp_path / "venv"
    created = _run([sys.executable, "-m", "venv", str(venv)], tmp_path, clone.env)
    assert created.returncode == 0, created.stderr
    env = dict(clone.env, PATH=f"{venv / 'bin'}:{clone.env.get('PATH', '')}", VIRTUAL_ENV=str(venv))
    env.pop("PYTHONPATH", None)
    installed = _run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", local], tmp_path, env)
    assert installed.returncode == 0, f"{local}\n{installed.stdout}\n{installed.stderr}"

    pfcheck = venv / "bin" / "pfcheck"
    python = venv / "bin" / "python"
    where = _run([str(python), "-c", "import pfcheck; print(pfcheck.__file__)"], tmp_path, env)
    assert where.returncode == 0 and where.stdout.strip().startswith(str(venv)), where.stdout + where.stderr
    expected = _version_at(clone, _pinned())
    version = _run([str(pfcheck), "--version"], tmp_path, env)
    assert version.returncode == 0 and version.stdout == f"pfcheck {expected}\n", version.stdout + version.stderr
    metadata = _run([str(python), "-c", "import importlib.metadata as m, pfcheck; "
                     "print(pfcheck.__version__, m.version('pfcheck'))"], tmp_path, env)
    assert metadata.stdout.split() == [expected, expected], metadata.stdout + metadata.stderr

    # The installed commit knows every flag the CI examples pass it.
    help_text = _run([str(pfcheck), "--help"], tmp_path, dict(env, COLUMNS="200")).stdout
    listed = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", help_text))
    for example, argv in _pfcheck_commands().items():
        used = {token.split("=", 1)[0] for token in argv if token.startswith("--")}
        assert used <= listed, (example, used - listed)

    configs = _config_with_a_finding(tmp_path / "configs")
    run = _run([str(pfcheck), "--format", "text", "."], configs, env)
    assert run.returncode == 1, run.stdout + run.stderr
    assert VRFY_FINDING in run.stdout, run.stdout
    assert "Traceback" not in run.stderr


# --------------------------------------------------------------------------------------
# pre-commit


@pytest.fixture
def config_repo(tmp_path: Path, clone: Clone) -> Iterator[tuple[Path, dict[str, str]]]:
    path = _config_with_a_finding(tmp_path / "postfix-configs")
    env = _clean_env(tmp_path / "pre-commit-home")
    _git(path, env, "init", "-q")
    for key, value in (("user.name", "Postmaster"), ("user.email", "postmaster@example.net"), ("commit.gpgsign", "false")):
        _git(path, env, "config", key, value)
    yield path, env


def test_pre_commit_configs_run_the_pinned_hooks(config_repo: tuple[Path, dict[str, str]], clone: Clone) -> None:
    """Both documented configs share one PRE_COMMIT_HOME: same repo and rev, one environment."""
    path, env = config_repo
    for name, text in _pre_commit_configs().items():
        local = text.replace(f"repo: {PROJECT_URI}", f"repo: {clone.path.as_posix()}")
        assert local != text, name
        (path / ".pre-commit-config.yaml").write_text(local, encoding="utf-8")
        _git(path, env, "add", "-A")
        _git(path, env, "commit", "-q", "--no-verify", "--allow-empty", "-m", name)

        hook = _run([sys.executable, "-m", "pre_commit", "run", "pfcheck", "--all-files", "--color", "never"], path, env)
        output = hook.stdout + hook.stderr
        assert hook.returncode == 1, f"{name}\n{output}"
        assert _status_line(hook.stdout, PFCHECK_NAME) == "Failed", output
        section = _hook_output(hook.stdout, "pfcheck")
        assert "- exit code: 1" in section and VRFY_FINDING in section, f"{name}\n{section}"

        manual = _run([sys.executable, "-m", "pre_commit", "run", "pfcheck-all", "--hook-stage", "manual",
                       "--color", "never"], path, env)
        assert manual.returncode == 1, f"{name}\n{manual.stdout}{manual.stderr}"
        assert _status_line(manual.stdout, PFCHECK_ALL_NAME) == "Failed", manual.stdout
        assert VRFY_FINDING in _hook_output(manual.stdout, "pfcheck-all"), manual.stdout
    # pre-commit checked out the pinned commit (its store holds a clone at that rev).
    store = Path(env["PRE_COMMIT_HOME"])
    heads = {_git(repo, env, "rev-parse", "HEAD").strip() for repo in store.glob("repo*") if (repo / ".git").exists()}
    assert heads == {_pinned()}, heads


def test_cli_version_is_the_package_version() -> None:
    """`pfcheck --version` of this checkout prints pfcheck.__version__, its one definition."""
    from pfcheck import __version__

    result = subprocess.run([sys.executable, "-m", "pfcheck", "--version"], capture_output=True, text=True,
                            cwd=ROOT, timeout=60, check=False)
    assert result.returncode == 0 and result.stdout == f"pfcheck {__version__}\n", result.stdout + result.stderr
    assert shlex.split(result.stdout) == ["pfcheck", __version__]
