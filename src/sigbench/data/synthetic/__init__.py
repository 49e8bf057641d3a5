"""Built-in synthetic signatures: a procedural pen-trajectory model with writers and skilled forgers.

In the spirit of GPDS-synthetic (Ferrer et al. 2015), every writer has a name-like stroke plan and a motor
style; genuine samples vary the way one hand varies, skilled forgeries copy the plan with another hand's
motor noise (tremor, hesitations, proportion errors, slow segmented strokes).  The pen trajectories are
rendered as raw grayscale scans and pass through the same preprocessing as real scans, so experiments can
run end to end without downloading anything.

Typical use::

    from sigbench.data.synthetic import generate_dataset, load_or_generate
    dev = load_or_generate(".cache/synthetic", num_writers=100, genuine_per_writer=12,
                           forgeries_per_writer=6)
    held_out = generate_dataset(50, 12, 6, first_writer=100)  # disjoint writers of the same population
"""

from sigbench.data.synthetic.dataset import (
    CANVAS_SIZE,
    GENERATOR_VERSION,
    IMG_SIZE,
    WriterBatch,
    assemble_dataset,
    cache_config,
    cache_key,
    generate_dataset,
    iter_writers,
    load_or_generate,
)
from sigbench.data.synthetic.difficulty import LEVELS, Difficulty, resolve_difficulty
from sigbench.data.synthetic.forger import FORGERS_PER_WRITER
from sigbench.data.synthetic.population import generate_population, load_or_generate_population
from sigbench.data.synthetic.render import SCAN_SIZE
from sigbench.data.synthetic.samples import RawSample, SampleInfo, render_raw_scan, writer_name, writer_scans
from sigbench.data.synthetic.writer import STYLES, Writer, make_writer

__all__ = [
    "CANVAS_SIZE",
    "FORGERS_PER_WRITER",
    "GENERATOR_VERSION",
    "IMG_SIZE",
    "LEVELS",
    "SCAN_SIZE",
    "STYLES",
    "Difficulty",
    "RawSample",
    "SampleInfo",
    "Writer",
    "WriterBatch",
    "assemble_dataset",
    "cache_config",
    "cache_key",
    "generate_dataset",
    "generate_population",
    "iter_writers",
    "load_or_generate",
    "load_or_generate_population",
    "make_writer",
    "render_raw_scan",
    "resolve_difficulty",
    "writer_name",
    "writer_scans",
]
