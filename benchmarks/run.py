#!/usr/bin/env python3
"""pfcheck benchmarks: wall time, per-directory cost and peak memory on generated config repos.

Builds config repos of 1, 1,000 and 10,000 directories in a temp dir from varied real configs
(the literal, non-template files of the corpus when present, else examples/hosts), runs pfcheck
on each as a subprocess, and prints the figures beside `python -c pass`, the import time of
`pfcheck.cli`, and a `postconf -c DIR -n` loop over the same directories. See
benchmarks/README.md and docs/performance.md.

    python benchmarks/run.py                      # 1, 1,000, 10,000 directories
    python benchmarks/run.py --sizes 1,1000       # quicker
    python benchmarks/run.py --check              # exit 1 when a target is missed
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional, Sequence

ROOT = Path(__file__).resolve().parent.parent
# The same default as tests/conftest.py: $PFCHECK_CORPUS/real, else ../shared/corpus/real.
DEFAULT_CORPUS = Path(os.environ.get("PFCHECK_CORPUS", ROOT.parent / "shared" / "corpus")) / "real"

# Targets from the performance issue (issue 12, "Fleet-scale speed").
TARGET_ONE_DIR_RATIO = 4.0  # one-file run within 4x of `python -c pass`
TARGET_LARGE_DIRS = 10_000
TARGET_LARGE_SECONDS = 10.0  # 10,000 dirs in under 10 s on 2 cores
TARGET_PEAK_MIB = 80.0  # peak memory of the whole process tree
TARGET_POSTCONF_DIRS = 1_000
TARGET_POSTCONF_RATIO = 5.0  # 1,000 dirs: at least 5x cheaper per directory than a postconf -n loop
TARGET_CHANGED_RATIO = 2.0  # --base HEAD --new-only, 1,000 dirs, one changed: within 2x of that dir alone
TARGET_LINEAR_RATIO = 1.5  # per-directory cost at 1 ... 10,000 dirs: largest / smallest
LINEAR_SIZES = (1, 100, 1_000, 10_000)

# Every third directory built from a config with a master.cf keeps only main.cf, so that the
# repos mix main.cf-only directories (judged with the default master.cf) and full ones.
DROP_MASTER_EVERY = 3


# --------------------------------------------------------------------------- config sources


@dataclass(frozen=True)
class SourceConfig:
    """One config directory to copy: file name -> bytes (main.cf, maybe master.cf, side files)."""

    name: str
    files: tuple[tuple[str, bytes], ...]

    @property
    def has_master(self) -> bool:
        return any(name == "master.cf" for name, _ in self.files)


def _literal_corpus_numbers(index: Path) -> set[str]:
    """NNN of the corpus entries INDEX.md marks as not templates (Postfix reads them as they are)."""
    numbers = set()
    for line in index.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.split("|")]
        if len(cells) > 5 and cells[1].isdigit() and cells[4].startswith("no"):
            numbers.add(cells[1])
    return numbers


def _read_dir(directory: Path, skip: Sequence[str] = ("SOURCE",)) -> SourceConfig:
    files = tuple(
        (path.name, path.read_bytes())
        for path in sorted(directory.iterdir())
        if path.is_file() and path.name not in skip
    )
    return SourceConfig(directory.name, files)


def load_sources(corpus: Optional[Path]) -> tuple[list[SourceConfig], str]:
    """The configs the repos are built from, and a description of where they came from."""
    if corpus is not None and (corpus / "INDEX.md").is_file():
        literal = _literal_corpus_numbers(corpus / "INDEX.md")
        sources = [
            _read_dir(directory)
            for directory in sorted(corpus.iterdir())
            if directory.is_dir() and directory.name[:3] in literal and (directory / "main.cf").is_file()
        ]
        if sources:
            return sources, f"{len(sources)} literal (non-template) configs of {corpus}"
    hosts = ROOT / "examples" / "hosts"
    sources = [_read_dir(d) for d in sorted(hosts.iterdir()) if (d / "main.cf").is_file()]
    return sources, f"{len(sources)} example configs of {hosts} (corpus not found)"


_MYHOSTNAME = re.compile(rb"^myhostname[ \t]*=[^\n]*", re.M)


def varied_main_cf(text: bytes, index: int) -> bytes:
    """The source main.cf made distinct: a header comment and this host's own myhostname."""
    hostname = b"myhostname = h%05d.bench.example" % index
    body, replaced = _MYHOSTNAME.subn(hostname, text, count=1)
    if not replaced:
        body = body + (b"" if body.endswith(b"\n") or not body else b"\n") + hostname + b"\n"
    return b"# benchmark host h%05d\n" % index + body


@dataclass
class BuiltRepo:
    root: Path
    directories: list[Path]
    with_master: int


def build_repo(root: Path, count: int, sources: Sequence[SourceConfig]) -> BuiltRepo:
    """`root/hosts/hNNNNN/` for NNNNN < count, cycling through the sources; root is a git repo."""
    root.mkdir(parents=True)
    # A .git entry bounds pfcheck's policy search (and the repo root for tables) to this repo.
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    directories = []
    with_master = 0
    for index in range(count):
        source = sources[index % len(sources)]
        directory = root / "hosts" / f"h{index:05d}"
        directory.mkdir(parents=True)
        keep_master = source.has_master and (index // len(sources)) % DROP_MASTER_EVERY != 1
        for name, data in source.files:
            if name == "master.cf" and not keep_master:
                continue
            (directory / name).write_bytes(varied_main_cf(data, index) if name == "main.cf" else data)
        with_master += keep_master
        directories.append(directory)
    return BuiltRepo(root, directories, with_master)


# --------------------------------------------------------------------------- measuring


@dataclass
class Run:
    """One command over `runs` runs: median wall and CPU time, largest peak memory."""

    label: str
    wall_seconds: float
    cpu_seconds: float  # user + system of the process and the workers it waited for
    peak_rss_mib: float  # the largest single process (ru_maxrss)
    peak_tree_mib: Optional[float]  # the whole process tree, sampled (PSS: shared pages once)
    runs: int
    returncode: int
    summary: str = ""
    walls: list[float] = field(default_factory=list)

    @property
    def peak_mib(self) -> float:
        """The memory the run needs: the sampled tree's (workers included), at least the
        largest process's (a sample may miss the peak of a short run)."""
        return max(self.peak_rss_mib, self.peak_tree_mib or 0.0)


def _rss_mib(maxrss: int) -> float:
    # ru_maxrss is in KiB on Linux and BSD, in bytes on macOS.
    return maxrss / (1024 * 1024) if sys.platform == "darwin" else maxrss / 1024


def _tree_pids(pid: int) -> list[int]:
    """pid and its descendants (Linux /proc), for processes that still exist."""
    pids, pending = [], [pid]
    while pending:
        current = pending.pop()
        pids.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children", encoding="ascii") as handle:
                    pending.extend(int(child) for child in handle.read().split())
        except OSError:
            continue
    return pids


def _pss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


class TreeMemorySampler:
    """Samples the summed PSS of a process tree every `interval` s; None where /proc can't tell.

    ru_maxrss sees one process at a time; with worker processes the run needs the sum.
    PSS counts pages shared after fork() once across the tree, RSS would count them per process.
    """

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid = pid
        self.interval = interval
        self.peak_kib = 0
        self.available = os.path.exists(f"/proc/{os.getpid()}/smaps_rollup") and os.path.exists(
            f"/proc/{os.getpid()}/task/{os.getpid()}/children")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> "TreeMemorySampler":
        if self.available:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self.available:
            self._thread.join()

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak_kib = max(self.peak_kib, sum(_pss_kib(pid) for pid in _tree_pids(self.pid)))
            self._stop.wait(self.interval)

    @property
    def peak_mib(self) -> Optional[float]:
        return self.peak_kib / 1024 if self.available and self.peak_kib else None


@dataclass
class Once:
    wall: float
    cpu: float
    peak_rss_mib: float
    peak_tree_mib: Optional[float]
    returncode: int
    stdout: bytes


def run_once(argv: Sequence[str], cwd: Path, env: dict[str, str], sample_memory: bool = True) -> Once:
    """One run. CPU time and ru_maxrss are this child's own (os.wait4): the process plus the
    descendants it waited for; the tree's memory is sampled while it runs."""
    with tempfile.TemporaryFile() as stdout:
        start = time.perf_counter()
        process = subprocess.Popen(list(argv), cwd=cwd, env=env, stdout=stdout, stderr=subprocess.DEVNULL)
        sampler = TreeMemorySampler(process.pid)
        sampler.available = sampler.available and sample_memory
        with sampler:
            _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        stdout.seek(0)
        return Once(wall, usage.ru_utime + usage.ru_stime, _rss_mib(usage.ru_maxrss), sampler.peak_mib,
                    process.returncode, stdout.read())


def measure(label: str, argv: Sequence[str], cwd: Path, env: dict[str, str], runs: int,
            sample_memory: bool = True) -> Run:
    results = [run_once(argv, cwd, env, sample_memory) for _ in range(runs)]
    lines = results[-1].stdout.decode("utf-8", "replace").strip().splitlines()
    trees = [r.peak_tree_mib for r in results if r.peak_tree_mib is not None]
    return Run(
        label,
        statistics.median(r.wall for r in results),
        statistics.median(r.cpu for r in results),
        max(r.peak_rss_mib for r in results),
        max(trees) if trees else None,
        runs,
        results[-1].returncode,
        lines[-1] if lines else "",
        [r.wall for r in results],
    )


def import_time_ms(argv: Sequence[str], cwd: Path, env: dict[str, str]) -> tuple[float, dict[str, float]]:
    """Total import time (sum of the top-level cumulative times of `-X importtime`) in ms, and
    the cumulative ms of every top-level module."""
    result = subprocess.run(list(argv), cwd=cwd, env=env, capture_output=True, text=True, check=False)
    top: dict[str, float] = {}
    for line in result.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)", line)
        if match and not match.group(3):
            top[match.group(4)] = top.get(match.group(4), 0.0) + int(match.group(2)) / 1000
    return sum(top.values()), top


def postconf_loop(postconf: str, directories: Sequence[Path]) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, os.wait4) of `postconf -c DIR -n` over the
    directories, one process each, in sequence.

    Read-only: `-n` prints; no `name=value` argument is ever passed (that would edit main.cf).
    """
    cpu = 0.0
    start = time.perf_counter()
    for directory in directories:
        process = subprocess.Popen([postconf, "-c", str(directory), "-n"], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        _, _, usage = os.wait4(process.pid, 0)
        process.returncode = 0
        cpu += usage.ru_utime + usage.ru_stime
    return time.perf_counter() - start, cpu


def commit_all(root: Path, message: str) -> None:
    git = ["git", "-C", str(root), "-c", "user.name=bench", "-c", "user.email=bench@example.invalid",
           "-c", "commit.gpgsign=false"]
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", message], check=True)


def change_one(directory: Path) -> None:
    """The change under review: one parameter edited in one host's main.cf."""
    main_cf = directory / "main.cf"
    main_cf.write_bytes(main_cf.read_bytes().rstrip(b"\n") + b"\nsmtpd_helo_required = yes\n")


# --------------------------------------------------------------------------- report


@dataclass
class Row:
    label: str
    wall_seconds: Optional[float]
    cpu_seconds: Optional[float] = None
    per_dir_ms: Optional[float] = None
    peak_mib: Optional[float] = None
    note: str = ""


@dataclass
class Verdict:
    target: str
    measured: str
    met: Optional[bool]  # None: not measured


def _fmt(value: Optional[float], pattern: str) -> str:
    return "-" if value is None else pattern.format(value)


def render(rows: Sequence[Row], verdicts: Sequence[Verdict], header: Sequence[str]) -> str:
    lines = list(header) + [""]
    width = max(len(row.label) for row in rows) + 2
    lines.append(f"{'':{width}}{'wall':>10} {'CPU':>10} {'wall/dir':>10} {'peak mem':>10}  note")
    for row in rows:
        lines.append(
            f"{row.label:{width}}{_fmt(row.wall_seconds, '{:.3f} s'):>10} {_fmt(row.cpu_seconds, '{:.3f} s'):>10} "
            f"{_fmt(row.per_dir_ms, '{:.2f} ms'):>10} {_fmt(row.peak_mib, '{:.1f} MiB'):>10}  {row.note}".rstrip()
        )
    target_width = max(len(v.target) for v in verdicts + [Verdict("target", "", None)]) + 2
    measured_width = max(len(v.measured) for v in verdicts + [Verdict("", "measured", None)]) + 2
    lines += ["", "Targets (issue 12)", f"  {'target':{target_width}}{'measured':{measured_width}}result"]
    for verdict in verdicts:
        word = "not measured" if verdict.met is None else ("pass" if verdict.met else "MISS")
        lines.append(f"  {verdict.target:{target_width}}{verdict.measured:{measured_width}}{word}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- main


def _sizes(text: str) -> list[int]:
    try:
        sizes = sorted({int(part.replace("_", "")) for part in text.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of numbers: {text}") from None
    if not sizes or sizes[0] < 1:
        raise argparse.ArgumentTypeError("sizes must be >= 1")
    return sizes


def _environment(workdir: Path, bytecode: bool) -> dict[str, str]:
    """The children's environment: this checkout first on sys.path; bytecode cached in the
    work dir (as an installed pfcheck has .pyc files from pip) or not written at all."""
    env = dict(os.environ)
    env.pop("GITHUB_ACTIONS", None)  # would switch --format auto to workflow commands
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    if bytecode:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(workdir / "pycache")  # never in the checkout
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env["PYTHONPYCACHEPREFIX"] = str(workdir / "no-pycache")  # the installed .pyc are not seen
    return env


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=_sizes, default=list(LINEAR_SIZES), help="directory counts (default 1,100,1000,10000)")
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help=f"corpus/real directory (default {DEFAULT_CORPUS})")
    parser.add_argument("--pfcheck", default=None, help="pfcheck command to time (default: this checkout, `python -m pfcheck`)")
    parser.add_argument("--runs-small", type=int, default=10, help="runs of the 1-dir and python -c pass timings (median)")
    parser.add_argument("--runs-large", type=int, default=1, help="runs of each larger repo (median)")
    parser.add_argument("--postconf-dirs", type=int, default=1000, help="directories the postconf loop covers; the rest is extrapolated")
    parser.add_argument("--base-dirs", type=int, default=0, metavar="N",
                        help="also time `pfcheck --base HEAD .` (the CI and hook form) on the first N dirs, committed")
    parser.add_argument("--changed-dirs", type=int, default=TARGET_POSTCONF_DIRS, metavar="N",
                        help="time `pfcheck --base HEAD --new-only .` on N committed dirs with one changed, "
                             "beside the same on that directory alone (0: skip; default 1000)")
    parser.add_argument("--changed-flags", action="append", default=None,
                        help="extra pfcheck flags for a --changed-dirs pair of runs; repeatable, one pair each "
                             "(default: none, and --changed-only)")
    parser.add_argument("--policy-file", action="store_true", help="put a .pfcheck.yaml at the repo root (default: built-in policy)")
    parser.add_argument("--keep", type=Path, help="build the repos here and keep them (default: a temp dir, removed)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON to this file")
    parser.add_argument("--check", action="store_true", help="exit 1 when a measured target is missed")
    args = parser.parse_args(argv)

    workdir = args.keep or Path(tempfile.mkdtemp(prefix="pfcheck-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    env = _environment(workdir, bytecode=True)
    pfcheck = args.pfcheck.split() if args.pfcheck else [sys.executable, "-m", "pfcheck"]
    sources, origin = load_sources(args.corpus)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    header = [
        f"pfcheck benchmark: Python {platform.python_version()}, {cpus} CPU(s), {platform.machine()}, "
        f"load average at start {load}",
        f"pfcheck = {' '.join(pfcheck)} (PYTHONPATH {ROOT}), bytecode cached in {env['PYTHONPYCACHEPREFIX']}",
        f"configs: {origin}; {'a .pfcheck.yaml at the repo root' if args.policy_file else 'built-in policy (no .pfcheck.yaml)'}",
        "wall and CPU: median of the runs; CPU = user+system of pfcheck and its workers; "
        "peak mem = largest of ru_maxrss and the sampled PSS sum of the process tree",
    ]
    rows: list[Row] = []
    figures: dict[str, object] = {"cpus": cpus, "python": platform.python_version(), "configs": origin, "load": load}
    try:
        repos: dict[int, BuiltRepo] = {}
        for size in args.sizes:
            repos[size] = build_repo(workdir / f"repo-{size}", size, sources)
            if args.policy_file:
                shutil.copy(ROOT / "examples" / ".pfcheck.yaml", repos[size].root / ".pfcheck.yaml")
        smallest = repos[min(repos)]
        # Warm-up: writes the bytecode cache, fills the page cache.
        run_once([sys.executable, "-c", "pass"], workdir, env, sample_memory=False)
        run_once([*pfcheck, "."], smallest.root, env, sample_memory=False)

        baseline = measure("python -c pass", [sys.executable, "-c", "pass"], workdir, env, args.runs_small, False)
        rows.append(Row("python -c pass", baseline.wall_seconds, baseline.cpu_seconds, None, baseline.peak_mib))
        startup_ms, _ = import_time_ms([sys.executable, "-X", "importtime", "-c", "pass"], workdir, env)
        total_ms, top = import_time_ms([sys.executable, "-X", "importtime", "-c", "import pfcheck.cli"], workdir, env)
        cli_import_ms = top.get("pfcheck.cli", 0.0) + top.get("pfcheck", 0.0)
        rows.append(Row("import pfcheck.cli (-X importtime)", cli_import_ms / 1000,
                        note=f"all imports {total_ms:.0f} ms, of which {startup_ms:.0f} ms python -c pass's own"))
        figures.update(python_pass=asdict(baseline), python_startup_imports_ms=startup_ms,
                       import_pfcheck_cli_ms=cli_import_ms)

        runs: dict[int, Run] = {}
        for size, repo in repos.items():
            count = args.runs_small if size == 1 else args.runs_large
            run = measure(f"pfcheck, {size:,} dir(s)", [*pfcheck, "."], repo.root, env, count, sample_memory=size > 1)
            if run.returncode not in (0, 1):
                raise SystemExit(f"pfcheck failed on {repo.root} (exit {run.returncode}): {run.summary}")
            runs[size] = run
            rows.append(Row(run.label, run.wall_seconds, run.cpu_seconds, run.wall_seconds * 1000 / size, run.peak_mib,
                            f"{repo.with_master:,} with master.cf; {run.summary}"))
            figures[f"pfcheck_{size}"] = {**asdict(run), "peak_mib": run.peak_mib, "dirs_with_master": repo.with_master}
            if size == min(repos):
                run_imports_ms, top = import_time_ms([sys.executable, "-X", "importtime", *pfcheck[1:], "."], repo.root, env)
                slowest = sorted((item for item in top.items() if item[0] != "site"), key=lambda item: -item[1])[:4]
                rows.append(Row("  its imports (-X importtime)", run_imports_ms / 1000,
                                note=f"python -c pass's own {startup_ms:.0f} ms; "
                                     + ", ".join(f"{name} {ms:.0f} ms" for name, ms in slowest)))
                cold_env = _environment(workdir, bytecode=False)
                cold = measure("  the same without bytecode cache", [*pfcheck, "."], repo.root, cold_env,
                               max(1, args.runs_small // 2), sample_memory=False)
                rows.append(Row(cold.label, cold.wall_seconds, cold.cpu_seconds, cold.wall_seconds * 1000 / size,
                                cold.peak_mib, "every module compiled from source (PYTHONDONTWRITEBYTECODE)"))
                figures[f"pfcheck_{size}_imports_ms"] = run_imports_ms
                figures[f"pfcheck_{size}_no_bytecode"] = asdict(cold)

        if args.base_dirs > 0:
            base_repo = build_repo(workdir / f"repo-base-{args.base_dirs}", args.base_dirs, sources)
            commit_all(base_repo.root, "configs")
            based = measure(f"pfcheck --base HEAD, {args.base_dirs:,} dir(s)", [*pfcheck, "--base", "HEAD", "."],
                            base_repo.root, env, args.runs_large)
            rows.append(Row(based.label, based.wall_seconds, based.cpu_seconds, based.wall_seconds * 1000 / args.base_dirs,
                            based.peak_mib, f"nothing changed since HEAD; {based.summary}"))
            figures[f"pfcheck_base_{args.base_dirs}"] = {**asdict(based), "peak_mib": based.peak_mib}

        changed: list[tuple[str, Run, Run]] = []
        if args.changed_dirs > 0:
            changed_repo = build_repo(workdir / f"repo-changed-{args.changed_dirs}", args.changed_dirs, sources)
            commit_all(changed_repo.root, "configs")
            one_dir = changed_repo.directories[len(changed_repo.directories) // 2]
            change_one(one_dir)
            for extra in args.changed_flags if args.changed_flags is not None else ["", "--changed-only"]:
                flags = ["--base", "HEAD", "--new-only", *extra.split()]
                shown = " ".join(flags)
                whole = measure(f"pfcheck {shown} ., {args.changed_dirs:,} dirs, 1 changed",
                                [*pfcheck, *flags, "."], changed_repo.root, env, args.runs_large)
                alone = measure(f"pfcheck {shown} <that dir>",
                                [*pfcheck, *flags, str(one_dir.relative_to(changed_repo.root))],
                                changed_repo.root, env, max(1, args.runs_small // 2), sample_memory=False)
                for run in (whole, alone):
                    if run.returncode not in (0, 1):
                        raise SystemExit(f"pfcheck failed on {changed_repo.root} (exit {run.returncode}): {run.summary}")
                    rows.append(Row(run.label, run.wall_seconds, run.cpu_seconds, None, run.peak_mib, run.summary))
                changed.append((shown, whole, alone))
                figures[f"pfcheck_changed_{args.changed_dirs}{extra.replace(' ', '')}"] = {
                    **asdict(whole), "peak_mib": whole.peak_mib, "alone": asdict(alone)}

        # The fixed cost of a run (start-up, imports, the built-in policy): pfcheck on a repo
        # without configs. Per-directory cost = (CPU of the run - this) / directories.
        empty_root = workdir / "repo-empty"
        empty_root.mkdir()
        subprocess.run(["git", "init", "-q", str(empty_root)], check=True)
        empty = measure("pfcheck, 0 dirs (fixed cost)", [*pfcheck, "."], empty_root, env, args.runs_small, False)
        rows.append(Row(empty.label, empty.wall_seconds, empty.cpu_seconds, None, empty.peak_mib, empty.summary))
        figures["pfcheck_0"] = asdict(empty)

        postconf = shutil.which("postconf") or ("/usr/sbin/postconf" if Path("/usr/sbin/postconf").exists() else None)
        largest = max(repos)
        postconf_ms: Optional[tuple[float, float]] = None  # wall, CPU per directory
        if postconf is not None and largest > 1:
            sample = repos[largest].directories[: max(1, min(args.postconf_dirs, largest))]
            seconds, cpu = postconf_loop(postconf, sample)
            postconf_ms = (seconds * 1000 / len(sample), cpu * 1000 / len(sample))
            rows.append(Row(f"postconf -c DIR -n loop, {len(sample):,} dirs", seconds, cpu, postconf_ms[0],
                            note="one postconf process per directory, in sequence"))
            figures["postconf_per_dir_ms"] = postconf_ms[0]
            figures["postconf_cpu_per_dir_ms"] = postconf_ms[1]

        verdicts = []
        one = runs.get(1)
        limit = TARGET_ONE_DIR_RATIO * baseline.wall_seconds
        verdicts.append(Verdict(
            f"1-dir run <= {TARGET_ONE_DIR_RATIO:g} x python -c pass",
            "-" if one is None else f"{one.wall_seconds:.3f} s vs {limit:.3f} s ({one.wall_seconds / baseline.wall_seconds:.1f}x)",
            None if one is None else one.wall_seconds <= limit,
        ))
        fleet = runs.get(TARGET_POSTCONF_DIRS)
        if fleet is not None and postconf_ms is not None:
            per_dir = fleet.wall_seconds * 1000 / TARGET_POSTCONF_DIRS
            ratio = postconf_ms[0] / per_dir
            cpu_ratio = postconf_ms[1] / (fleet.cpu_seconds * 1000 / TARGET_POSTCONF_DIRS)
            measured = (f"{per_dir:.2f} ms vs postconf {postconf_ms[0]:.2f} ms per dir: {ratio:.2f}x cheaper "
                        f"(CPU {cpu_ratio:.2f}x)")
        else:
            ratio, measured = None, "-"
        verdicts.append(Verdict(f"{TARGET_POSTCONF_DIRS:,} dirs >= {TARGET_POSTCONF_RATIO:g}x cheaper/dir than postconf -n loop",
                                measured, None if ratio is None else ratio >= TARGET_POSTCONF_RATIO))
        large = runs.get(TARGET_LARGE_DIRS)
        verdicts.append(Verdict(
            f"{TARGET_LARGE_DIRS:,} dirs < {TARGET_LARGE_SECONDS:g} s ({cpus} CPU(s) here)",
            "-" if large is None else f"{large.wall_seconds:.2f} s ({large.wall_seconds / TARGET_LARGE_SECONDS:.2f}x the target)",
            None if large is None else large.wall_seconds < TARGET_LARGE_SECONDS,
        ))
        biggest = runs.get(largest)
        verdicts.append(Verdict(
            f"peak memory of the process tree < {TARGET_PEAK_MIB:g} MiB ({largest:,} dirs)",
            "-" if biggest is None else f"{biggest.peak_mib:.1f} MiB",
            None if biggest is None else biggest.peak_mib < TARGET_PEAK_MIB,
        ))
        for shown, whole, alone in changed or [("--base HEAD --new-only", None, None)]:
            if whole is not None and alone is not None:
                factor: Optional[float] = whole.wall_seconds / alone.wall_seconds
                measured = f"{whole.wall_seconds:.3f} s vs {alone.wall_seconds:.3f} s ({factor:.2f}x)"
            else:
                factor, measured = None, "-"
            verdicts.append(Verdict(f"{shown}, {args.changed_dirs:,} dirs, 1 changed <= "
                                    f"{TARGET_CHANGED_RATIO:g}x that dir alone", measured,
                                    None if factor is None else factor <= TARGET_CHANGED_RATIO))
        per_dir_cost = {size: max(run.cpu_seconds - empty.cpu_seconds, 0.0) * 1000 / size
                        for size, run in runs.items() if size in LINEAR_SIZES}
        # A size whose CPU is within the 0-dir run's noise (often the 1-dir run) has no
        # measurable per-dir cost: the spread is shown over the others and not judged.
        positive = {size: cost for size, cost in per_dir_cost.items() if cost > 0}
        if len(positive) >= 2:
            spread = max(positive.values()) / min(positive.values())
            measured = ", ".join(f"{size:,}: {cost:.2f} ms" for size, cost in sorted(per_dir_cost.items()))
            measured += f" (CPU beyond the 0-dir run; {spread:.2f}x"
            unmeasurable = sorted(set(per_dir_cost) - set(positive))
            if unmeasurable:
                measured += f" without {', '.join(f'{n:,}' for n in unmeasurable)}: within the 0-dir run's noise"
            measured += ")"
        else:
            spread, measured = None, "-"
        complete = set(LINEAR_SIZES) <= set(positive)
        verdicts.append(Verdict(f"per-dir cost at {', '.join(f'{n:,}' for n in LINEAR_SIZES)}: largest/smallest < "
                                f"{TARGET_LINEAR_RATIO:g}",
                                measured + ("" if set(LINEAR_SIZES) <= set(per_dir_cost) else " (not every size run)"),
                                None if spread is None or not complete else spread < TARGET_LINEAR_RATIO))
        figures["per_dir_cpu_ms"] = per_dir_cost
        figures["targets"] = [asdict(v) for v in verdicts]
        sys.stdout.write(render(rows, verdicts, header))
        if args.json is not None:
            args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
        return 1 if args.check and any(v.met is False for v in verdicts) else 0
    finally:
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
