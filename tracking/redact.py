"""Nothing that looks like a credential reaches MLflow: params, tags and artifacts are scrubbed on the way.

Runs are shared (a tracking server, a UI anyone on the team opens, artifacts in a bucket), so every write
of `tracking/` passes through here:

- a param or tag whose name looks like a credential (`*_KEY`, `*_TOKEN`, `*SECRET*`, `*PASSWORD*`,
  `*CREDENTIAL*`, `*ACCESS_KEY*`, compared case-insensitively on the last dotted part) keeps its
  name, and its value becomes `[redacted]`;
- the value of every environment variable with such a name (`MLFLOW_TRACKING_PASSWORD`,
  `AWS_SECRET_ACCESS_KEY`, `HF_TOKEN`, ... at least `MIN_SECRET_LENGTH` characters) is replaced by
  `[redacted]` wherever it appears in a param value, tag value or artifact file;
- the password of a URL (`scheme://user:password@host`) is replaced by `[redacted]`;
- a JSON artifact has the values of credential-named keys redacted at any depth.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REDACTED = "[redacted]"
MIN_SECRET_LENGTH = 6  # shorter environment values ("1", "true", "token") would redact ordinary text
_SECRET_NAME = re.compile(r"(SECRET|PASSWORD|PASSWD|CREDENTIAL|ACCESS_KEY|PRIVATE_KEY)|(^|_)(KEY|TOKEN)$",
                          re.IGNORECASE)
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]+:)[^@\s/]+@")


def is_secret_name(name: str) -> bool:
    """Whether a param/tag/env/JSON key looks like it holds a credential (its last dotted part is tested)."""
    return bool(_SECRET_NAME.search(str(name).rsplit(".", 1)[-1]))


def secret_values(env: Mapping[str, str] | None = None) -> list[str]:
    """Values of the credential-named environment variables, longest first (so none is left half-redacted)."""
    env = os.environ if env is None else env
    values = {v for k, v in env.items() if is_secret_name(k) and len(v.strip()) >= MIN_SECRET_LENGTH}
    return sorted(values, key=len, reverse=True)


def redact_text(text: str, secrets: list[str] | None = None) -> str:
    """`text` with known secret values and URL passwords replaced by [redacted]."""
    for value in secret_values() if secrets is None else secrets:
        text = text.replace(value, REDACTED)
    return _URL_PASSWORD.sub(lambda m: m.group("head") + REDACTED + "@", text)


def redact_value(name: str, value: Any, secrets: list[str] | None = None) -> str:
    """The string MLflow may store for param/tag `name` = `value`."""
    return REDACTED if is_secret_name(name) else redact_text(str(value), secrets)


def _redact_tree(obj: Any, secrets: list[str]) -> Any:
    if isinstance(obj, dict):
        return {k: REDACTED if is_secret_name(str(k)) else _redact_tree(v, secrets) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_redact_tree(v, secrets) for v in obj]
    if isinstance(obj, str):
        return redact_text(obj, secrets)
    return obj


def redact_bytes(name: str, content: bytes, secrets: list[str] | None = None) -> bytes:
    """An artifact file's content with secrets removed (unchanged bytes when there is nothing to remove)."""
    secrets = secret_values() if secrets is None else secrets
    for value in secrets:
        content = content.replace(value.encode("utf-8"), REDACTED.encode("utf-8"))
    if name.endswith(".json"):
        try:
            obj = json.loads(content)
        except (UnicodeDecodeError, ValueError):
            return content
        clean = _redact_tree(obj, secrets)
        if clean != obj:
            return (json.dumps(clean, indent=2, sort_keys=True) + "\n").encode("utf-8")
        return content
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return content
    clean = _URL_PASSWORD.sub(lambda m: m.group("head") + REDACTED + "@", text)
    return content if clean == text else clean.encode("utf-8")


@contextmanager
def redacted_copy(path: Path) -> Iterator[Path]:
    """`path` itself when no file under it holds a secret, else a scrubbed copy with the same name."""
    secrets = secret_values()
    files = [p for p in sorted(path.rglob("*")) if p.is_file()] if path.is_dir() else [path]
    changed = {}
    for f in files:
        content = f.read_bytes()
        clean = redact_bytes(f.name, content, secrets)
        if clean != content:
            changed[f] = clean
    if not changed:
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="rcml-redacted-") as folder:
        copy = Path(folder) / path.name
        if path.is_dir():
            shutil.copytree(path, copy)
        else:
            shutil.copyfile(path, copy)
        for f, clean in changed.items():
            (copy / f.relative_to(path) if path.is_dir() else copy).write_bytes(clean)
        yield copy
