"""Chains of commands run side by side, their output streamed line by line under each job's name.

Used where independent trainings share one small machine (``make demo``): each job is its own process
(so each keeps its own thread count and its own Python state), the jobs of one chain run one after
another, the chains run at once. The first job that fails stops the others -- the caller cannot go on
without all of them -- and the error names it, its exit status and its last lines of output.

The standard library's :mod:`subprocess` does the work; what it lacks, and this module adds, is the
prefixed interleaving of several live outputs and the stop-everything-on-first-failure rule.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TextIO

TAIL_LINES = 20


@dataclass(frozen=True)
class Job:
    """One command: ``name`` prefixes its output lines and names it in errors."""

    name: str
    argv: Sequence[str]


class JobError(RuntimeError):
    """A job exited with a non-zero status (the others were stopped)."""

    def __init__(self, name: str, returncode: int, tail: Sequence[str]) -> None:
        self.name = name
        self.returncode = returncode
        self.tail = list(tail)
        shown = "\n".join(f"  [{name}] {line}" for line in self.tail) or "  (no output)"
        super().__init__(f"job {name!r} failed with exit status {returncode}; its last lines:\n{shown}")


class _Runner:
    def __init__(self, env: Mapping[str, str] | None, cwd: str | None, stream: TextIO) -> None:
        self.env = dict(os.environ if env is None else env)
        self.cwd = cwd
        self.stream = stream
        self.lock = threading.Lock()
        self.failed = threading.Event()
        self.failure: JobError | None = None
        self.running: dict[str, subprocess.Popen] = {}
        self.seconds: dict[str, float] = {}

    def emit(self, name: str, line: str) -> None:
        with self.lock:
            self.stream.write(f"[{name}] {line}\n")
            self.stream.flush()

    def stop_others(self, failed: str) -> None:
        with self.lock:
            others = [p for n, p in self.running.items() if n != failed]
        for process in others:
            if process.poll() is None:
                process.terminate()

    def run_job(self, job: Job) -> None:
        started = time.perf_counter()
        process = subprocess.Popen(
            list(job.argv),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            bufsize=1,
            env=self.env,
            cwd=self.cwd,
        )
        with self.lock:
            self.running[job.name] = process
        if self.failed.is_set():  # another job failed while this one was starting
            process.terminate()
        tail: deque[str] = deque(maxlen=TAIL_LINES)
        assert process.stdout is not None
        for raw in process.stdout:
            # progress bars redraw with carriage returns: keep the last state of each line
            line = raw.rstrip("\n").rsplit("\r", 1)[-1]
            tail.append(line)
            self.emit(job.name, line)
        returncode = process.wait()
        with self.lock:
            del self.running[job.name]
            self.seconds[job.name] = time.perf_counter() - started
        if returncode != 0 and not self.failed.is_set():
            with self.lock:
                self.failure = JobError(job.name, returncode, tail)
            self.failed.set()
            self.stop_others(job.name)

    def run_chain(self, chain: Sequence[Job]) -> None:
        for job in chain:
            if self.failed.is_set():
                return
            self.run_job(job)


def run_chains(
    chains: Sequence[Sequence[Job]],
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    stream: TextIO | None = None,
) -> dict[str, float]:
    """Run the chains at once (the jobs of a chain in order); returns each job's wall time in seconds.

    Raises :class:`JobError` for the first job that exits non-zero, after stopping the jobs still
    running and letting every process end. Job names must be unique (they key the result).
    """
    names = [job.name for chain in chains for job in chain]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"job names must be unique; repeated: {repeated}")
    runner = _Runner(env, cwd, stream if stream is not None else sys.stdout)
    threads = [threading.Thread(target=runner.run_chain, args=(chain,), daemon=True) for chain in chains]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            thread.join()
    except KeyboardInterrupt:
        runner.failed.set()
        runner.stop_others("")
        raise
    if runner.failure is not None:
        raise runner.failure
    return dict(runner.seconds)
