"""Render ``docs/synthetic_western.png``: western-style synthetic writers beside real Kaggle and NISDCC ones.

Each row is one writer: genuine signatures, then (for synthetic writers) a skilled forgery outlined in red.
The top rows are synthetic ``western`` writers with the name they sign; the bottom rows real genuine
signatures from the Kaggle (SigComp 2011 Dutch) and NISDCC development sets, so a reader can judge by eye
whether the generated hands look like real Western signatures.  Real rows are left out, with a note, when
``../shared/data`` is absent.

    .venv/bin/python scripts/render_western_figure.py [--writers 5] [--seed 0] [--out PATH]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from sigbench.data.synthetic import make_writer, resolve_difficulty, writer_scans

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "docs" / "synthetic_western.png"
DATA = REPO.parent / "shared" / "data"
COLUMNS = 5  # 4 genuine + 1 forgery for synthetic rows, 5 genuine for real rows


def _real_rows(data: Path, writers_per_set: int) -> list[tuple[str, list]]:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from compare_synthetic_real import real_genuine

    rows = []
    for label, sub in (("Kaggle", "kaggle_sign_data"), ("NISDCC", "sigcomp2009_nisdcc_preview")):
        if not (data / sub / "manifest.csv").exists():
            continue
        for writer, images in real_genuine(data / sub, writers_per_set, COLUMNS).items():
            rows.append((f"real {label} {writer}", [(img, False) for img in images]))
    return rows


def render_figure(
    out: Path, writers: int = 5, seed: int = 0, data: Path = DATA, real_writers: int = 2
) -> Path:
    diff = resolve_difficulty("default")
    rows: list[tuple[str, list]] = []
    for wid in range(writers):
        samples = writer_scans(seed, wid, COLUMNS - 1, 1, diff, style="western")
        name = make_writer(seed, wid, "western").plan.text
        rows.append((f"synthetic: {name}", [(s.image, s.info.forgery) for s in samples]))
    rows += _real_rows(data, real_writers)
    fig, axes = plt.subplots(
        len(rows), COLUMNS, figsize=(2.6 * COLUMNS, 1.2 * len(rows) + 0.5), squeeze=False
    )
    for r, (label, images) in enumerate(rows):
        for c in range(COLUMNS):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c >= len(images):
                ax.axis("off")
                continue
            image, forgery = images[c]
            ax.imshow(image, cmap="gray", vmin=0, vmax=255, interpolation="lanczos")
            if forgery:
                for spine in ax.spines.values():
                    spine.set_edgecolor("tab:red")
                    spine.set_linewidth(1.5)
            if c == 0:
                ax.set_ylabel(label, fontsize=7, rotation=0, ha="right", va="center")
    fig.suptitle(
        f"sigbench western synthetic writers (seed={seed}; forgery in red) and real genuine signatures",
        fontsize=10,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.97), h_pad=0.3, w_pad=0.3)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80)
    plt.close(fig)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--writers", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()
    print(f"wrote {render_figure(args.out, args.writers, args.seed, args.data)}")


if __name__ == "__main__":
    main()
