"""Writing settings back into the user's config file without taking it over.

Only the keys the user changed are touched, through tomlkit, so a hand-written file keeps its comments, its order
and the keys this release does not know; a value set back to its default is removed rather than written, so a
later release's better default applies. Values that came from the environment or a CLI flag never reach the file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.exceptions import TOMLKitError

from depthstudio.config import Config, _apply
from depthstudio.errors import ConfigError

Change = tuple[str, str]  # (section, key)


def changes(before: Config, after: Config) -> dict[Change, Any]:
    """The settings whose value differs between two configurations, (section, key) -> the new value."""
    old, new = before.to_dict(), after.to_dict()
    return {
        (section, key): value
        for section, values in new.items()
        for key, value in values.items()
        if old[section].get(key) != value
    }


def save_settings(path: Path, edits: dict[Change, Any]) -> None:
    """Apply ``edits`` to the TOML file at ``path`` (created if missing), checked, then replaced atomically.

    An edit to a built-in default removes the key; a section left empty by that is removed if it has no comment.
    Each edit is checked like a value read from the file before anything is written, so a bad value is refused
    and the file stays as it was. Keys this release does not know are left alone, not judged.
    """
    defaults = Config().to_dict()
    check = Config()
    for (section, key), value in edits.items():
        _apply(getattr(check, section), {key: value}, section)
    try:
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        doc = tomlkit.parse(text)
    except (TOMLKitError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML, so it was left as it is: {exc}") from None
    for (section, key), value in edits.items():
        table = doc.get(section)
        if value == defaults[section][key]:
            if table is not None and key in table:
                del table[key]
                if not table and "#" not in table.as_string():
                    del doc[section]
            continue
        if table is None:
            table = tomlkit.table()
            doc[section] = table
        table[key] = value
    out = tomlkit.dumps(doc)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(out, encoding="utf-8")
    os.replace(tmp, path)
