"""Reading `.pfcheck.yaml` and the built-in default policy into a validated `Policy`.

Every problem is a `PolicyError` carrying a 1-based `path:line:col`; the CLI prints it and
exits 2. The steps: yaml_safe.py (bytes, composing, limits), validate.py (nodes to `Policy`),
model.py (the result); discover.py finds the policy that governs a path.
"""
from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any, Mapping, Optional, Union

from pfcheck.policy.model import MAX_POLICY_BYTES, Policy, PolicyError, rule_specs
from pfcheck.policy.tiny_yaml import compose_plain
from pfcheck.policy.validate import PolicyValidator
from pfcheck.policy.yaml_safe import check_flow_depth, compose, decode_policy_text, measure


# --------------------------------------------------------------------------------------------
# Loading


def parse_policy(
    data: Union[bytes, str],
    rules: Mapping[str, Any],
    *,
    path: Optional[Path] = None,
    base: Optional[Policy] = None,
    skip_unknown_rules: bool = False,
) -> Policy:
    """Validate policy text. `path` is where it came from (for messages and waiver globs);
    `base` is the policy it is layered on (None: rule defaults only)."""
    where: Union[str, Path, None] = path
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    if len(data) > MAX_POLICY_BYTES:
        raise PolicyError(where, 1, 1, f"policy file is larger than {MAX_POLICY_BYTES} bytes")
    text = decode_policy_text(data, where)
    check_flow_depth(text, where)
    # The plain YAML the built-in policy (and many policy files) is written in needs no
    # ruamel.yaml; anything beyond that subset is composed by ruamel.yaml.
    root = compose_plain(text)
    if root is None:
        root = compose(text, where)
    if root is not None:
        measure(root, where)
    return PolicyValidator(where, rule_specs(rules), skip_unknown_rules).document(root, base, path)


def read_policy_bytes(path: Path, *, discovered: bool = False) -> bytes:
    """The policy file's bytes (at most MAX_POLICY_BYTES + 1). Only a regular file is opened (a
    FIFO would block); a `discovered` one (found next to the configs, part of the repository)
    also only when its real path is inside the repository: a `.pfcheck.yaml` symlink to a
    file elsewhere is refused, and nothing of that file is ever quoted."""
    from pfcheck.postfix.source import FileTooLarge, read_bounded
    from pfcheck.repository import IS_DIRECTORY, NO_SUCH_FILE, find_repo_root, refusal

    root = find_repo_root(Path(os.path.abspath(path)).parent) if discovered else None
    real, reason = refusal(path, root)
    if real is None:
        if reason == IS_DIRECTORY:
            raise PolicyError(path, 1, 1, "policy path is a directory, not a file")
        if reason == NO_SUCH_FILE:
            reason = os.strerror(errno.ENOENT)  # the wording this error always had
        raise PolicyError(path, 1, 1, f"cannot read policy file: {reason}")
    try:
        return read_bounded(real, limit=MAX_POLICY_BYTES)
    except FileTooLarge:
        raise PolicyError(path, 1, 1, f"policy file is larger than {MAX_POLICY_BYTES} bytes") from None
    except OSError as error:
        raise PolicyError(path, 1, 1, f"cannot read policy file: {error.strerror or error}") from None


def builtin_policy_text() -> str:
    """The text of `pfcheck/policy/default.yaml`."""
    # Beside this module in every install pip makes; importlib.resources (and the zipfile
    # module it imports, ~5 ms of a hook run) only for a zipped package.
    try:
        return Path(__file__).with_name("default.yaml").read_text(encoding="utf-8")
    except OSError:  # pragma: no cover - a zip import
        from importlib.resources import files

        return files("pfcheck.policy").joinpath("default.yaml").read_text(encoding="utf-8")


def default_policy(rules: Mapping[str, Any]) -> Policy:
    """The built-in default policy, over the given rule registry (entries in default.yaml for
    rules the registry lacks are skipped; everything else is validated strictly)."""
    return parse_policy(builtin_policy_text(), rules, path=None, base=None, skip_unknown_rules=True)


def load_policy(path: Optional[Path], rules: Mapping[str, Any]) -> Policy:
    """Load and validate the policy at `path` (None: the built-in default policy).

    A policy file is layered on the built-in default policy: top-level keys and rules it does
    not mention keep their built-in values. Raises `PolicyError`.
    """
    builtin = default_policy(rules)
    if path is None:
        return builtin
    return parse_policy(read_policy_bytes(Path(path)), rules, path=Path(path), base=builtin)
