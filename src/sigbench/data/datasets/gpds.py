"""GPDS-960 grayscale (Vargas et al. 2007) and GPDS-synthetic (Ferrer et al. 2013).

Both put each writer in a folder ``NNN/`` with ``c-NNN-YY.<ext>`` genuine (24 per writer) and
``cf-NNN-YY.<ext>`` skilled forgeries (30 per writer), JPEG for the synthetic set, which numbers its
4000 writers ``001``..``4000``. The writer id is read from the file name. Canvases 952 x 1360 and
2078 x 3307 (notes section 1): the synthetic scans are much larger.
"""

from __future__ import annotations

from sigbench.data.datasets.base import ANY_PARENT, EXT, RegexAdapter, Rule, register


@register
class GpdsAdapter(RegexAdapter):
    name = "gpds"
    default_canvas = (952, 1360)
    rules = (
        Rule(ANY_PARENT + r"c-(?P<writer>\d+)-\d+" + EXT, yforg=0),
        Rule(ANY_PARENT + r"cf-(?P<writer>\d+)-\d+" + EXT, yforg=1),
    )


@register
class GpdsSyntheticAdapter(GpdsAdapter):
    name = "gpds_synthetic"
    default_canvas = (2078, 3307)
