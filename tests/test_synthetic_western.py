"""The ``western`` synthetic style: deterministic from the seed, Latin-script names, initials-only writers."""

from __future__ import annotations

import re

import numpy as np
import pytest

from sigbench.cli import synthetic as cli
from sigbench.data.formats import load_dataset
from sigbench.data.synthetic import STYLES, cache_config, generate_dataset, make_writer, western
from sigbench.data.synthetic.rng import Stream, stream_rng

LATIN_NAME = re.compile(r"^[A-Z][a-z]*( [A-Z][a-z]*)*$")


def test_styles_keep_classic_as_default():
    assert STYLES == ("classic", "western")
    classic = make_writer(3, 5)
    assert classic.plan.text == make_writer(3, 5, "classic").plan.text
    assert np.array_equal(
        classic.plan.components[0].points, make_writer(3, 5, "classic").plan.components[0].points
    )
    # classic names are placeholder capitals ("X") plus random letters; western ones are real names
    assert make_writer(3, 5, "western").plan.text != classic.plan.text


def test_same_seed_gives_identical_arrays_other_seed_differs():
    a = generate_dataset(3, 2, 1, seed=11, img_size=(60, 90), style="western")
    b = generate_dataset(3, 2, 1, seed=11, img_size=(60, 90), style="western")
    c = generate_dataset(3, 2, 1, seed=12, img_size=(60, 90), style="western")
    assert np.array_equal(a.x, b.x)
    assert not np.array_equal(a.x, c.x)
    classic = generate_dataset(3, 2, 1, seed=11, img_size=(60, 90))
    assert not np.array_equal(a.x, classic.x)


def test_names_are_latin_script_from_the_name_lists():
    surnames = {s.capitalize() for s in western.WRITABLE_SURNAMES}
    full_names = 0
    for wid in range(300):
        text = make_writer(0, wid, "western").plan.text
        assert LATIN_NAME.match(text), text
        words = text.split(" ")
        if len(words[-1]) > 1:  # not initials only: the last word is a listed surname
            assert words[-1] in surnames, text
            full_names += 1
    assert full_names > 200


def test_every_listed_name_is_writable_and_most_are_kept():
    for name in (*western.WRITABLE_GIVEN, *western.WRITABLE_SURNAMES):
        assert set(name) <= set(western.glyphs.LOWERCASE), name
    assert len(western.WRITABLE_GIVEN) >= 0.8 * len(western.GIVEN_NAMES)
    assert len(western.WRITABLE_SURNAMES) >= 0.8 * len(western.SURNAMES)


@pytest.mark.parametrize("rate", [0.1, 0.5])
def test_initials_only_writers_occur_at_the_configured_rate(rate):
    habits = western.WesternHabits(initials_only_rate=rate)
    n = 3000
    initials = 0
    for wid in range(n):
        words = western.choose_words(stream_rng(1, wid, Stream.PLAN), habits)
        only = all(w.letters == "" for w in words)
        initials += only
        if only:
            assert 2 <= len(words) <= 3 and all(w.capital_letter.isupper() for w in words)
    sd = np.sqrt(rate * (1 - rate) / n)
    assert abs(initials / n - rate) < 4 * sd


def test_default_population_rate_shows_in_generated_writers():
    texts = [make_writer(2, wid, "western").plan.text for wid in range(1000)]
    initials = np.mean([all(len(w) == 1 for w in t.split(" ")) for t in texts])
    sd = np.sqrt(western.HABITS.initials_only_rate * 0.9 / 1000)
    assert abs(initials - western.HABITS.initials_only_rate) < 4 * sd


def test_flourishes_underlines_and_paraphs_occur():
    kinds = [tuple(c.kind for c in make_writer(4, wid, "western").plan.components) for wid in range(200)]
    with_flourish = [make_writer(4, wid, "western").plan.flourish_part >= 0 for wid in range(200)]
    assert 0.3 < np.mean(with_flourish) < 0.9
    assert any("flourish" in k for k in kinds)  # some written as a separate stroke


def test_unknown_style_is_named():
    with pytest.raises(ValueError, match="style='gothic'"):
        cache_config(2, 1, 0, style="gothic")
    with pytest.raises(ValueError, match="style='gothic'"):
        generate_dataset(2, 1, 0, style="gothic")


def test_cli_style_option_writes_the_western_population(tmp_path, capsys):
    npz = tmp_path / "w.npz"
    argv = [str(tmp_path / "set"), "--writers", "2", "--genuine", "1", "--forgeries", "1", "--images", "none"]
    assert cli.main([*argv, "--npz", str(npz), "--seed", "3", "--style", "western"]) == 0
    assert np.array_equal(load_dataset(npz).x, generate_dataset(2, 1, 1, seed=3, style="western").x)
    with pytest.raises(SystemExit):
        cli.main([*argv, "--npz", str(npz), "--style", "gothic"])
    assert "--style" in capsys.readouterr().err


def test_faint_thin_initials_writer_is_preprocessed():
    """Seed 2018's writer 97 signs "L h" with a fine, faint pen; its sample 6 used to be called blank."""
    from sigbench.data.preprocess import preprocess_signature
    from sigbench.data.synthetic.dataset import CANVAS_SIZE, IMG_SIZE
    from sigbench.data.synthetic.difficulty import resolve_difficulty
    from sigbench.data.synthetic.samples import writer_scans

    scans = writer_scans(2018, 97, 7, 0, resolve_difficulty("default"), style="western")
    image = preprocess_signature(scans[6].image, CANVAS_SIZE, IMG_SIZE, None, name=scans[6].info.filename)
    assert 0 < np.count_nonzero(image) < image.size // 10
