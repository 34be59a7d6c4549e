"""Reading `.pfcheck.yaml` and the built-in default policy into a validated `Policy`.

Every problem is a `PolicyError` carrying a 1-based `path:line:col`; the CLI prints it and
exits 2. The steps: yaml_safe.py (bytes, composing, limits), validate.py (nodes to `Policy`),
model.py (the result); discover.py finds the policy that governs a path.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Optional, Union

from pfcheck.policy.model import MAX_POLICY_BYTES, Policy, PolicyError, rule_specs
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
    root = compose(text, where)
    if root is not None:
        measure(root, where)
    return PolicyValidator(where, rule_specs(rules), skip_unknown_rules).document(root, base, path)


def read_policy_bytes(path: Path) -> bytes:
    try:
        if path.is_dir():
            raise PolicyError(path, 1, 1, "policy path is a directory, not a file")
        with open(path, "rb") as handle:
            data = handle.read(MAX_POLICY_BYTES + 1)
    except PolicyError:
        raise
    except OSError as error:
        raise PolicyError(path, 1, 1, f"cannot read policy file: {error.strerror or error}") from None
    return data


def builtin_policy_text() -> str:
    """The text of `pfcheck/policy/default.yaml`."""
    try:
        from importlib.resources import files

        return files("pfcheck.policy").joinpath("default.yaml").read_text(encoding="utf-8")
    except (ImportError, AttributeError, FileNotFoundError):  # pragma: no cover - unusual installs
        return (Path(__file__).with_name("default.yaml")).read_text(encoding="utf-8")


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
