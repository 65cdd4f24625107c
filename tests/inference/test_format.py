"""Rendering predictions: confidence bars, the table, the timeline, JSON lines."""

from __future__ import annotations

import io
import json

from rich.console import Console

from altsa.inference.format import confidence_bar, json_lines, prediction_table, timeline
from altsa.inference.predictions import UtterancePrediction


def pred(dialogue: str, pos: int, label: str, conf: float, absent=None) -> UtterancePrediction:
    other = (1 - conf) / 2
    return UtterancePrediction(
        key=f"{dialogue}/{pos}", dialogue_id=dialogue, position=pos, speaker=f"S{pos}", text=f"text {pos}",
        label=label, confidence=conf, probabilities={label: conf, "a": other, "b": other},
        weights={"text": 0.7, "audio": 0.3, "video": 0.0},
        absent=absent or {"video": "not_provided"},
    )


def render(renderable) -> str:
    console = Console(file=io.StringIO(), width=140, color_system=None)
    console.print(renderable)
    return console.file.getvalue()


def test_confidence_bar():
    assert confidence_bar(1.0) == "█" * 10
    assert confidence_bar(0.0) == " " * 10
    assert confidence_bar(0.5) == "█████     "
    assert len(confidence_bar(0.83)) == 10 and confidence_bar(0.83).startswith("████████")
    assert confidence_bar(7.0) == "█" * 10  # clamped


def test_json_lines_round_trip():
    out = io.StringIO()
    preds = [pred("d", 0, "joy", 0.8123456789), pred("d", 1, "anger", 0.5)]
    json_lines(preds, out)
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["label"] for r in rows] == ["joy", "anger"]
    assert rows[0]["confidence"] == 0.812346 and rows[0]["absent"] == {"video": "not_provided"}
    assert rows[0]["weights"] == {"text": 0.7, "audio": 0.3, "video": 0.0}


def test_table_shows_weights_and_informative_absences():
    preds = [pred("d1", 0, "joy", 0.9), pred("d2", 0, "fear", 0.4, {"audio": "unreadable", "video": "not_provided"})]
    text = render(prediction_table(preds, modalities=["text", "audio"]))
    assert "dialogue" in text and "d1" in text and "d2" in text  # several dialogues: a column
    assert "0.70/0.30" in text  # text/audio weights
    assert "audio: unreadable" in text and "not_provided" not in text
    single = render(prediction_table(preds[:1], modalities=["text"]))
    assert "dialogue" not in single and "absent" not in single


def test_timeline():
    text = render(timeline([pred("d", 0, "joy", 0.9), pred("d", 1, "sadness", 0.25)], title="t"))
    assert "S0" in text and "text 1" in text and "sadness" in text
    assert "█████████  0.90" in text and "██▌        0.25" in text  # bars padded to one width
