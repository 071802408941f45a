"""`deconflict serve` settings: a TOML file, DECONFLICT_* variables over it, flags over both; one-line
errors naming the file or variable and the setting; JSON log lines."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time

import httpx
import pytest

from deconflict.errors import UserError
from deconflict.service.config import JsonLogFormatter, ServeConfig, load
from tests.servers import free_port


def test_flags_over_environment_over_file_over_defaults(tmp_path):
    path = tmp_path / "deconflict.toml"
    path.write_text('host = "0.0.0.0"\nport = 9000\nstandard = "terminal"\nlog_format = "json"\n')
    assert load(None, {}, {}) == ServeConfig()
    from_file = load(path, {}, {})
    assert (from_file.host, from_file.port, from_file.standard, from_file.log_format) == ("0.0.0.0", 9000, "terminal", "json")
    env = {"DECONFLICT_PORT": "9100", "DECONFLICT_DATABASE_URL": "postgresql+psycopg://x@db/y"}
    from_env = load(path, env, {})
    assert from_env.port == 9100 and from_env.database == "postgresql+psycopg://x@db/y" and from_env.host == "0.0.0.0"
    flagged = load(path, env, {"port": 9200, "host": None})
    assert flagged.port == 9200 and flagged.host == "0.0.0.0"  # a flag not given changes nothing


@pytest.mark.parametrize("text, expected", [
    ('hots = "x"\n', "unknown setting 'hots'"),
    ('port = "eighty"\n', "port: expected an integer"),
    ('port = 70000\n', "port: expected 1-65535"),
    ('log_format = "xml"\n', "log_format: expected one of text, json"),
    ('host = 5\n', "host: expected text"),
    ('host = \n', "not TOML"),
])
def test_a_bad_settings_file_is_one_line_naming_the_setting(tmp_path, text, expected):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(UserError) as error:
        load(path, {}, {})
    assert expected in str(error.value) and "\n" not in str(error.value)
    with pytest.raises(UserError, match="no such settings file"):
        load(tmp_path / "missing.toml", {}, {})
    with pytest.raises(UserError, match="DECONFLICT_PORT: expected an integer"):
        load(None, {"DECONFLICT_PORT": "x"}, {})


def test_json_log_lines():
    record = logging.LogRecord("deconflict", logging.WARNING, __file__, 1, "this node leads now (epoch %s)", (3,), None)
    line = json.loads(JsonLogFormatter().format(record))
    assert line["level"] == "warning" and line["logger"] == "deconflict" and line["message"] == "this node leads now (epoch 3)"
    assert line["time"].endswith("Z")


def test_serve_from_a_settings_file_logs_json_and_answers_metrics(tmp_path):
    port = free_port()
    path = tmp_path / "deconflict.toml"
    path.write_text(f'port = {port}\ndatabase = "{tmp_path / "service.db"}"\nkey = "{tmp_path / "service.key"}"\n'
                    'log_format = "json"\n')
    process = subprocess.Popen([sys.executable, "-m", "deconflict.cli", "serve", "--config", str(path)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline, answer = time.time() + 60, None
        while time.time() < deadline:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert answer is not None and answer.status_code == 200 and "deconflict_leader 1.0" in answer.text
    finally:
        process.terminate()
        _, err = process.communicate(timeout=30)
    logged = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert logged and all({"time", "level", "logger", "message"} <= set(entry) for entry in logged)
