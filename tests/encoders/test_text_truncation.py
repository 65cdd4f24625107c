"""Over-long text inputs are cut (keeping the end) with a warning on stderr saying how much
was kept; nothing is truncated silently."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from altsa.data.schema import Conversation, Utterance
from altsa.encoders import EncoderConfig, build_encoder

LOGGER = "altsa.encoders.text"


def _encoder(model: Path, mode: str, max_length: int = 32):
    return build_encoder(EncoderConfig(kind="hf-text", model=str(model), max_length=max_length, text_mode=mode))


def _conversation(texts: list[str]) -> Conversation:
    return Conversation("d", [Utterance("d", i, "AB"[i % 2], t) for i, t in enumerate(texts)])


def test_plain_input_over_max_length_warns_with_what_was_kept(tiny_roberta: Path, caplog) -> None:
    enc = _encoder(tiny_roberta, "plain")
    long = " ".join(f"w{i}" for i in range(400))
    total = len(enc.tokenizer(long, add_special_tokens=False)["input_ids"])
    kept = 32 - enc.tokenizer.num_special_tokens_to_add()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        enc.tokenize(["short one", long])
    records = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert len(records) == 1, records  # the short text is not reported
    msg = records[0]
    assert msg.startswith("text encoder: 1 input(s) longer than") and f"kept the last {kept} tokens" in msg
    assert f"the longest: {total:,} tokens, {100 * kept / total:.2g}% kept" in msg
    tail = enc.tokenizer.decode(enc.tokenize([long])["input_ids"][0][1:-1]).strip()
    assert tail.endswith("w399") and f"of its {len(long):,} characters" in msg
    assert f"the last {len(long) - long.index(tail.split()[0] + ' ' + tail.split()[1]):,} of" in msg


def test_one_line_per_batch_and_never_the_text(tiny_roberta: Path, caplog) -> None:
    """A service's log must not hold what people said, nor a line per long utterance."""
    enc = _encoder(tiny_roberta, "plain")
    texts = [" ".join(["secret"] * n) for n in (100, 300, 200)]
    longest = len(enc.tokenizer(texts[1], add_special_tokens=False)["input_ids"])
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        enc.tokenize(["short", *texts])
    records = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert len(records) == 1, records
    assert "3 input(s) longer" in records[0] and f"the longest: {longest:,} tokens" in records[0]
    assert "secret" not in records[0] and f"of its {len(texts[1]):,} characters" in records[0]


def test_exact_fit_is_not_reported(tiny_roberta: Path, caplog) -> None:
    enc = _encoder(tiny_roberta, "plain")
    words = ["w1"]
    while len(enc.tokenizer(" ".join(words + ["w1"]))["input_ids"]) <= 32:
        words.append("w1")
    assert len(enc.tokenizer(" ".join(words))["input_ids"]) == 32
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        enc.tokenize([" ".join(words)])
    assert not [r for r in caplog.records if r.name == LOGGER]


def test_context_history_dropped_is_by_design_but_a_long_current_turn_warns(tiny_roberta: Path, caplog) -> None:
    enc = _encoder(tiny_roberta, "context")
    history = _conversation([f"turn {i} says a few words" for i in range(20)])
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        enc.tokenize(enc.build_inputs(history))
    assert not [r for r in caplog.records if r.name == LOGGER]  # earlier turns dropped: the documented design
    huge = _conversation(["hello", " ".join(f"w{i}" for i in range(300))])
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        enc.tokenize(enc.build_inputs(huge))
    records = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert len(records) == 1 and "1 input(s) longer" in records[0], records


def test_the_warning_reaches_stderr(tiny_roberta: Path) -> None:
    """No logging set up (a user's shell): the line still reaches stderr, stdout stays clean."""
    code = (
        "from altsa.encoders import EncoderConfig, build_encoder; "
        f"enc = build_encoder(EncoderConfig(kind='hf-text', model={str(tiny_roberta)!r}, max_length=32, text_mode='plain')); "
        "enc.tokenize(['xy ' * 100000])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout == ""
    lines = [line for line in out.stderr.splitlines() if line.startswith("text encoder:")]
    assert len(lines) == 1 and "kept the last 30 tokens" in lines[0] and "of its 300,000 characters" in lines[0], out.stderr


@pytest.mark.parametrize("mode", ["plain", "context"])
def test_no_warning_for_ordinary_inputs(tiny_roberta: Path, caplog, mode) -> None:
    enc = _encoder(tiny_roberta, mode, max_length=64)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        enc.tokenize(enc.build_inputs(_conversation(["Hi!", "Oh my god, really?", "Yes."])))
    assert not [r for r in caplog.records if r.name == LOGGER]
