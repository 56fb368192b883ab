"""`neuronkit serve` refuses what it cannot serve, with a message saying what to do."""

import socket

import pytest
from click.testing import CliRunner

from neuronkit.cli import cli


@pytest.mark.parametrize("args, message", [
    ([], "give ARTIFACTS or --model-repository"),
    (["--versions", "newest", "--model-repository", "."], "--versions takes latest, all"),
    (["--max-queue", "0", "X"], "--max-queue must be at least 1"),
])
def test_usage_errors(args, message, model_path):
    args = [str(model_path) if a == "X" else a for a in args]
    result = CliRunner().invoke(cli, ["serve", *args])
    assert result.exit_code == 2 and message in result.output


def test_two_artifacts_with_one_name(model_path, tmp_path):
    other = tmp_path / "two.nk"
    other.write_bytes(model_path.read_bytes())
    result = CliRunner().invoke(cli, ["serve", str(model_path), str(other)])
    assert result.exit_code == 2 and "both be served as 'two'" in result.output


def test_a_file_that_is_not_an_artifact(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    result = CliRunner().invoke(cli, ["serve", str(notes), "--rest-port", "0", "--grpc-port", "0"])
    assert result.exit_code == 1 and "cannot serve notes version 1" in " ".join(result.output.split())


def test_a_port_in_use(model_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli, ["serve", str(model_path), "--rest-port", str(port), "--grpc-port", "0"])
    assert result.exit_code == 1 and "pick another --rest-port" in " ".join(result.output.split())
