"""Text repair: known mojibake, controls, whitespace; properties with hypothesis."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from altsa.data.textfix import fix_text, repair_text

PROPS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize(
    ("broken", "fixed"),
    [
        ("Youâ€™re a genius!", "You’re a genius!"),  # cp1252 double decoding
        ("cafÃ©", "café"),
        ("â€œHi,â€ she said â€” twiceâ€¦", "“Hi,” she said — twice…"),
        ("itâ\x80\x99s", "it’s"),  # Latin-1 double decoding leaves C1 controls
        ("ÃœBER StraÃŸe", "ÜBER Straße"),
        ("Ð¿Ñ€Ð¸Ð²ÐµÑ‚", "привет"),
        ("ðŸ˜€ ok", "😀 ok"),
        ("Ã¢â‚¬â„¢", "’"),  # two layers of damage, undone in turn
        ("æ—¥æœ¬", "日本"),  # CJK: a run of two or more
        ("\x92quoted\x92 \x85", "’quoted’ …"),  # lone C1 = cp1252 byte read as Latin-1
        ("a\x81b", "ab"),  # C1 with no cp1252 meaning: removed
        ("  two   spaces\tand\ttabs \n", "two spaces and tabs"),
        ("zero\u200bwidth\ufeff", "zerowidth"),
        ("bell\x07", "bell"),
    ],
)
def test_known_repairs(broken: str, fixed: str) -> None:
    assert fix_text(broken) == fixed


def test_repair_kinds_are_reported() -> None:
    assert repair_text("cafÃ©  ok")[1] == {"mojibake", "whitespace"}
    assert repair_text("\x92x")[1] == {"c1_control"}
    assert repair_text("plain text")[1] == frozenset()


@pytest.mark.parametrize(
    "clean",
    [
        "You’re a genius — really…",
        "STRASSE”",  # ß/É followed by cp1252 punctuation is legitimate text, not mojibake
        "CAFÉ…",
        "Ö”",
        "«Bonjour», dit-il. ¿Qué? ¡Sí!",
        "日本語のテキスト",
        "Привет, как дела?",
        "emoji 😀👍 and ZWJ 👨\u200d👩\u200d👧",
        "3 × 4 = 12 ± 0",
    ],
)
def test_clean_text_is_untouched(clean: str) -> None:
    assert repair_text(clean) == (clean, frozenset())


def test_meld_text_only_gets_whitespace_repairs(meld_dir) -> None:
    """MELD's own CSV is clean UTF-8: the only repair is collapsing double spaces."""
    import csv

    with open(meld_dir / "dev_sent_emo.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        text = row["Utterance"]
        assert fix_text(text) == " ".join(text.split())


@PROPS
@given(st.text())
def test_never_raises_and_is_idempotent(text: str) -> None:
    once = fix_text(text)
    assert fix_text(once) == once


_WORD_CHARS = st.characters(exclude_categories=("Cc", "Cs", "Cf", "Zs", "Zl", "Zp"))


def _byte(ch: str) -> int | None:
    try:
        b = ch.encode("cp1252")
    except UnicodeEncodeError:
        return None
    return b[0] if len(b) == 1 else None


def _looks_like_mojibake(text: str) -> bool:
    """A UTF-8 lead byte followed by a continuation byte, both as cp1252 characters: the
    only shape double-decoding produces (stated independently of the implementation)."""
    for a, b in zip(text, text[1:]):
        ba, bb = _byte(a), _byte(b)
        if ba is not None and bb is not None and 0xC2 <= ba <= 0xF4 and 0x80 <= bb <= 0xBF:
            return True
    return False


@PROPS
@given(st.lists(st.text(_WORD_CHARS, min_size=1, max_size=12), min_size=1, max_size=8))
def test_clean_text_is_never_changed(words: list[str]) -> None:
    text = " ".join(words)
    assume(not _looks_like_mojibake(text))
    assert fix_text(text) == text


# Characters whose double-decoded form the repair must undo.
_PLAUSIBLE = st.sampled_from(
    list("abcXYZ019.,!?'é ñüßÀÉÖçø’‘“”—–…•€™°£¥©®±×÷αβΩпрДЖ") + ["😀", "👍"]
)


@PROPS
@given(st.lists(st.text(_PLAUSIBLE, min_size=1, max_size=10), min_size=1, max_size=6))
def test_double_decoding_is_undone(words: list[str]) -> None:
    text = " ".join(" ".join(words).split())
    assume(text and not _looks_like_mojibake(text))  # "×£" could itself be damaged "ף"
    latin1 = text.encode("utf-8").decode("latin-1")
    assert fix_text(latin1) == text
    try:
        cp1252 = text.encode("utf-8").decode("cp1252")
    except UnicodeDecodeError:  # bytes cp1252 leaves undefined (” is E2 80 9D)
        return
    assert fix_text(cp1252) == text
