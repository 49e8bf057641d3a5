"""Run the synthetic-writer scaling study and print its table (docs/synthetic_scale.md).

Each row is one experiment overlay trained with several seeds; every run's *last* checkpoint (a fixed
schedule: nothing chooses it by looking at real signatures) is then scored by ``sigbench-eval`` on the real
Western sets and on the Tobacco800 author pairs, none of which any row trains on:

    python scripts/scaling_study.py run --rows quickstart writers_100 --seeds 1 2 --jobs 2
    python scripts/scaling_study.py table            # markdown table of whatever has finished

Runs live in ``outputs/study/<row>/seed<N>``; a run with a ``last.ckpt`` is not trained again and a
protocol with a ``results.json`` is not evaluated again, so the study can be stopped and resumed. Parallel
jobs get one thread each (``OMP_NUM_THREADS=1``): on a 2-core CPU, two one-thread runs finish sooner than
two runs one after the other. Rows that share a synthetic population that is not cached yet should not run
at the same time the first time (each would generate it; the cache keeps one).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
STUDY_DIR = ROOT / "outputs" / "study"

#: row name -> sigbench-train overrides (one experiment overlay each)
ROWS: dict[str, list[str]] = {
    "quickstart": ["experiment=quickstart"],
    "writers_100": ["experiment=synth_scale_writers_100"],
    "writers_1000": ["experiment=synth_scale_writers_1000"],
    "writers_5000": ["experiment=synth_scale_writers_5000"],
    "epochs20_100": ["experiment=synth_scale_100_epochs20"],
    "signet_f_100": ["experiment=synth_scale_100_signet_f"],
    "signet_100": ["experiment=synth_scale_100_signet"],
    "multitask_triplet_100": ["experiment=synth_scale_100_multitask_triplet"],
    "signet_f_1000": ["experiment=synth_scale_signet_f"],
    "signet_1000": ["experiment=synth_scale_signet"],
    "multitask_triplet_1000": ["experiment=synth_scale_multitask_triplet"],
}
#: protocols (conf/protocol) run on every row's last checkpoint, with the figures the table shows
PROTOCOLS: dict[str, tuple[str, ...]] = {
    "kaggle_wd": ("EER", "EER_userthresholds"),
    "kaggle_wi": ("EER", "EER_userthresholds"),
    "nisdcc_wd": ("EER", "EER_userthresholds"),
    "nisdcc_wi": ("EER", "EER_userthresholds"),
    "tobacco800_pairs": ("EER", "mean_AUC"),
}


def run_dir(row: str, seed: int, study_dir: Path = STUDY_DIR) -> Path:
    return study_dir / row / f"seed{seed}"


def _command(tool: str, overrides: Sequence[str]) -> list[str]:
    """The console script next to this Python (the project's .venv), with Hydra overrides."""
    return [str(Path(sys.executable).with_name(tool)), *overrides]


def _run(cmd: list[str], log: Path, threads: int) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        done = subprocess.run(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed (exit {done.returncode}); see {log}")


def run_one(row: str, seed: int, threads: int, study_dir: Path = STUDY_DIR) -> str:
    """Train (unless done) and evaluate one row and seed; returns a line saying what happened."""
    out = run_dir(row, seed, study_dir)
    ckpt = out / "checkpoints" / "last.ckpt"
    if not ckpt.exists():
        _run(
            _command("sigbench-train", [*ROWS[row], f"seed={seed}", f"hydra.run.dir={out}"]),
            out / "study_train.log",
            threads,
        )
    for protocol in PROTOCOLS:
        target = out / "study_eval" / protocol
        if not list(target.glob("*/results.json")):
            _run(
                _command(
                    "sigbench-eval", [f"ckpt={ckpt}", f"protocol={protocol}", f"hydra.run.dir={target}"]
                ),
                target / "study_eval.log",
                threads,
            )
    return f"{row} seed {seed}: done ({out})"


def _summary(out: Path, protocol: str) -> dict | None:
    found = sorted((out / "study_eval" / protocol).glob("*/results.json"))
    return json.loads(found[0].read_text())["summary"]["metrics"] if found else None


def _train_minutes(out: Path) -> float | None:
    metrics = out / "metrics.json"
    if not metrics.exists():
        return None
    timings = json.loads(metrics.read_text()).get("timings_s") or {}
    return sum(timings.values()) / 60 if timings else None


def _cell(values: list[tuple[float, float]]) -> str:
    """Mean over seeds, mean std over folds, and the seeds' own figures (all in %)."""
    if not values:
        return "-"
    means = [100 * m for m, _ in values]
    stds = [100 * s for _, s in values]
    seeds = " / ".join(f"{m:.1f}" for m in means)
    return f"{np.mean(means):.1f} ± {np.mean(stds):.1f} ({seeds})"


def table(rows: Sequence[str], study_dir: Path = STUDY_DIR) -> str:
    """Markdown table: one line per row with finished runs, one column per protocol figure."""
    header = ["row", "seeds", "train min"] + [f"{p} {m}" for p, ms in PROTOCOLS.items() for m in ms]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        seeds = sorted(p for p in (study_dir / row).glob("seed*") if (p / "study_eval").exists())
        if not seeds:
            continue
        minutes = [m for m in (_train_minutes(s) for s in seeds) if m is not None]
        cells = [row, ", ".join(s.name[4:] for s in seeds), f"{np.mean(minutes):.1f}" if minutes else "-"]
        for protocol, metrics in PROTOCOLS.items():
            summaries = [_summary(s, protocol) for s in seeds]
            for metric in metrics:
                values = [(m[metric]["mean"], m[metric]["std"]) for m in summaries if m is not None]
                cells.append(_cell(values))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--study-dir", type=Path, default=STUDY_DIR, help="where the runs live")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="train and evaluate rows x seeds")
    run.add_argument("--rows", nargs="+", choices=list(ROWS), required=True)
    run.add_argument("--seeds", nargs="+", type=int, default=[1, 2])
    run.add_argument("--jobs", type=int, default=1, help="runs at a time (one thread each when > 1)")
    run.add_argument("--threads", type=int, default=None, help="threads per run (default: see --jobs)")
    show = sub.add_parser("table", help="print the table of finished runs")
    show.add_argument("--rows", nargs="+", choices=list(ROWS), default=list(ROWS))
    args = parser.parse_args(argv)
    if args.command == "table":
        print(table(args.rows, args.study_dir))
        return 0
    threads = args.threads or (1 if args.jobs > 1 else (os.cpu_count() or 1))
    jobs = [(row, seed) for row in args.rows for seed in args.seeds]
    failures = 0
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for future in [pool.submit(run_one, row, seed, threads, args.study_dir) for row, seed in jobs]:
            try:
                print(future.result(), flush=True)
            except RuntimeError as err:
                failures += 1
                print(err, file=sys.stderr, flush=True)
    print(table(args.rows, args.study_dir))
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
