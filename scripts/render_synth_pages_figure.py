"""Render synthesised document pages at every difficulty level, with their boxes, to ``docs/synth_pages.png``.

Top row: the pages as a detector sees them (L1 clean letter ... L5 cluttered photo). Bottom row: the same
pages with the ground truth drawn -- quads coloured by class (signature, initials, redaction, date) and the
signature mask tinted -- which is how a reader checks by eye that boxes sit tight on the pasted ink,
that masks follow the strokes through stamps and ruled lines, and that distractors stay unlabelled.

    .venv/bin/python scripts/render_synth_pages_figure.py [--seed 0] [--out PATH]

``--level6`` renders level-6 business pages instead (``docs/synth_pages_l6.png``): signatures from the
tobacco-like recipes' real-ink mixture (``conf/data/ink/real_mixture.yaml``, scans from ``--shared-data``),
signature ink tinted green in its box, the unannotated look-alikes tinted red.

    .venv/bin/python scripts/render_synth_pages_figure.py --level6 [--shared-data ../shared/data]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from hydra.utils import instantiate
from matplotlib.patches import Patch, Polygon
from omegaconf import OmegaConf
from PIL import Image

from sigbench.documents.business import business_page_layers
from sigbench.documents.formats import LABELS
from sigbench.documents.sources import SyntheticSource
from sigbench.documents.synthesize import synthesize_page
from sigbench.runner.conf import conf_dir

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "docs" / "synth_pages.png"
LEVEL6_OUT = REPO / "docs" / "synth_pages_l6.png"
COLORS = {"signature": "tab:green", "initials": "tab:orange", "redaction": "tab:purple", "date": "tab:blue"}
FUSION_OF_LEVEL = {1: ("alpha",), 2: ("ink",), 3: ("poisson",), 4: ("ink",), 5: ("alpha",)}


def render_figure(out: Path, seed: int = 0) -> Path:
    source = SyntheticSource(num_writers=50, samples_per_writer=4, seed=seed)
    fig, axes = plt.subplots(2, 5, figsize=(17, 9.2), squeeze=False)
    for col, level in enumerate(range(1, 6)):
        page = synthesize_page(
            index=col, level=level, source=source, seed=seed, fusions=FUSION_OF_LEVEL[level], classes=LABELS
        )
        tinted = page.image.copy()
        ink = page.mask > 0
        tinted[ink] = (0.4 * tinted[ink] + 0.6 * np.array([255, 0, 0])).astype(np.uint8)
        for row, image in enumerate((page.image, tinted)):
            ax = axes[row, col]
            ax.imshow(image, interpolation="lanczos")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 1:
                for ann in page.annotations:
                    ax.add_patch(
                        Polygon(ann.as_array(), fill=False, edgecolor=COLORS[ann.label], linewidth=1.4)
                    )
            else:
                ax.set_title(page.name, fontsize=8)
    handles = [Patch(edgecolor=c, facecolor="none", label=name) for name, c in COLORS.items()]
    handles.append(Patch(color="red", alpha=0.6, label="signature mask"))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=9, frameon=False)
    fig.suptitle(
        "sigbench-synth: pages at levels L1 (clean) to L5 (cluttered photo); below, quads by class and the "
        "signature mask (initials and dates labelled: SignVerOD classes)",
        fontsize=10,
    )
    fig.tight_layout(rect=(0, 0.03, 1, 0.97), h_pad=0.4, w_pad=0.3)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out


def render_level6_figure(out: Path, shared_data: Path, seed: int = 0, pages: int = 4) -> Path:
    """Level-6 pages with the recipes' real-ink mixture; look-alikes red, signatures green in blue boxes."""
    mixture = OmegaConf.load(Path(conf_dir()) / "data" / "ink" / "real_mixture.yaml")
    cfg = OmegaConf.create({"paths": {"shared_data_dir": str(shared_data.resolve())}, "ink": mixture})
    source = instantiate(cfg.ink)
    fig, axes = plt.subplots(1, pages, figsize=(3.3 * pages, 4.5), squeeze=False)
    for i in range(pages):
        page = business_page_layers(np.random.default_rng([seed, i]), source, long_side=1000)
        tinted = page.image.copy()
        tinted[page.lookalikes] = (220, 30, 30)
        tinted[page.mask > 0] = (0, 150, 0)
        ax = axes[0, i]
        ax.imshow(tinted, interpolation="lanczos")
        ax.set_xticks([])
        ax.set_yticks([])
        for ann in page.annotations:
            ax.add_patch(Polygon(ann.as_array(), fill=False, edgecolor="tab:blue", linewidth=1.2))
        ax.set_title("\n".join(a.name for a in page.annotations) or "unsigned", fontsize=7)
    fig.suptitle(
        "Level 6 with real ink and look-alikes: signature ink green in its box (blue), "
        "unannotated Bates numbers, letterheads, logos, stamps and notes red",
        fontsize=9,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.95), w_pad=0.3)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80)
    plt.close(fig)
    Image.open(out).convert("RGB").quantize(colors=64, method=Image.Quantize.FASTOCTREE).save(
        out, optimize=True
    )  # a few inks: a small PNG
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--level6", action="store_true", help="level-6 pages with real ink and look-alikes")
    parser.add_argument("--shared-data", type=Path, default=REPO.parent / "shared" / "data")
    args = parser.parse_args()
    if args.level6:
        print(render_level6_figure(args.out or LEVEL6_OUT, args.shared_data, seed=args.seed))
    else:
        print(render_figure(args.out or DEFAULT_OUT, seed=args.seed))


if __name__ == "__main__":
    main()
