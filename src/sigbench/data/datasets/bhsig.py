"""BHSig260 (Pal, Alaei, Pal, Blumenstein 2016): Bengali (100 writers) and Hindi (160 writers), 24 genuine
and 30 skilled forgeries each.

Layout: ``<w>/B-S-<w>-G-<nn>.<ext>`` genuine and ``<w>/B-S-<w>-F-<nn>.<ext>`` forgeries (``H-S-`` for Hindi);
the writer id is read from the file name, so zero-padded folder names (``001/``) do not matter. The
upstream distribution holds byte-identical duplicates inside writers: prepare de-duplicates them.

No canvas was published. Bengali scans are at most about 305 x 1083 px, so 770 x 1100 fits them with the
170 x 242 aspect (a canvas of another aspect would lose ink to the cover-resize's crop). Hindi scans reach
about 435 x 1329 px, hence 936 x 1329.
"""

from __future__ import annotations

from sigbench.data.datasets.base import ANY_PARENT, EXT, RegexAdapter, Rule, register


def bhsig_rules(script: str) -> tuple[Rule, ...]:
    """Rules for one script letter (``B`` Bengali, ``H`` Hindi)."""
    stem = ANY_PARENT + script + r"-S-(?P<writer>\d+)-"
    return (Rule(stem + r"G-\d+" + EXT, yforg=0), Rule(stem + r"F-\d+" + EXT, yforg=1))


@register
class BhsigBengaliAdapter(RegexAdapter):
    name = "bhsig260_bengali"
    default_canvas = (770, 1100)
    rules = bhsig_rules("B")


@register
class BhsigHindiAdapter(RegexAdapter):
    name = "bhsig260_hindi"
    default_canvas = (936, 1329)
    rules = bhsig_rules("H")
