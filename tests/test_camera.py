"""Camera moves: parsing the option, autocomplete, and the prefix sent to Wiro."""

from __future__ import annotations

import pytest

from bot import camera
from bot.camera import CAMERA_MOVES, MAX_MOVES, CameraRefused, parse_moves, suggest


def test_the_fifteen_official_moves() -> None:
    assert len(CAMERA_MOVES) == 15
    assert len(set(CAMERA_MOVES)) == 15
    assert MAX_MOVES == 3


@pytest.mark.parametrize(
    ("text", "moves"),
    [
        (None, ()),
        ("", ()),
        ("  ", ()),
        ("Pan left", ("Pan left",)),
        ("pan LEFT", ("Pan left",)),
        ("  zoom   in ", ("Zoom in",)),
        ("[Zoom in]", ("Zoom in",)),
        ("Pan left,Zoom in", ("Pan left", "Zoom in")),
        ("zoom in, pan left", ("Zoom in", "Pan left")),  # typed order kept
        ("Pan left, Zoom in, Shake", ("Pan left", "Zoom in", "Shake")),
        ("Pan left,", ("Pan left",)),  # trailing comma from autocomplete
        ("Shake, shake, SHAKE", ("Shake",)),  # repeats count once
        ("Pan left, Pan left, Zoom in, Shake", ("Pan left", "Zoom in", "Shake")),
        ("tracking shot", ("Tracking shot",)),
    ],
)
def test_parse(text: str | None, moves: tuple[str, ...]) -> None:
    assert parse_moves(text) == moves


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("Dolly zoom", ("“Dolly zoom” is not a camera move", "Truck left", "Static shot")),
        ("Pan left, spin, orbit", ("“spin”, “orbit” are not camera moves", "up to 3")),
        ("Pan", ("“Pan” is not",)),
        ("Pan left, Pan right, Zoom in, Zoom out", ("at most 3", "you chose 4")),
    ],
)
def test_refused(text: str, words: tuple[str, ...]) -> None:
    with pytest.raises(CameraRefused) as err:
        parse_moves(text)
    for word in words:
        assert word in err.value.reason


def test_unknown_moves_are_refused_with_the_whole_list() -> None:
    with pytest.raises(CameraRefused) as err:
        parse_moves("barrel roll")
    assert all(move in err.value.reason for move in CAMERA_MOVES)


def test_prefix_is_one_bracketed_group_at_the_start() -> None:
    moves = parse_moves("pan left, zoom in")
    assert camera.prompt_with_moves("a cat", moves) == "[Pan left,Zoom in] a cat"
    assert camera.prompt_with_moves("a cat", ()) == "a cat"
    assert camera.prefix_length(moves) == len("[Pan left,Zoom in] ")
    assert camera.prefix_length(()) == 0


def test_stored_form_round_trips() -> None:
    moves = ("Pan left", "Zoom in", "Shake")
    assert camera.split_moves(camera.join_moves(moves)) == moves
    assert camera.join_moves(()) is None
    assert camera.split_moves(None) == ()


def values(current: str) -> list[str]:
    return [value for _, value in suggest(current)]


def test_empty_input_offers_every_move() -> None:
    assert values("") == list(CAMERA_MOVES)


@pytest.mark.parametrize(
    ("current", "expected"),
    [
        ("zo", ["Zoom in", "Zoom out"]),
        ("ZOOM O", ["Zoom out"]),
        ("left", ["Truck left", "Pan left"]),  # a later word matches too
        ("Pan left, zo", ["Pan left, Zoom in", "Pan left, Zoom out"]),
        ("Pan left,zo", ["Pan left, Zoom in", "Pan left, Zoom out"]),
        ("pan left, zoom in, sha", ["Pan left, Zoom in, Shake"]),
        ("xyz", []),
    ],
)
def test_completion(current: str, expected: list[str]) -> None:
    assert values(current) == expected


def test_after_a_comma_the_rest_is_offered_without_repeats() -> None:
    offered = values("Pan left, ")
    assert offered[0] == "Pan left"  # the choice so far is valid by itself
    assert "Pan left, Pan left" not in offered
    assert "Pan left, Zoom in" in offered
    assert len(offered) == 15  # itself + the 14 others


def test_a_complete_move_offers_itself_and_what_may_follow() -> None:
    offered = values("shake")
    assert offered[0] == "Shake"
    assert "Shake, Zoom in" in offered


def test_three_moves_offer_only_themselves() -> None:
    assert values("Pan left, Zoom in, Shake, ti") == ["Pan left, Zoom in, Shake"]
    assert values("pan left, zoom in, shake") == ["Pan left, Zoom in, Shake"]


def test_every_suggestion_parses_and_fits_discord() -> None:
    for current in ("", "p", "Pan left, ", "Pan left, Zoom in, ", "truck right, pedestal d"):
        choices = suggest(current)
        assert len(choices) <= 25
        for name, value in choices:
            assert 1 <= len(name) <= 100 and 1 <= len(value) <= 100
            assert 1 <= len(parse_moves(value)) <= MAX_MOVES
