"""`deconflict serve` settings from a TOML file, the environment and the command line, in that order of
precedence from lowest to highest (a flag given wins over ``DECONFLICT_*``, which wins over the file).

    # deconflict.toml
    host = "0.0.0.0"
    port = 8000
    database = "postgresql+psycopg://deconflict@db/deconflict"
    key = "/data/audit.key"
    standard = "en-route"          # en-route | terminal | do-365
    vtol = "200ft"
    equal_priority = "accept"      # accept | reject
    advertise = "https://deconflict.example.net"
    log_format = "json"            # text | json
    events_kept = 100000           # stored events kept for resumption (Last-Event-ID)

Every mistake is one line naming the file (or variable) and the setting.
"""

from __future__ import annotations

import json
import logging
import os
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Mapping

from deconflict.errors import UserError

ENV_PREFIX = "DECONFLICT_"
LOG_FORMATS = ("text", "json")


@dataclass(frozen=True)
class ServeConfig:
    host: str = "127.0.0.1"
    port: int = 8000
    database: str | None = None  # None: ServiceSettings' default ($DECONFLICT_DATABASE_URL or deconflict.db)
    key: str | None = None
    standard: str = "en-route"
    vtol: str = "200ft"
    equal_priority: str = "accept"
    advertise: str | None = None
    log_format: str = "text"
    events_kept: int = 100_000


_TYPES = {f.name: (int if f.name in ("port", "events_kept") else str) for f in fields(ServeConfig)}
# the environment variable of each setting (the database keeps the name it always had)
ENV_NAMES = {name: ENV_PREFIX + ("DATABASE_URL" if name == "database" else name.upper()) for name in _TYPES}


def load(path: Path | None, environ: Mapping[str, str], flags: Mapping[str, Any]) -> ServeConfig:
    """The settings in force: ``flags`` (the options given, None for those not given) over the
    environment over the file ``path`` (None: no file) over the defaults."""
    values: dict[str, Any] = {}
    if path is not None:
        values.update(_from_file(path))
    for name, variable in ENV_NAMES.items():
        if variable in environ:
            values[name] = _typed(name, environ[variable], variable)
    values.update({name: value for name, value in flags.items() if value is not None})
    config = ServeConfig(**values)
    if config.log_format not in LOG_FORMATS:
        raise UserError(f"log_format: expected one of {', '.join(LOG_FORMATS)}, got {config.log_format!r}")
    if not 1 <= config.port <= 65535:
        raise UserError(f"port: expected 1-65535, got {config.port}")
    if config.events_kept < 1000:
        raise UserError(f"events_kept: expected at least 1000, got {config.events_kept}")
    return config


def _from_file(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: no such settings file") from None
    except OSError as error:
        raise UserError(f"{path}: cannot be read ({error.strerror})") from None
    except tomllib.TOMLDecodeError as error:
        raise UserError(f"{path}: not TOML ({error})") from None
    out = {}
    for name, value in data.items():
        if name not in _TYPES:
            raise UserError(f"{path}: unknown setting {name!r} (expected {', '.join(_TYPES)})")
        out[name] = _typed(name, value, f"{path}: {name}")
    return out


def _typed(name: str, value: Any, where: str) -> Any:
    wanted = _TYPES[name]
    if wanted is int:
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise UserError(f"{where}: expected an integer, got {value!r}")
        try:
            return int(value)
        except ValueError:
            raise UserError(f"{where}: expected an integer, got {value!r}") from None
    if not isinstance(value, str):
        raise UserError(f"{where}: expected text, got {value!r}")
    return value


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line (time, level, logger, message; the exception's last line when there is
    one): what log collectors read. A dozen lines, so no logging library is added for it."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
                 "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info).splitlines()[-1]
        return json.dumps(entry, separators=(",", ":"))


def configure_logging(log_format: str) -> None:
    """Send the service's (and the server's) log records to stderr as text or JSON lines."""
    import time

    handler = logging.StreamHandler()
    formatter = JsonLogFormatter() if log_format == "json" else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO if os.environ.get("DECONFLICT_DEBUG") is None else logging.DEBUG)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
