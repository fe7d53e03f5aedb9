"""Benchmark: the assignment engine over HTTP, this checkout against an earlier commit, side by
side in one run.

    .venv/bin/python bench/assignment_vs.py --base COMMIT [--rounds 3] [--record]
        [-- ARGS FOR bench/assignment.py]

Checks the base commit out into var/bench-base/<commit> (a git worktree with its own .venv, made
once), then runs `bench/assignment.py --reuse` in the base and in this checkout by turns, base
first, `--rounds` times each, each against a database of its own (accord_bench_assign_base and
accord_bench_assign_head, made by the first run). Taking turns spreads the drift of a shared
machine over both sides; the figures compared are each round's saturation throughput and the
steady phase's claim and submit p99, as the ratio head/base per round and its median.

The arguments after `--` go to both sides (default: `--saturation-seconds 30 --rate 100
--steady-seconds 30 --far-ahead 100`). `--record` appends the table to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "RESULTS.md"
DATABASE = "postgres://postgres@127.0.0.1:5432/accord_bench_assign_{side}"
DEFAULT_ARGS = [
    "--saturation-seconds", "30", "--rate", "100", "--steady-seconds", "30", "--far-ahead", "100",
]  # fmt: skip
FIGURES = {
    "saturation annotations/s": (r"^assignment\.saturation .*annotations/s=([\d.]+)", "higher"),
    "steady claim p99 ms": (r"^assignment\.steady .*claim_p99_ms=([\d.]+)", "lower"),
    "steady submit p99 ms": (r"^assignment\.steady .*submit_p99_ms=([\d.]+)", "lower"),
}


def checkout(commit: str) -> Path:
    """The base commit in a worktree of its own with an installed .venv (made once)."""
    sha = subprocess.run(
        ["git", "rev-parse", "--short=12", commit], cwd=ROOT, check=True, capture_output=True,
        text=True,
    ).stdout.strip()  # fmt: skip
    place = ROOT / "var" / "bench-base" / sha
    if not (place / "manage.py").exists():
        place.parent.mkdir(parents=True, exist_ok=True)
        add = ["git", "worktree", "add", "--detach", str(place), sha]
        subprocess.run(add, cwd=ROOT, check=True)
    if not (place / ".venv" / ".installed").exists():
        subprocess.run([sys.executable, "-m", "venv", str(place / ".venv")], check=True)
        pip = [str(place / ".venv" / "bin" / "python"), "-m", "pip", "install", "--quiet"]
        subprocess.run([*pip, "-e", f"{place}[dev]"], check=True)
        (place / ".venv" / ".installed").touch()
    return place


def run(place: Path, side: str, args: list[str]) -> dict[str, float]:
    env = {**os.environ, "DATABASE_URL": DATABASE.format(side=side)}
    env.pop("REDIS_URL", None)
    python = place / ".venv" / "bin" / "python"
    print(f"-- {side}: {place}", flush=True)
    done = subprocess.run(
        [str(python), "bench/assignment.py", "--reuse", *args], cwd=place, env=env,
        capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode != 0:
        sys.exit(f"bench/assignment.py failed in {place}:\n{done.stdout[-3000:]}{done.stderr}")
    found: dict[str, float] = {}
    for name, (pattern, _) in FIGURES.items():
        match = re.search(pattern, done.stdout, flags=re.MULTILINE)
        if match is None:
            sys.exit(f"no {name!r} in the output of {place}:\n{done.stdout[-3000:]}")
        found[name] = float(match.group(1))
    print("   " + "  ".join(f"{k}={v}" for k, v in found.items()), flush=True)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", required=True, help="the commit to compare against")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--record", action="store_true", help="append to bench/RESULTS.md")
    parser.add_argument("args", nargs="*", help="after --: arguments for bench/assignment.py")
    options = parser.parse_args()
    args = options.args or DEFAULT_ARGS
    base = checkout(options.base)
    rounds: list[tuple[dict[str, float], dict[str, float]]] = []
    for _ in range(options.rounds):
        rounds.append((run(base, "base", args), run(ROOT, "head", args)))
    head_sha = subprocess.run(
        ["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    lines = [f"assignment_vs base={base.name} head={head_sha} rounds={options.rounds} "
             f"args={' '.join(args)!r}"]  # fmt: skip
    for name, (_, better) in FIGURES.items():
        ratios = [head[name] / old[name] for old, head in rounds if old[name]]
        lines.append(
            f"assignment_vs {name.replace(' ', '_')} "
            f"base={[old[name] for old, _ in rounds]} head={[head[name] for _, head in rounds]} "
            f"ratio_median={statistics.median(ratios):.3f} ({better} is better)"
        )
    print("\n".join(lines))
    if options.record:
        machine = f"{os.cpu_count()} cores, {platform.system()} {platform.release()}"
        with RESULTS.open("a", encoding="utf-8") as results:
            results.write(
                f"\n## {date.today().isoformat()}: assignment over HTTP, side by side with "
                f"{base.name}\n\nMachine: {machine}.\nCommand: `python bench/assignment_vs.py "
                f"{' '.join(sys.argv[1:])}`.\n\n```\n" + "\n".join(lines) + "\n```\n"
            )


if __name__ == "__main__":
    main()
