"""Every usage mistake, through the installed entry point: click's usage message, exit 2,
never a traceback (typer bundles its own click, whose exceptions the real click's handlers
do not catch)."""

from __future__ import annotations

import subprocess

import pytest

MISTAKES = [
    ["predict"],                                   # missing arguments
    ["--bogus"],                                   # unknown option at the top
    ["no-such-command"],                           # unknown command
    ["predict", "m", "in.jsonl", "--batch-size", "abc"],  # not an integer
    ["predict", "m", "in.jsonl", "--bogus"],       # unknown option of a command
    ["data", "inspect"],                           # missing argument of a sub-command
    ["evaluate", "run"],                           # missing required option --data
    ["serve", "--port", "abc"],                    # not an integer (serve alone serves the default model)
    ["predict", "m", "in.jsonl", "--batch-size", "0"],  # below the range
    ["predict", "m", "in.jsonl", "--threads", "0"],
    ["predict", "meld-text-minilm", "talk.jsonl", "call.wav"],  # a recording mixed with a corpus file
]


@pytest.mark.parametrize("argv", MISTAKES, ids=lambda a: " ".join(a))
def test_usage_mistake_prints_usage_and_exits_2(argv: list[str], altsa_script: str) -> None:
    proc = subprocess.run([altsa_script, *argv], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stdout + proc.stderr
    assert proc.stderr.startswith("Usage: altsa"), proc.stderr
    assert proc.stdout == ""


def test_option_without_its_value(altsa_script: str) -> None:
    # click raises this one before a command context exists: no usage line, still exit 2
    proc = subprocess.run([altsa_script, "train", "--stage"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "Option '--stage' requires an argument" in proc.stderr


def test_json_with_table_is_a_usage_error(altsa_script: str) -> None:
    proc = subprocess.run([altsa_script, "predict", "m", "in.jsonl", "--json", "--table"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "--json" in proc.stderr and "--table" in proc.stderr


def test_help_and_version_exit_0(altsa_script: str) -> None:
    for argv in (["--help"], ["--version"], ["predict", "--help"]):
        proc = subprocess.run([altsa_script, *argv], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, (argv, proc.stderr)
        assert proc.stdout


def test_a_path_the_system_refuses_is_one_line_exit_2(tmp_path, capsys) -> None:
    """An OSError (an output folder under a file, no permission, ...) is a message, not a traceback."""
    from altsa.cli.main import main

    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    code = main(["train", "embedded-frozen", "--data", str(tmp_path), "--out", str(blocker / "run")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().splitlines()[-1] == f"error: {blocker / 'run'}: Not a directory", err


def test_demo_on_an_empty_file_is_one_line_exit_2(tmp_path, capsys) -> None:
    from altsa.cli.main import main

    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert main(["demo", "--input", str(empty)]) == 2
    out = capsys.readouterr()
    assert out.out == "" and "no utterances" in out.err.strip().splitlines()[-1]
