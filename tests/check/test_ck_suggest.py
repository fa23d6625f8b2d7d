"""Edit distance (optimal string alignment) and "did you mean"."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ragc.diagnostics.suggest import closest, did_you_mean, edit_distance, threshold

words = st.text(alphabet="abcdefghij_", max_size=12)


def test_known_distances():
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance("reviw", "review") == 1
    assert edit_distance("promt", "prompt") == 1
    assert edit_distance("ab", "ba") == 1  # one transposition
    assert edit_distance("ca", "abc") == 3  # OSA, not unrestricted Damerau (which gives 2)
    assert edit_distance("", "abc") == 3


def test_limit_reports_limit_plus_one():
    assert edit_distance("aaaaaaaa", "bbbbbbbb", limit=2) == 3
    assert edit_distance("abc", "abd", limit=2) == 1


@given(words, words)
def test_symmetric_and_bounded(a, b):
    d = edit_distance(a, b)
    assert d == edit_distance(b, a)
    assert abs(len(a) - len(b)) <= d <= max(len(a), len(b))
    assert (d == 0) == (a == b)


@given(words, words, words)
def test_triangle_inequality_with_single_edits(a, b, c):
    # OSA is not a metric in general, but one edit never changes it by more than one
    if edit_distance(b, c) == 1:
        assert abs(edit_distance(a, b) - edit_distance(a, c)) <= 1 or len(a) < 2


def test_did_you_mean():
    assert did_you_mean("reviw", ["review", "draft"]) == "review"
    assert did_you_mean("REVIEW", ["review"]) == "review"
    assert did_you_mean("xyz", ["review", "draft"]) is None
    assert did_you_mean("f", ["a", "b"]) is None  # one letter is not "corrected" into another
    assert did_you_mean("review", ["review"]) is None  # never the name itself
    assert closest("dat", ["data", "date", "cat"], limit=3) == ["cat", "data", "date"]
    assert threshold("ab") == 1 and threshold("abcdefghi") == 3
