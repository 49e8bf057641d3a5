"""Brazilian PUC-PR (Freitas et al. 2000): 168 writers, 40 genuine; writers 1-60 also 10 simple and 10
skilled forgeries.

Assumed naming (that of sigver's loader, the layout the SigNet papers used): one flat folder of
``a<UUU>_<NN>.<ext>`` where NN 01-40 are genuine, 41-50 simple forgeries (yforg 2) and 51-60 skilled
forgeries (yforg 1). Sample numbers outside 1-60 are reported as unmatched. For a copy sorted into
``genuine/ simple/ skilled/`` folders use the generic ``folder`` adapter. Canvas 700 x 1000 (sigver).
"""

from __future__ import annotations

import re
from pathlib import Path

from sigbench.data.datasets.base import ANY_PARENT, EXT, RegexAdapter, Rule, SignatureRecord, register

#: (first, last, yforg) sample ranges of one writer.
SAMPLE_KINDS = ((1, 40, 0), (41, 50, 2), (51, 60, 1))


@register
class BrazilianAdapter(RegexAdapter):
    name = "brazilian"
    default_canvas = (700, 1000)
    rules = (Rule(ANY_PARENT + r"a(?P<writer>\d+)_(?P<sample>\d+)" + EXT),)

    def classify(self, path: Path, rel: str, match: re.Match, rule: Rule) -> SignatureRecord | None:
        sample = int(match["sample"])
        for first, last, yforg in SAMPLE_KINDS:
            if first <= sample <= last:
                return SignatureRecord(path, match["writer"], yforg, None)
        return None
