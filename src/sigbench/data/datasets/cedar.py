"""CEDAR (Kalera, Srihari, Xu 2004): 55 writers, 24 genuine and 24 skilled forgeries each.

Layout: ``full_org/original_<writer>_<n>.png`` and ``full_forg/forgeries_<writer>_<n>.png``; the file
prefix alone tells the kind, so the folders may be renamed or flattened. Canvas 730 x 1042 (sigver).
"""

from __future__ import annotations

from sigbench.data.datasets.base import ANY_PARENT, EXT, RegexAdapter, Rule, register


@register
class CedarAdapter(RegexAdapter):
    name = "cedar"
    default_canvas = (730, 1042)
    rules = (
        Rule(ANY_PARENT + r"original_(?P<writer>\d+)_\d+" + EXT, yforg=0),
        Rule(ANY_PARENT + r"forgeries_(?P<writer>\d+)_\d+" + EXT, yforg=1),
    )
