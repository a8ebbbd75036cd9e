"""User-visible texts in Arabic, French and English, from `bot/locales/<lang>.yaml`."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

LANGUAGES = ("ar", "fr", "en")
LOCALES_DIR = Path(__file__).parent / "locales"


@lru_cache(maxsize=len(LANGUAGES))
def messages(language: str) -> dict[str, str]:
    data = yaml.safe_load((LOCALES_DIR / f"{language}.yaml").read_text(encoding="utf-8"))
    return {str(key): str(value) for key, value in data.items()}


def t(key: str, language: str, /, **values: object) -> str:
    """The text `key` in `language` (English when the language is not served), filled in."""
    table = messages(language if language in LANGUAGES else "en")
    return table[key].format(**values) if values else table[key]
