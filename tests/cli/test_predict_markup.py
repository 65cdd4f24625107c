"""User text that looks like rich console markup (``[/]``, ``[bold]B``, ``[link=...]``) is
shown literally by every table of ``altsa predict``, ``altsa demo``, ``altsa transcribe`` and
``altsa data inspect``: no MarkupError traceback, no brackets eaten as styles."""

from __future__ import annotations

import io
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from rich.console import Console

from altsa.cli.main import main
from altsa.inference.format import prediction_table, recording_timeline, timeline
from altsa.inference.predictions import UtterancePrediction

CLOSE, BOLD, LINK = "[/]", "[bold]B", "see [link=http://x]here"
CONVS = [
    {"dialogue_id": "[link=http://x]d", "utterances": [
        {"speaker": BOLD, "text": "I said [/] ok"},
        {"speaker": CLOSE, "text": LINK},
    ]},
    {"dialogue_id": CLOSE, "utterances": [{"speaker": "[i]Ann[/i]", "text": "[bold red]loud[/bold red] \\[x]"}]},
]
LITERALS = [BOLD, CLOSE, "I said [/] ok", LINK, "[link=http://x]d", "[i]Ann[/i]", "[bold red]loud[/bold red] \\[x]"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    from altsa.inference.tiny import save_tiny_run

    return save_tiny_run(tmp_path_factory.mktemp("markup") / "tiny-run")


@pytest.fixture
def markup_file(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("COLUMNS", "250")  # no cell wraps
    path = tmp_path / "[x].jsonl"
    path.write_text("".join(json.dumps(c) + "\n" for c in CONVS), encoding="utf-8")
    return path


def run_cli(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_predict_table_shows_markup_literally(run_dir, markup_file, capsys):
    code, out, err = run_cli(["predict", str(run_dir), str(markup_file)], capsys)
    assert code == 0, err
    assert "Traceback" not in err and "MarkupError" not in err
    for s in LITERALS:
        assert s in out, (s, out)
    assert f"{run_dir.name}: {markup_file}" in out  # the title keeps the [x] of the file name


def test_demo_timeline_shows_markup_literally(run_dir, markup_file, capsys):
    code, out, err = run_cli(["demo", "--model", str(run_dir), "--input", str(markup_file)], capsys)
    assert code == 0, err
    for s in LITERALS:
        if s not in ("[link=http://x]d",):  # the timeline has no dialogue column
            assert s in out, (s, out)
    assert "on [x].jsonl" in out
    assert "3 utterances in" in out.strip().splitlines()[-1]


def test_data_inspect_shows_keys_literally(markup_file, capsys):
    conv = {"dialogue_id": "d", "[/]": 1, "utterances": [{"speaker": BOLD, "text": "hi", "[bold]k": 1}]}
    markup_file.write_text(json.dumps(conv) + "\n", encoding="utf-8")
    code, out, err = run_cli(["data", "inspect", str(markup_file)], capsys)
    assert code == 0, err
    assert "'[bold]k'" in out and "[/]'" in out and BOLD in out and "[x].jsonl" in out


def render(renderable) -> str:
    console = Console(file=io.StringIO(), width=200, color_system=None)
    console.print(renderable)
    return console.file.getvalue()


def pred(label: str, **span) -> UtterancePrediction:
    return UtterancePrediction(
        key="k", dialogue_id="[/]", position=0, speaker=BOLD, text=LINK, label=label, confidence=0.6,
        probabilities={label: 0.6, "x": 0.4}, weights={"text": 1.0, "audio": 0.0, "video": 0.0},
        absent={"audio": "[/]bad", "video": "not_provided"}, **span,
    )


def test_format_shows_labels_reasons_and_titles_literally():
    """Label names of a run, absence reasons and titles: literal in every table."""
    p = pred("[/]joy")
    table = render(prediction_table([p], title="[bold]run: [/].jsonl", show_dialogue=True))
    for s in ("[bold]run: [/].jsonl", BOLD, LINK, "[/]joy", "audio: [/]bad"):
        assert s in table, s
    assert "[/]joy" in render(timeline([p], title="[/]")) and "[/]" in render(timeline([p], title="[/]"))
    rec = render(recording_timeline([pred("[i]calm", start=0.0, end=1.5)], title="[x].wav"))
    assert "[i]calm" in rec and "[x].wav" in rec and BOLD in rec


def test_transcript_table_shows_markup_literally():
    from altsa.cli.recordings import transcript_table

    utterances = [SimpleNamespace(speaker=CLOSE, text="I said [/] ok"), SimpleNamespace(speaker=BOLD, text=LINK)]
    transcript = SimpleNamespace(info=SimpleNamespace(name="[x].wav"), utterances=utterances,
                                 span=lambda i: (float(i), float(i) + 1))
    text = render(transcript_table(transcript))
    for s in ("[x].wav", CLOSE, "I said [/] ok", BOLD, LINK):
        assert s in text, s
