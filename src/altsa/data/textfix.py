"""Text repair for corpus fields: mojibake, stray control characters, stray whitespace.

Copies of MELD found online carry text that was UTF-8, decoded as Windows-1252 (or
Latin-1) and saved again: ``’`` becomes ``â€™`` and ``é`` becomes ``Ã©`` (see
``../shared/data/README.md``). ``fix_text`` undoes exactly that class of damage.

Why not ftfy: its default pipeline also rewrites clean text (uncurls ``’``, NFC-normalises,
expands ligatures, narrows full-width characters), which would alter MELD's deliberate
typographic punctuation; restricted to its encoding fixer it still decides on whole-string
heuristics that we cannot state as a property. The repair below is table-driven and
small enough to state and test its guarantees (``tests/data/test_textfix.py``):

- it never raises, on any ``str``;
- it is idempotent: ``fix_text(fix_text(s)) == fix_text(s)`` (it iterates to a fixed point);
- text without mojibake, control characters or stray whitespace is returned unchanged.

A run of characters is re-encoded only when every character maps back to a cp1252 byte,
the bytes form valid UTF-8, and the decoded characters are plausible (Latin, Greek,
Cyrillic, Hebrew, Arabic letters, punctuation and symbols, emoji; CJK only for runs of two
or more), so ``STRASSE”`` or ``CAFÉ…`` written legitimately stay as they are.
"""

from __future__ import annotations

import re

# cp1252 byte <- character. The five bytes cp1252 leaves undefined (81 8D 8F 90 9D) decode
# to the C1 code point of the same value in sloppy decoders, and Latin-1 decodes every byte
# 80-9F to its C1 code point: map all of these back too.
_BYTE_OF: dict[str, int] = {}
for _b in range(0x80, 0x100):
    try:
        _BYTE_OF[bytes([_b]).decode("cp1252")] = _b
    except UnicodeDecodeError:
        pass
for _b in range(0x80, 0xA0):
    _BYTE_OF[chr(_b)] = _b


def _chars(lo: int, hi: int) -> str:
    return "".join(re.escape(c) for c, b in _BYTE_OF.items() if lo <= b <= hi)


_CONT = f"[{_chars(0x80, 0xBF)}]"
_LEAD2 = f"[{_chars(0xC2, 0xDF)}]"
_LEAD3 = f"[{_chars(0xE0, 0xEF)}]"
_LEAD4 = f"[{_chars(0xF0, 0xF4)}]"
# One UTF-8-shaped byte sequence written in cp1252 characters, and a run of them.
_SEQ = f"(?:{_LEAD4}{_CONT}{{3}}|{_LEAD3}{_CONT}{{2}}|{_LEAD2}{_CONT})"
_ONE = re.compile(_SEQ)
_MOJIBAKE = re.compile(f"{_SEQ}+")

# Code points that double-decoded text plausibly contained (see the module docstring).
_PLAUSIBLE = (
    (0x00A0, 0x017F),  # Latin-1 supplement, Latin Extended-A
    (0x0218, 0x021B),  # Romanian comma-below letters (the only common Latin Extended-B)
    (0x0370, 0x03FF),  # Greek
    (0x0400, 0x045F),  # Cyrillic (basic)
    (0x05D0, 0x05EA),  # Hebrew letters
    (0x0620, 0x064A),  # Arabic letters
    (0x1E00, 0x1EFF),  # Latin Extended Additional (Vietnamese)
    (0x2000, 0x2BFF),  # punctuation, currency, letterlike, arrows, maths, shapes, symbols
    (0xFB00, 0xFFFD),  # presentation forms, full-width forms, BOM, replacement character
    (0x1F000, 0x1FAFF),  # emoji and pictographs
)
_CJK = ((0x3000, 0x30FF), (0x3400, 0x9FFF), (0xAC00, 0xD7A3))


def _in(cp: int, ranges: tuple[tuple[int, int], ...]) -> bool:
    return any(lo <= cp <= hi for lo, hi in ranges)


def _decode(seq: str) -> str | None:
    try:
        return bytes(_BYTE_OF[c] for c in seq).decode("utf-8")
    except (UnicodeDecodeError, KeyError):
        return None


def _undo(match: re.Match[str]) -> str:
    """Decode each sequence of a run that decodes to a plausible character (UTF-8 is
    self-synchronising, so the run splits into sequences exactly where the bytes did)."""
    seqs = _ONE.findall(match.group(0))
    decoded = [_decode(seq) for seq in seqs]
    cjk = sum(1 for d in decoded if d is not None and _in(ord(d), _CJK))
    out = []
    for seq, d in zip(seqs, decoded):
        ok = d is not None and (_in(ord(d), _PLAUSIBLE) or (cjk >= 2 and _in(ord(d), _CJK)))
        out.append(d if ok else seq)
    return "".join(out)


def _c1(match: re.Match[str]) -> str:
    """A lone C1 control is a cp1252 byte decoded as Latin-1: U+0092 -> ’, U+0085 -> …"""
    try:
        return bytes([ord(match.group(0))]).decode("cp1252")
    except UnicodeDecodeError:  # 81 8D 8F 90 9D: undefined in cp1252, nothing to restore
        return ""


# ” is E2 80 9D and cp1252 has no character for 9D, so a cp1252 round trip drops that byte
# and leaves "â€" with nothing after it: restore ” there (as ftfy does).
_LOST_RDQUO = re.compile(f"\u00e2\u20ac(?!{_CONT})")

_C1 = re.compile("[\x80-\x9f]")
# C0 controls and DEL, except the whitespace ones (tab, newlines), which collapse below.
_CONTROL = re.compile("[\x00-\x08\x0e-\x1f\x7f]")
# Zero-width characters with no meaning inside an utterance. ZWJ/ZWNJ stay: they shape
# emoji sequences and Persian/Indic text.
_ZERO_WIDTH = re.compile("[\u200b\u2060\ufeff]")
SURROGATE = re.compile("[\ud800-\udfff]")  # half of a UTF-16 pair, alone: no character, not encodable
_SPACES = re.compile(r"\s+")
_CLEAN = re.compile(r"(?:[!-~]+ )*[!-~]+")  # printable ASCII words, single spaces: fast path


def _step(text: str, kinds: set[str]) -> str:
    fixed = _LOST_RDQUO.sub("\u201d", _MOJIBAKE.sub(_undo, text))
    if fixed != text:
        kinds.add("mojibake")
    out = _C1.sub(_c1, fixed)
    if out != fixed:
        kinds.add("c1_control")
    fixed = _CONTROL.sub("", out)
    if fixed != out:
        kinds.add("control")
    out = _ZERO_WIDTH.sub("", fixed)
    if out != fixed:
        kinds.add("zero_width")
    fixed = SURROGATE.sub("\ufffd", out)
    if fixed != out:
        kinds.add("surrogate")
    out = fixed
    fixed = _SPACES.sub(" ", out).strip(" ")
    if fixed != out:
        kinds.add("whitespace")
    return fixed


def repair_text(text: str) -> tuple[str, frozenset[str]]:
    """``text`` repaired, and the kinds of repair applied (empty when unchanged).

    Kinds: ``mojibake``, ``c1_control``, ``control``, ``zero_width``, ``surrogate`` (a lone
    UTF-16 surrogate, e.g. from a JSON ``"\\ud800"``, becomes U+FFFD), ``whitespace``.
    Every whitespace run (tabs, newlines, NBSP, ...) becomes one ASCII space.
    """
    if not isinstance(text, str):
        raise TypeError(f"repair_text expects str, got {type(text).__name__}")
    if not text or _CLEAN.fullmatch(text):
        return text, frozenset()
    kinds: set[str] = set()
    # Each changing step shortens the text or replaces a control/whitespace character, so
    # this reaches a fixed point well within the bound; a fixed point makes it idempotent.
    for _ in range(4 * len(text) + 4):
        fixed = _step(text, kinds)
        if fixed == text:
            break
        text = fixed
    return text, frozenset(kinds)


def fix_text(text: str) -> str:
    """``text`` with mojibake, control characters and stray whitespace repaired."""
    return repair_text(text)[0]
