"""The progress line (pfcheck/progress.py): on a real pseudo-terminal, never in a pipe.

The CLI runs with stderr on a pty (pty.openpty(), what a terminal is to the process) and
stdout on a pipe. PFCHECK_PROGRESS_AFTER=0 lowers the one-second delay so that a short run
shows the line; without it, ProgressLine is tested with a clock the test moves.
"""
from __future__ import annotations

import io
import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import pytest

from pfcheck.progress import ProgressLine
from tests.conftest import ROOT

ERASE = "\r\x1b[K"


def _repo(root: Path, count: int) -> Path:
    for index in range(count):
        directory = root / "hosts" / f"h{index:02d}"
        directory.mkdir(parents=True)
        (directory / "main.cf").write_text(f"compatibility_level = 3.6\nmyhostname = h{index}.example.net\n",
                                           encoding="utf-8")
    (root / ".git").mkdir()
    return root


def _run_on_pty(repo: Path, *arguments: str, delay: str = "0") -> tuple[str, str, int]:
    """(what the terminal showed on stderr, stdout, exit code)."""
    controller, terminal = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PFCHECK_PROGRESS_AFTER": delay}
    process = subprocess.Popen([sys.executable, "-m", "pfcheck", "--policy", "builtin", *arguments, "."],
                               cwd=repo, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=terminal, env=env)
    os.close(terminal)
    shown = b""
    try:
        while True:
            ready, _, _ = select.select([controller], [], [], 120)
            if not ready:
                break
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            shown += chunk
        stdout = process.stdout.read().decode() if process.stdout else ""
        code = process.wait(timeout=120)
    finally:
        os.close(controller)
        if process.poll() is None:
            process.kill()
            process.wait()
    return shown.decode(), stdout, code


def test_progress_line_on_a_terminal(tmp_path: Path) -> None:
    repo = _repo(tmp_path, 12)
    shown, stdout, code = _run_on_pty(repo)
    assert code in (0, 1), stdout
    assert "12/12 directories" in shown
    assert shown.startswith(ERASE) and shown.endswith(ERASE)  # drawn in place, erased at the end
    assert "\n" not in shown  # one line, rewritten: nothing scrolls
    assert "directories" not in stdout and stdout.splitlines()[-1].startswith("12 files")


def test_no_progress_line_with_quiet_or_a_quick_run(tmp_path: Path) -> None:
    repo = _repo(tmp_path, 3)
    shown, _stdout, _code = _run_on_pty(repo, "-q")
    assert shown == ""
    shown, _stdout, _code = _run_on_pty(repo, delay="60")  # a run shorter than the delay
    assert shown == ""


def test_no_progress_line_in_a_pipe(tmp_path: Path) -> None:
    repo = _repo(tmp_path, 12)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PFCHECK_PROGRESS_AFTER": "0"}
    completed = subprocess.run([sys.executable, "-m", "pfcheck", "--policy", "builtin", "."], cwd=repo,
                               capture_output=True, text=True, env=env, timeout=120)
    assert completed.returncode in (0, 1)
    assert "directories" not in completed.stderr and "\r" not in completed.stderr
    assert "directories" not in completed.stdout


def test_progress_line_waits_throttles_and_erases(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [0.0]
    stream = io.StringIO()
    monkeypatch.delenv("PFCHECK_PROGRESS_AFTER", raising=False)
    line = ProgressLine(stream, clock=lambda: now[0])
    line(1, 1000)
    now[0] = 0.9
    line(2, 1000)
    assert stream.getvalue() == ""  # under a second: nothing
    now[0] = 1.2
    line(143, 1000)
    now[0] = 1.25
    line(144, 1000)  # redrawn at most every 0.1 s
    now[0] = 1.4
    line(145, 1000)
    now[0] = 1.41
    line(1000, 1000)  # the last count is always drawn
    line.close()
    assert stream.getvalue() == (f"{ERASE}143/1000 directories{ERASE}145/1000 directories"
                                 f"{ERASE}1000/1000 directories{ERASE}")
    line.close()  # once erased, nothing more
    assert stream.getvalue().count(ERASE) == 4
