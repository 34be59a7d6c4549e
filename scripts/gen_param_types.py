#!/usr/bin/env python3
"""Generate `pfcheck/postfix/_param_types_data.py`: Postfix's parameter type tables per series.

Postfix programs read main.cf through typed tables: `CONFIG_INT_TABLE`, `CONFIG_STR_TABLE`,
`CONFIG_TIME_TABLE`, `CONFIG_BOOL_TABLE`, `CONFIG_NINT_TABLE`, `CONFIG_NBOOL_TABLE`,
`CONFIG_LONG_TABLE`, `CONFIG_RAW_TABLE`, `CONFIG_STR_FN_TABLE` arrays in `src/*/*.c`
(`src/global/mail_params.c` is read by every program through mail_params_init(); the tables in
`src/smtpd/smtpd.c` only by smtpd, and so on). Each entry is
`VAR_NAME, DEF_NAME, &var_name, min, max` (booleans: `VAR_NAME, DEF_NAME, &var_name`); the
get_mail_conf_*_table() functions check the `$`-expanded value against the type and the bounds
and exit with a fatal error otherwise. postconf builds its own *_table.h from the same arrays
(src/postconf/extract.awk); this script reads them the same way, from the Postfix git mirror,
for the newest patch release of every series pfcheck supports, and never runs a C compiler.

Macros (`VAR_SMTPD_TMOUT` -> "smtpd_timeout", `DEF_SMTPD_SASL_RESP_LIMIT` -> 12288, bounds such
as `(1024 * 1024)`) are resolved from the `#define`s of every header in src/*/ and of the C file
itself. `#ifdef` blocks are all taken (the Debian/Ubuntu builds have TLS, SASL and SMTPUTF8),
as extract.awk does. Tables that are not configuration (postconf's own builtin table, test
drivers) are skipped.

Output: one text block per series, one line per (parameter, reader group):

    name kind min max readers

kind is int, long, time, bool, str, raw, nint, nbool or str_fn (a string whose default is
computed by a function, such as myhostname); min/max are the table's bounds (0 = none; string
lengths for str/raw/str_fn, seconds for time); readers is a comma list of the source
directories whose programs read the parameter through that table (`global` = every program,
mail_params.c; `tls` = the programs that use TLS, tls/tls_misc.c). A parameter with the same
kind and bounds in several programs has one line. The base series (3.7) is stored whole, the
others as differences (`!name` = the parameter is in no table of that series).

Usage:
    python3 scripts/gen_param_types.py [--git-dir /work/.mirror/vdukhovni+postfix/repo]
"""
from __future__ import annotations

import argparse
import io
import json
import re
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "pfcheck" / "postfix" / "_param_types_data.py"
DEFAULT_GIT_DIR = Path("/work/.mirror/vdukhovni+postfix/repo")

SERIES_RELEASES: Dict[str, str] = {
    "2.10": "2.10.10", "2.11": "2.11.11", "3.0": "3.0.15", "3.1": "3.1.15", "3.2": "3.2.22",
    "3.3": "3.3.22", "3.4": "3.4.29", "3.5": "3.5.27", "3.6": "3.6.20", "3.7": "3.7.11",
    "3.8": "3.8.20", "3.9": "3.9.14", "3.10": "3.10.13",
}
BASE_SERIES = "3.7"

#: Table kind -> number of fields per entry (name, default, target[, min, max]).
KINDS: Dict[str, int] = {
    "INT": 5, "LONG": 5, "TIME": 5, "STR": 5, "RAW": 5, "NINT": 5, "STR_FN": 5,
    "BOOL": 3, "NBOOL": 3,
}

#: Files whose tables are not main.cf configuration of a Postfix program.
SKIPPED_FILES = (
    "postconf/postconf_builtin.c",  # postconf's own list of built-ins
    "global/mail_conf_time.c",      # #ifdef TEST driver
    "bounce/bounce_notify_util_tester.c",
)

#: Source file -> reader name, where the directory name is not the program's.
READER_BY_FILE = {
    "smtp/lmtp_params.c": "lmtp",
    "smtp/smtp_params.c": "smtp",
    "global/mail_params.c": "global",
    "tls/tls_misc.c": "tls",
}

#: Macros no header, makedefs or build defines: their #ifdef blocks are dead code.
#: USE_TLSPROXY guards smtpd's old tlsproxy_service_name entry (smtpd/smtpd.c @v3.7.11):
#: Debian's smtpd accepts `tlsproxy_service_name =` (checked by tests/live/test_param_types_live.py).
NEVER_DEFINED = ("USE_TLSPROXY",)

_TABLE = re.compile(r"CONFIG_(INT|LONG|TIME|STR|RAW|NINT|NBOOL|BOOL|STR_FN)_TABLE\s+\w+\s*\[\s*\]\s*=\s*\{(.*?)\};",
                    re.S)
_DEFINE = re.compile(r"^[ \t]*#[ \t]*define[ \t]+([A-Za-z_]\w*)[ \t]+(.*?)[ \t]*$", re.M)
_COMMENT = re.compile(r"/\*.*?\*/", re.S)
_C_LIMITS = {"INT_MAX": str(2 ** 31 - 1), "LONG_MAX": str(2 ** 63 - 1), "SSIZE_T_MAX": str(2 ** 63 - 1)}


def release_sources(git_dir: Path, tag: str) -> Dict[str, str]:
    """path -> text of every postfix/src/*/*.[ch] of a tag (one `git archive`, no checkout)."""
    archive = subprocess.run(["git", "--git-dir", str(git_dir), "archive", tag, "postfix/src"],
                             capture_output=True, check=True).stdout
    texts = {}
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for member in tar.getmembers():
            if member.isfile() and re.fullmatch(r"postfix/src/[^/]+/[^/]+\.[ch]", member.name):
                texts[member.name] = tar.extractfile(member).read().decode("latin-1")  # type: ignore[union-attr]
    return texts


def strip_source(text: str) -> str:
    """Comments, line continuations, `#if 0` and `#ifdef NEVER_DEFINED` blocks removed (dead
    code is no table)."""
    text = _COMMENT.sub(" ", text)
    text = re.sub(r"\\\n", " ", text)
    out, dead = [], 0
    for line in text.splitlines():
        directive = line.strip()
        if dead:
            if re.match(r"#\s*if", directive):
                dead += 1
            elif re.match(r"#\s*endif", directive):
                dead -= 1
            elif dead == 1 and re.match(r"#\s*(else|elif)", directive):
                dead = 0
            continue
        if re.match(r"#\s*if\s+0\b", directive) or re.match(r"#\s*ifdef\s+(%s)\b" % "|".join(NEVER_DEFINED), directive):
            dead = 1
            continue
        out.append(line)
    return "\n".join(out)


def collect_defines(text: str, into: Dict[str, str]) -> None:
    for name, value in _DEFINE.findall(text):
        into.setdefault(name, value.strip())


class Macros:
    """Resolve a C expression of `#define`d names to a str or int (None when not constant)."""

    def __init__(self, defines: Mapping[str, str]) -> None:
        self.defines = defines

    def resolve(self, expr: str, depth: int = 0) -> Optional[object]:
        expr = expr.strip()
        if depth > 20:
            return None
        if expr.startswith('"'):
            parts = re.findall(r'"((?:[^"\\]|\\.)*)"', expr)
            rest = re.sub(r'"((?:[^"\\]|\\.)*)"', "", expr).strip()
            if rest:  # "a" MACRO "b"
                pieces = []
                for token in re.findall(r'"(?:[^"\\]|\\.)*"|[A-Za-z_]\w*', expr):
                    value = self.resolve(token, depth + 1)
                    if not isinstance(value, str):
                        return None
                    pieces.append(value)
                return "".join(pieces)
            return "".join(bytes(p, "latin-1").decode("unicode_escape") for p in parts)
        if re.fullmatch(r"[A-Za-z_]\w*", expr):
            if expr in _C_LIMITS:
                return int(_C_LIMITS[expr])
            if expr in self.defines:
                return self.resolve(self.defines[expr], depth + 1)
            return None
        if re.fullmatch(r"[A-Za-z_]\w*\s+\"(?:[^\"\\]|\\.)*\"(?:\s*[A-Za-z_]\w*|\s*\"(?:[^\"\\]|\\.)*\")*", expr):
            return self.resolve('"" ' + expr, depth + 1)
        # Arithmetic on numbers and macros: (1024 * 1024), 2 * DEF_X, 100L.
        tokens = re.findall(r"[A-Za-z_]\w*|\d+[LlUu]*|[-+*/()%]|\S", expr)
        out = []
        for token in tokens:
            if re.fullmatch(r"\d+[LlUu]*", token):
                out.append(token.rstrip("LlUu"))
            elif re.fullmatch(r"[A-Za-z_]\w*", token):
                value = self.resolve(token, depth + 1)
                if not isinstance(value, int):
                    return None
                out.append(str(value))
            elif token in "+-*/()%":
                out.append("//" if token == "/" else token)
            else:
                return None
        try:
            value = eval("".join(out), {"__builtins__": {}})  # digits and operators only
        except Exception:
            return None
        return value if isinstance(value, int) else None


def split_fields(body: str) -> List[str]:
    """Comma-separated top-level fields of a table body (#if lines dropped)."""
    body = "\n".join(line for line in body.splitlines() if not line.strip().startswith("#"))
    fields, depth, current = [], 0, []
    for ch in body:
        if ch == "," and depth == 0:
            fields.append("".join(current).strip())
            current = []
            continue
        depth += ch in "({"
        depth -= ch in ")}"
        current.append(ch)
    if "".join(current).strip():
        fields.append("".join(current).strip())
    return fields


Entry = Tuple[str, str, int, int]  # kind, reader, min, max


def read_release(git_dir: Path, release: str) -> Tuple[Dict[str, List[Entry]], List[str]]:
    tag = f"v{release}"
    texts = {path: strip_source(text) for path, text in release_sources(git_dir, tag).items()}
    header_defines: Dict[str, str] = {}
    for path, text in texts.items():
        if path.endswith(".h"):
            collect_defines(text, header_defines)
    entries: Dict[str, List[Entry]] = {}
    problems: List[str] = []
    for path, text in sorted(texts.items()):
        short = path[len("postfix/src/"):]
        if not path.endswith(".c") or short in SKIPPED_FILES or "CONFIG_" not in text:
            continue
        defines = dict(header_defines)
        local: Dict[str, str] = {}
        collect_defines(text, local)
        defines.update(local)
        macros = Macros(defines)
        reader = READER_BY_FILE.get(short, short.split("/")[0])
        for kind, body in _TABLE.findall(text):
            fields = split_fields(body)
            width = KINDS[kind]
            index = 0
            while index < len(fields):
                if fields[index] in ("0", ""):
                    index += 1
                    continue
                entry = fields[index:index + width]
                index += width
                if len(entry) < width:
                    problems.append(f"{tag} {short}: short {kind} entry {entry}")
                    break
                name = macros.resolve(entry[0])
                if not isinstance(name, str):
                    problems.append(f"{tag} {short}: unresolved name {entry[0]}")
                    continue
                low = high = 0
                if width == 5:
                    resolved = [macros.resolve(entry[3]), macros.resolve(entry[4])]
                    if not all(isinstance(v, int) for v in resolved):
                        problems.append(f"{tag} {short}: unresolved bounds of {name}: {entry[3]}, {entry[4]}")
                        continue
                    low, high = resolved  # type: ignore[assignment]
                row = (kind.lower(), reader, low, high)
                rows = entries.setdefault(name, [])
                if row not in rows:
                    rows.append(row)
    return entries, problems


def table_lines(entries: Mapping[str, List[Entry]]) -> Dict[str, List[str]]:
    """name -> its lines `name kind min max readers` (readers merged per kind and bounds)."""
    out: Dict[str, List[str]] = {}
    for name in sorted(entries):
        groups: Dict[Tuple[str, int, int], List[str]] = {}
        for kind, reader, low, high in entries[name]:
            readers = groups.setdefault((kind, low, high), [])
            if reader not in readers:
                readers.append(reader)
        out[name] = [f"{name} {kind} {low} {high} {','.join(sorted(readers))}"
                     for (kind, low, high), readers in groups.items()]
    return out


def text_block(lines: Sequence[str]) -> str:
    text = "".join(line + "\n" for line in lines)
    assert "'''" not in text and "\\" not in text
    return "r'''\n" + text + "'''"


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--git-dir", type=Path, default=DEFAULT_GIT_DIR, help="bare git mirror of vdukhovni/postfix")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)

    per_series: Dict[str, Dict[str, List[str]]] = {}
    problems: List[str] = []
    for series, release in SERIES_RELEASES.items():
        entries, found = read_release(args.git_dir, release)
        problems += found
        per_series[series] = table_lines(entries)
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1

    base = per_series[BASE_SERIES]
    changes: Dict[str, List[str]] = {}
    for series, lines in per_series.items():
        if series == BASE_SERIES:
            continue
        diff: List[str] = []
        for name in sorted(set(lines) | set(base)):
            if name not in lines:
                diff.append(f"!{name}")
            elif lines[name] != base.get(name):
                diff.extend(lines[name])
        changes[series] = diff

    counts = {series: len(lines) for series, lines in per_series.items()}
    out = [
        '"""Postfix parameter types per release series. GENERATED by scripts/gen_param_types.py: do not edit.\n\n'
        "Read from the CONFIG_*_TABLE arrays of the Postfix sources (tags in SERIES_RELEASES).\n"
        "Lines: `name kind min max readers`; SERIES_CHANGES: per series, the parameters whose lines differ\n"
        "from the base (`!name` = in no table of that series).\n"
        '"""\n',
        f"BASE_SERIES = {json.dumps(BASE_SERIES)}\n",
        f"SERIES_RELEASES = {json.dumps(SERIES_RELEASES)}\n",
        f"PARAMETER_COUNTS = {json.dumps(counts)}\n",
        f"BASE_TYPES = {text_block([line for name in sorted(base) for line in base[name]])}\n",
        "SERIES_CHANGES = {\n" + "".join(f"    {json.dumps(series)}: {text_block(diff)},\n"
                                        for series, diff in changes.items()) + "}\n",
    ]
    args.output.write_text("\n".join(out))
    print(f"wrote {args.output}: " + ", ".join(f"{s} {n}" for s, n in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
