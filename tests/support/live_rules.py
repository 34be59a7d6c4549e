"""What the live rule tests share: run pfcheck as a user does on a case's files."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, Set

from pfcheck.cli import main as pfcheck_main


def services_flagged(code: str, main_cf: str, master_cf: str, files: Dict[str, str], root: Path) -> Set[str]:
    """The listeners rule `code` reports when pfcheck checks a repo of main.cf, master.cf and
    `files` (by /etc/postfix path; placed beside main.cf) under the built-in policy."""
    repo = root / "repo"
    repo.mkdir()
    (repo / "main.cf").write_text(main_cf)
    (repo / "master.cf").write_text(master_cf)
    for path, text in files.items():
        (repo / Path(path).name).write_text(text)
    output = root / "findings.json"
    status = pfcheck_main(["--format", "json", "--output-file", str(output), str(repo)])
    assert status in (0, 1), f"pfcheck exited {status}"
    return {finding["service"] for finding in json.loads(output.read_text())["findings"] if finding["code"] == code}
