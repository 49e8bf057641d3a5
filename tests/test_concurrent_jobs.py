"""Chains of commands run side by side: prefixed output, order within a chain, the first failure stops all."""

from __future__ import annotations

import io
import sys

import pytest

from sigbench.concurrent_jobs import Job, JobError, run_chains


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_chains_run_their_jobs_in_order_and_prefix_every_line(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    chains = [
        [
            Job("a1", python(f"open({str(first)!r}, 'w').write('x'); print('one'); print('two')")),
            # runs only after a1 has finished: it reads what a1 wrote
            Job("a2", python(f"print(open({str(first)!r}).read() * 3)")),
        ],
        [Job("b", python(f"open({str(second)!r}, 'w'); print('progress 50%\\rprogress 100%')"))],
    ]
    stream = io.StringIO()
    seconds = run_chains(chains, stream=stream)
    lines = stream.getvalue().splitlines()
    assert sorted(seconds) == ["a1", "a2", "b"]
    assert all(value > 0 for value in seconds.values())
    assert lines.index("[a1] one") < lines.index("[a1] two") < lines.index("[a2] xxx")
    assert "[b] progress 100%" in lines  # a carriage-return redraw keeps its last state
    assert second.is_file()
    assert all(line.startswith(("[a1] ", "[a2] ", "[b] ")) for line in lines)


def test_a_failing_job_is_named_and_stops_the_others(tmp_path):
    late, after = tmp_path / "late", tmp_path / "after"
    chains = [
        [
            Job("broken", python("import sys; print('loading'); print('bad key: lr'); sys.exit(3)")),
            Job("never", python(f"open({str(after)!r}, 'w')")),
        ],
        # would write its file after 60 s unless it is stopped
        [
            Job(
                "slow",
                python(
                    f"import time; print('started', flush=True); time.sleep(60); open({str(late)!r}, 'w')"
                ),
            )
        ],
    ]
    stream = io.StringIO()
    with pytest.raises(JobError) as caught:
        run_chains(chains, stream=stream)
    error = caught.value
    assert error.name == "broken" and error.returncode == 3
    assert error.tail == ["loading", "bad key: lr"]
    assert "'broken' failed with exit status 3" in str(error) and "[broken] bad key: lr" in str(error)
    assert not late.exists(), "the other chain's job kept running"
    assert not after.exists(), "the failing chain went on to its next job"


def test_job_names_must_be_unique():
    with pytest.raises(ValueError, match=r"repeated: \['x'\]"):
        run_chains([[Job("x", python("pass"))], [Job("x", python("pass"))]])
