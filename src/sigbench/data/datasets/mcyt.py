"""MCYT-75 offline (Ortega-Garcia et al. 2003): 75 writers, 15 genuine and 15 skilled forgeries each.

Layout: a folder per writer ``NNNN/`` holding ``NNNNvXX.bmp`` (genuine, *v* for "verdadera") and
``NNNNfXX.bmp`` (forgery, *f* for "falsa"); the forger is not recorded. Anything before the four-digit
id is tolerated (``*NNNNf*``). Canvas 600 x 850 (sigver).
"""

from __future__ import annotations

from sigbench.data.datasets.base import ANY_PARENT, EXT, RegexAdapter, Rule, register


@register
class McytAdapter(RegexAdapter):
    name = "mcyt"
    default_canvas = (600, 850)
    rules = (
        Rule(ANY_PARENT + r"[^/]*?(?P<writer>\d{4})v\d+" + EXT, yforg=0),
        Rule(ANY_PARENT + r"[^/]*?(?P<writer>\d{4})f\d+" + EXT, yforg=1),
    )
