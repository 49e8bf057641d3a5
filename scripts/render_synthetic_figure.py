"""Render a grid of synthetic raw scans to ``docs/synthetic_samples.png``.

Rows are writers; the first columns are genuine signatures, the last ones skilled forgeries.  The figure is
how a reader checks, by eye, that genuine samples of one writer resemble each other, that forgeries copy the
shape with a different hand, and that writers differ from each other.

    .venv/bin/python scripts/render_synthetic_figure.py [--writers 6] [--difficulty default] [--out PATH]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from sigbench.data.synthetic import resolve_difficulty, writer_name, writer_scans

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "docs" / "synthetic_samples.png"


def render_figure(
    out: Path,
    writers: int = 6,
    genuine: int = 4,
    forgeries: int = 3,
    difficulty: str = "default",
    seed: int = 0,
    first_writer: int = 0,
) -> Path:
    diff = resolve_difficulty(difficulty)
    cols = genuine + forgeries
    fig, axes = plt.subplots(writers, cols, figsize=(2.6 * cols, 1.15 * writers + 0.5), squeeze=False)
    for r in range(writers):
        wid = first_writer + r
        for c, sample in enumerate(writer_scans(seed, wid, genuine, forgeries, diff)):
            ax = axes[r, c]
            ax.imshow(sample.image, cmap="gray", vmin=0, vmax=255, interpolation="lanczos")
            ax.set_xticks([])
            ax.set_yticks([])
            info = sample.info
            if info.forgery:
                for spine in ax.spines.values():
                    spine.set_edgecolor("tab:red")
                    spine.set_linewidth(1.5)
            if r == 0:
                title = f"forgery {info.index + 1}" if info.forgery else f"genuine {info.index + 1}"
                ax.set_title(title, fontsize=9, color="tab:red" if info.forgery else "black")
            if c == 0:
                ax.set_ylabel(writer_name(wid), fontsize=8)
    fig.suptitle(
        f"sigbench synthetic signatures (raw scans, difficulty={difficulty}, seed={seed}): "
        "genuine (black) and skilled forgeries (red)",
        fontsize=10,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.97), h_pad=0.3, w_pad=0.3)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--writers", type=int, default=6)
    parser.add_argument("--genuine", type=int, default=4)
    parser.add_argument("--forgeries", type=int, default=3)
    parser.add_argument("--difficulty", default="default")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--first-writer", type=int, default=0)
    args = parser.parse_args()
    path = render_figure(
        args.out, args.writers, args.genuine, args.forgeries, args.difficulty, args.seed, args.first_writer
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
