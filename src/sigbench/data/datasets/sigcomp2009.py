"""ICDAR 2009 SigComp, NISDCC part (Blankers et al. 2009).

Layout: ``<fff><www>_<n>.<ext>`` with a 3-digit forger id fff and a 3-digit writer id www: genuine when
fff == www, a skilled forgery of www by fff otherwise. Files under a ``forged/`` folder must be forgeries
(fff != www); one that claims otherwise is reported as unmatched rather than guessed.

No canvas was published. The public preview holds small crops (at most about 131 x 343 px), so the default
260 x 370 fits them with the 170 x 242 aspect; pass ``canvas_size`` for full-page scans.
"""

from __future__ import annotations

import re
from pathlib import Path

from sigbench.data.datasets.base import ANY_PARENT, EXT, RegexAdapter, Rule, SignatureRecord, register

_IDS = r"(?P<forger>\d{3})(?P<writer>\d{3})_\d+" + EXT


@register
class Nisdcc2009Adapter(RegexAdapter):
    name = "sigcomp2009_nisdcc"
    default_canvas = (260, 370)
    rules = (Rule(ANY_PARENT + r"forged/" + _IDS, yforg=1), Rule(ANY_PARENT + _IDS))

    def classify(self, path: Path, rel: str, match: re.Match, rule: Rule) -> SignatureRecord | None:
        writer, forger = match["writer"], match["forger"]
        if forger == writer:
            return None if rule.yforg == 1 else SignatureRecord(path, writer, 0, None)
        return SignatureRecord(path, writer, 1, forger)
