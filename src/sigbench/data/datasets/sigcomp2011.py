"""ICDAR 2011 SigComp, Dutch offline part, as redistributed on Kaggle ("sign_data", Liwicki et al. 2011).

Layout: ``<www>/`` genuine files named ``NN_www.png`` (or ``www_NN.png``, both occur), and
``<www>_forg/`` forgeries named ``NN_ffffwww.png`` (or ``ffffwww_NN.png``) with a 4-digit forger id.
The writer in the name must be the folder's. Kaggle's ``train/`` and ``test/`` folders share writers:
pointing at ``sign_data/`` merges them, and byte-identical copies are removed by prepare's de-duplication.

No canvas was published; 840 x 1360 (the preprocessing default, 170 x 242 aspect) fits the scans.
"""

from __future__ import annotations

from sigbench.data.datasets.base import ANY_PARENT, EXT, RegexAdapter, Rule, register


@register
class SigComp2011Adapter(RegexAdapter):
    name = "sigcomp2011"
    default_canvas = (840, 1360)
    rules = (
        Rule(ANY_PARENT + r"(?P<writer>\d+)/(?:\d+_(?P=writer)|(?P=writer)_\d+)" + EXT, yforg=0),
        Rule(
            ANY_PARENT + r"(?P<writer>\d+)_forg/(?:\d+_)?(?P<forger>\d{4})(?P=writer)(?:_\d+)?" + EXT,
            yforg=1,
        ),
    )
