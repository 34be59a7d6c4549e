"""The built-in policy without ruamel.yaml (issue 12, "Start faster").

`pfcheck.policy.tiny_yaml.compose_plain()` reads the plain YAML subset default.yaml is written in.
Nothing is generated or hand-copied: default.yaml is read as it is on every run, so entries other
engineers add to it are seen at once. What is proved here:

* default.yaml is inside the subset (else a plain run would import ruamel.yaml again), and its
  nodes (tag, value, line, column, recursively) are ruamel.yaml's;
* the validated built-in policy equals the one validated from ruamel.yaml's nodes;
* on generated documents, mixing the subset with constructs outside it, the reader either
  declines (None) or gives exactly ruamel.yaml's nodes;
* a plain run (no policy file) does not import ruamel.yaml.
"""
from __future__ import annotations

import subprocess
import sys
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pfcheck.policy.load import builtin_policy_text, parse_policy
from pfcheck.policy.tiny_yaml import compose_plain
from pfcheck.policy.yaml_safe import compose, node_tag
from pfcheck.rules import RULES
from tests.conftest import ROOT


def _tree(node: Any) -> Any:
    """A node as comparable data: tag, position and value (children recursively)."""
    value = node.value
    if isinstance(value, list):
        value = [tuple(_tree(part) for part in item) if isinstance(item, tuple) else _tree(item) for item in value]
    return (node_tag(node), node.start_mark.line, node.start_mark.column, value)


def test_default_yaml_is_read_without_ruamel_and_gives_ruamel_s_nodes() -> None:
    text = builtin_policy_text()
    plain = compose_plain(text)
    assert plain is not None, "default.yaml left the subset tiny_yaml reads: extend it, or keep default.yaml plain"
    assert _tree(plain) == _tree(compose(text, None))


def test_the_built_in_policy_is_the_one_ruamel_s_nodes_give(monkeypatch: Any) -> None:
    import pfcheck.policy.load as load

    fast = parse_policy(builtin_policy_text(), RULES, skip_unknown_rules=True)
    monkeypatch.setattr(load, "compose_plain", lambda text: None)
    slow = parse_policy(builtin_policy_text(), RULES, skip_unknown_rules=True)
    assert fast == slow
    assert repr(fast) == repr(slow)


_WORDS = st.sampled_from(["off", "error", "warning", "info", "allow", "deny", "true", "True", "FALSE", "null", "~",
                          "yes", "no", "on", "1", "0", "12", "010", "3.7", "1.5", "2024-01-01", "a_b", "x-y", "a.b",
                          "PF201", "http://x", "a b", "a:b", "a #b", "a#b", "", "-", "'q'", "\"3.7\"", "\"a # b\"",
                          "'it''s'", "\"a\\tb\"", "[1, 2]", "[]", "[ ]", "[a, ]", "[a,b]", "[\"x, y\"]", "[[a]]",
                          "[{a: b}]", "[a b]", "[\"[::1]/128\" , 'q']", "[a] x", "[\"a\"b]", "[a, #x]", "{a: b}", "{severity: off}", "{ severity: off,x: 1 }",
                          "&anchor x", "*alias", "!!str x", "|", ">", "\"unterminated", "\u00e9t\u00e9", "\"\x07\""])
_KEYS = st.sampled_from(["rules", "PF101", "severity", "options", "allowed", "version", "\"quoted key\"", "a-b",
                         "a.b", "? x", "- item", "k", "k"])


@st.composite
def _documents(draw: Any) -> str:
    lines = []
    for _ in range(draw(st.integers(1, 12))):
        indent = " " * draw(st.sampled_from([0, 0, 2, 4, 1, 3]))
        kind = draw(st.sampled_from(["pair", "pair", "open", "item", "comment", "blank"]))
        comment = draw(st.sampled_from(["", "", "  # note", " #x", "#x"]))
        if kind == "pair":
            lines.append(f"{indent}{draw(_KEYS)}: {draw(_WORDS)}{comment}")
        elif kind == "open":
            lines.append(f"{indent}{draw(_KEYS)}:{comment}")
        elif kind == "item":
            lines.append(f"{indent}- {draw(_WORDS)}{comment}")
        elif kind == "comment":
            lines.append(f"{indent}# a comment")
        else:
            lines.append(draw(st.sampled_from(["", "   ", "\t"])))
    return "\n".join(lines) + draw(st.sampled_from(["\n", "", "\n\n"]))


_SCALARS = st.sampled_from(["off", "error", "true", "False", "null", "~", "yes", "1", "0", "42", "a_b", "x-y",
                            "PF201", "\"3.7\"", "\"a # b\"", "'q'", "\"\"", "\"127.0.0.0/8\""])


@st.composite
def _structured(draw: Any, depth: int = 0, indent: int = 0) -> str:
    """Documents mostly inside the subset: nested mappings, sequences, flow mappings, comments;
    sometimes with one line from `_documents` spliced in."""
    pad = " " * indent
    lines = []
    for index in range(draw(st.integers(1, 4))):
        key = draw(st.sampled_from(["rules", "PF101", "severity", "options", "allowed", "\"k y\"", "a-b"])) + str(index)
        comment = draw(st.sampled_from(["", "", "   # why"]))
        shape = draw(st.sampled_from(["scalar", "scalar", "flow", "flow-seq", "seq", "seq-same", "map"]
                                     if depth < 3 else ["scalar"]))
        if shape == "scalar":
            lines.append(f"{pad}{key}: {draw(_SCALARS)}{comment}")
        elif shape == "flow":
            pairs = ", ".join(f"k{i}: {draw(_SCALARS)}" for i in range(draw(st.integers(1, 3))))
            lines.append(f"{pad}{key}: {{{pairs}}}{comment}")
        elif shape == "flow-seq":
            items = draw(st.lists(st.one_of(_SCALARS, st.sampled_from(["\"a, b\"", "'[x]'", "\"\""])), max_size=4))
            separator = draw(st.sampled_from([", ", ",", " , "]))
            inside = draw(st.sampled_from(["", " "]))
            lines.append(f"{pad}{key}: [{inside}{separator.join(items)}{inside}]{comment}")
        elif shape in ("seq", "seq-same"):
            lines.append(f"{pad}{key}:{comment}")
            item_pad = pad if shape == "seq-same" else pad + "  "
            lines += [f"{item_pad}- {draw(_SCALARS)}{draw(st.sampled_from(['', '  # n']))}"
                      for _ in range(draw(st.integers(1, 3)))]
        else:
            lines.append(f"{pad}{key}:{comment}")
            if draw(st.booleans()):
                lines.append(f"{pad}  # a comment in between")
            lines.append(draw(_structured(depth + 1, indent + draw(st.sampled_from([2, 4])))).rstrip("\n"))
    text = "\n".join(lines) + "\n"
    if depth == 0 and draw(st.integers(0, 3)) == 0:
        spliced = text.split("\n")
        spliced.insert(draw(st.integers(0, len(spliced))), draw(_documents()).rstrip("\n"))
        text = "\n".join(spliced)
    return text


@settings(max_examples=400, deadline=None)
@given(st.one_of(_documents(), _structured()))
def test_the_reader_declines_or_agrees_with_ruamel(text: str) -> None:
    plain = compose_plain(text)
    if plain is None:
        return
    from pfcheck.policy.model import PolicyError

    try:
        reference = compose(text, None)
    except PolicyError as error:
        raise AssertionError(f"ruamel.yaml refuses what tiny_yaml read: {error}\n{text}") from None
    assert reference is not None
    assert _tree(plain) == _tree(reference), text


def test_a_plain_run_does_not_import_ruamel(tmp_path: Any) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "main.cf").write_text("mynetworks = 127.0.0.0/8\n", encoding="utf-8")
    code = ("import sys\nfrom pfcheck.cli import main\ncode = main(['.'])\n"
            "assert not [m for m in sys.modules if m.startswith('ruamel')], 'ruamel.yaml imported'\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, check=False)
    assert result.returncode == 0, result.stderr


def test_the_example_policy_and_flow_lists_are_read_without_ruamel() -> None:
    """Policy files write lists as one-line flow sequences (`allowed: [...]`); those are inside
    the subset and give ruamel.yaml's nodes, quoted items holding commas and brackets included."""
    texts = [
        (ROOT / "examples" / ".pfcheck.yaml").read_text(encoding="utf-8"),
        'allowed: ["127.0.0.0/8", "[::1]/128", "10.20.0.0/16"]\n',
        "a: []\nb: [ ]\nc: [x,y , 'z, w']   # note\nd: [\"\"]\n",
        "rules:\n  PF201:\n    options:\n      allowed: [ \"10.0.0.0/8\" ]\n",
    ]
    for text in texts:
        plain = compose_plain(text)
        assert plain is not None, text
        assert _tree(plain) == _tree(compose(text, None)), text


def test_flow_lists_outside_the_subset_are_declined() -> None:
    for text in ("a: [x, ]\n", "a: [[x]]\n", "a: [{k: v}]\n", "a: [x] y\n", "a: [\"x\"y]\n", "a: [x y]\n",
                 "a: [x\n", "a: [\"x]\n", "a: [x, #c]\n"):
        assert compose_plain(text) is None, text


def test_a_run_with_the_example_policy_does_not_import_ruamel(tmp_path: Any) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".pfcheck.yaml").write_bytes((ROOT / "examples" / ".pfcheck.yaml").read_bytes())
    (tmp_path / "main.cf").write_text("mynetworks = 127.0.0.0/8\n", encoding="utf-8")
    code = ("import sys\nfrom pfcheck.cli import main\ncode = main(['.'])\n"
            "assert code in (0, 1), code\n"
            "assert not [m for m in sys.modules if m.startswith('ruamel')], 'ruamel.yaml imported'\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, check=False)
    assert result.returncode == 0, result.stderr
