"""Round trips and error messages of the document annotation formats (AOSSig txt, COCO, YOLO, GEDI)."""

from __future__ import annotations

import json

import pytest

from sigbench.documents.formats import (
    Annotation,
    FormatError,
    Page,
    from_coco,
    from_yolo_lines,
    read_coco,
    read_gedi,
    read_gedi_page,
    read_quads,
    to_coco,
    to_yolo_lines,
    write_coco,
    write_quads,
)

ROTATED = Annotation(((10.5, 20.0), (110.25, 25.0), (105.0, 60.0), (5.0, 55.0)))


def _sample() -> list[Annotation]:
    return [
        Annotation.from_box(1, 2, 30, 12),
        Annotation(ROTATED.quad, score=0.8125),
        Annotation.from_box(0, 0, 5, 5, name="w012_s03", slot_label="signature_1"),
        Annotation.from_box(7, 8, 9, 10, score=0.25, name="w001", slot_label="initials"),
    ]


def test_aossig_round_trip(tmp_path):
    path = write_quads(tmp_path / "page.txt", _sample())
    assert read_quads(path) == _sample()
    assert path.read_text().splitlines()[0] == "1,2,30,2,30,12,1,12"
    assert not list(tmp_path.glob(".*tmp"))


def test_aossig_missing_score_means_certain(tmp_path):
    (tmp_path / "p.txt").write_text("0,0,4,0,4,4,0,4\n\n")
    (ann,) = read_quads(tmp_path / "p.txt")
    assert ann.score is None and ann.confidence == 1.0 and ann.bounds() == (0, 0, 4, 4)


@pytest.mark.parametrize(
    ("line", "message"),
    [("0,0,4,0,4,4,0", "got 7"), ("0,0,4,x,4,4,0,4", "coordinate 4 'x'"), ("0,0,4,0,4,4,0,4,high", "score")],
)
def test_aossig_malformed_lines_name_file_and_line(tmp_path, line, message):
    path = tmp_path / "bad.txt"
    path.write_text(f"0,0,4,0,4,4,0,4\n{line}\n")
    with pytest.raises(FormatError, match=message) as info:
        read_quads(path)
    assert f"{path}:2" in str(info.value)


def test_coco_round_trip(tmp_path):
    pages = [
        Page("a.jpg", 200, 100, _sample()),
        Page("b.jpg", 50, 40, []),
        Page("c.jpg", 64, 64, [Annotation.from_box(3, 4, 13, 9, label="date")]),
    ]
    doc = to_coco(pages)
    assert [c["name"] for c in doc["categories"]] == ["signature", "initials", "redaction", "date"]
    first = doc["annotations"][0]
    assert first["bbox"] == [1, 2, 29, 10] and first["area"] == 290 and first["category_id"] == 1
    assert len(first["segmentation"][0]) == 8
    assert doc["annotations"][-1]["category_id"] == 4
    assert from_coco(json.loads(json.dumps(doc))) == pages
    assert read_coco(write_coco(tmp_path / "coco.json", pages)) == pages


def test_coco_bbox_only_and_malformed(tmp_path):
    doc = to_coco([Page("a.jpg", 10, 10, [Annotation.from_box(1, 1, 4, 3)])])
    del doc["annotations"][0]["segmentation"]
    assert from_coco(doc)[0].annotations[0].bounds() == (1, 1, 4, 3)
    bad = tmp_path / "bad.json"
    bad.write_text('{"images": [\n')
    with pytest.raises(FormatError, match="bad.json"):
        read_coco(bad)


def test_yolo_round_trip_and_errors():
    anns = [
        Annotation.from_box(10, 20, 70, 50, label="initials"),
        Annotation.from_box(0, 0, 33, 17, score=0.7),
    ]
    lines = to_yolo_lines(anns, width=300, height=200)
    assert lines[0].startswith("1 0.1333333333 0.175 0.2 0.15")
    back = from_yolo_lines(lines, 300, 200)
    for a, b in zip(anns, back, strict=True):
        assert a.label == b.label and a.score == b.score
        assert b.bounds() == pytest.approx(a.bounds(), abs=1e-6)
    # rotated quads become their axis-aligned bounds
    (box,) = from_yolo_lines(to_yolo_lines([ROTATED], 300, 200), 300, 200)
    assert box.bounds() == pytest.approx(ROTATED.bounds(), abs=1e-6)
    with pytest.raises(FormatError, match=r"p.txt:2: class '7'"):
        from_yolo_lines(["0 .5 .5 .1 .1", "7 .5 .5 .1 .1"], 10, 10, source="p.txt")
    with pytest.raises(FormatError, match=r"p.txt:1: .*got 4"):
        from_yolo_lines(["0 .5 .5 .1"], 10, 10, source="p.txt")


GEDI = """<?xml version="1.0" encoding="UTF-8"?>
<GEDI xmlns="http://lamp.cfar.umd.edu/media/projects/GEDI/" GEDI_version="2.4">
 <USER name="annotator"> </USER>
 <DL_DOCUMENT src="aah97e00-page02_2.tif" NrOfPages="1" docTag="xml">
  <DL_PAGE gedi_type="DL_PAGE" src="aah97e00-page02_2.tif" pageID="1" width="2560" height="3295">
   <DL_ZONE gedi_type="DLLogo" id="None" col="1074" row="18" width="374" height="219"> </DL_ZONE>
   <DL_ZONE gedi_type="DLSignature" id="None" col="1409" row="1853" width="621" height="312"
            AuthorID="Tanner, Stephen" Overlapped="No"> </DL_ZONE>
   <DL_ZONE gedi_type="DLSignature" id="None" col="100" row="3000" width="50" height="20"> </DL_ZONE>
  </DL_PAGE>
 </DL_DOCUMENT>
</GEDI>
"""


def test_gedi_signatures_authors_and_ignored_zones(tmp_path):
    path = tmp_path / "aah97e00-page02_2.xml"
    path.write_text(GEDI)
    first, second = read_gedi(path)
    assert first.bounds() == (1409, 1853, 2030, 2165)
    assert first.name == "Tanner, Stephen" and first.label == "signature"
    assert second.name is None
    page = read_gedi_page(path, include_logos=True)
    assert (page.file_name, page.width, page.height) == ("aah97e00-page02_2.tif", 2560, 3295)
    assert [a.label for a in page.annotations] == ["logo", "signature", "signature"]


def test_gedi_malformed_names_file(tmp_path):
    path = tmp_path / "broken.xml"
    path.write_text(GEDI.replace("</DL_PAGE>", ""))
    with pytest.raises(FormatError, match=r"broken.xml: malformed XML"):
        read_gedi(path)
    path.write_text(GEDI.replace('col="1409" ', ""))
    with pytest.raises(FormatError, match=r"broken.xml: DL_ZONE #2: missing attribute 'col'"):
        read_gedi(path)
