"""What the live rule tests share: run pfcheck as a user does on a case's files."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Set

from pfcheck.cli import main as pfcheck_main


def pfcheck_findings(main_cf: str, master_cf: str, files: Dict[str, str], root: Path,
                     policy: Optional[str] = None) -> List[Dict[str, Any]]:
    """The JSON findings of pfcheck on a repo of main.cf, master.cf and `files` (by
    /etc/postfix path; placed beside main.cf), under `policy` (the text of a policy file) or
    the built-in policy."""
    repo = root / "repo"
    repo.mkdir()
    (repo / "main.cf").write_text(main_cf)
    (repo / "master.cf").write_text(master_cf)
    for path, text in files.items():
        (repo / Path(path).name).write_text(text)
    arguments = []
    if policy is not None:
        (root / "policy.yaml").write_text(policy)
        arguments = ["--policy", str(root / "policy.yaml")]
    output = root / "findings.json"
    status = pfcheck_main(["--format", "json", "--output-file", str(output), *arguments, str(repo)])
    assert status in (0, 1), f"pfcheck exited {status}"
    findings: List[Dict[str, Any]] = json.loads(output.read_text())["findings"]
    return findings


def services_flagged(code: str, main_cf: str, master_cf: str, files: Dict[str, str], root: Path) -> Set[str]:
    """The listeners rule `code` reports (pfcheck_findings() under the built-in policy)."""
    return {finding["service"] for finding in pfcheck_findings(main_cf, master_cf, files, root)
            if finding["code"] == code}
