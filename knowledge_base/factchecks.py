"""Curated fact-checks: the YAML schema, validation with the file and field at fault, and loading."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    ValidationError,
    field_validator,
    model_validator,
)

from knowledge_base.text import keyword_pattern, match_form

LANGUAGES: tuple[str, ...] = ("ar", "fr", "en")
Verdict = Literal["false", "misleading", "true", "unproven"]
SOURCES_DIR = Path(__file__).parent / "sources"
FACT_CHECKS_DIR = SOURCES_DIR / "fact_checks"
# Shared word lists ("@infertility") that `requires` groups and `excludes` of any fact-check can
# name, so that a dialect word learnt for one topic serves every topic that says the same thing.
LEXICON_FILE = "lexicon.yaml"


class Citation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    publisher: str = Field(min_length=2)
    title: str = Field(min_length=3)
    url: HttpUrl
    language: str = Field(pattern=r"^[a-z]{2}$")
    checked: dt.date


class ClaimText(BaseModel):
    model_config = ConfigDict(extra="forbid")

    claim: str = Field(min_length=1, max_length=4096)
    variants: list[str] = Field(default_factory=list, max_length=20)
    keywords: list[str] = Field(default_factory=list, max_length=60)
    explanation: str = Field(min_length=1, max_length=4096)

    @field_validator("keywords")
    @classmethod
    def _keywords_not_blank(cls, value: list[str]) -> list[str]:
        if any(not keyword.strip() for keyword in value):
            raise ValueError("keywords must not be blank")
        return value


class FactCheck(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,80}$")
    verdict: Verdict
    reviewed: dt.date
    citations: list[Citation] = Field(default_factory=list)
    claims: dict[str, ClaimText]
    # Further keyword groups a message must also match (each group: any one of its stems, in any
    # language): what the rumour says about the entity, e.g. COVID-19 for garlic-covid.
    requires: list[list[str]] = Field(default_factory=list, max_length=4)
    # Stems that mark a different claim about the same entity ("folic acid gives twins" beside
    # "folic acid before pregnancy"): a message holding one is never answered with this check.
    excludes: list[str] = Field(default_factory=list, max_length=80)
    origin: Literal["curated", "approved"] = "curated"

    @field_validator("requires")
    @classmethod
    def _groups_not_empty(cls, value: list[list[str]]) -> list[list[str]]:
        if any(not group or any(not stem.strip() for stem in group) for group in value):
            raise ValueError("every group needs at least one non-blank stem")
        return value

    @field_validator("verdict", mode="before")
    @classmethod
    def _yaml_booleans(cls, value: object) -> object:
        # Unquoted `false`/`true` in YAML parse as booleans; accept them as the verdict words.
        if isinstance(value, bool):
            return "true" if value else "false"
        return value

    @field_validator("claims")
    @classmethod
    def _known_languages(cls, value: dict[str, ClaimText]) -> dict[str, ClaimText]:
        unknown = [lang for lang in value if lang not in LANGUAGES]
        if unknown:
            raise ValueError(f"unknown language(s): {', '.join(unknown)}")
        if not value:
            raise ValueError("at least one language is needed")
        return value

    @model_validator(mode="after")
    def _curated_is_complete(self) -> FactCheck:
        """Curated fact-checks ship in three languages, with keywords, sources and short texts.

        A clinician-approved reply is stored as it was written: one language, no keyword rules
        (it is then matched on similarity alone, with a stricter threshold).
        """
        if self.origin != "curated":
            return self
        missing = [lang for lang in LANGUAGES if lang not in self.claims]
        if missing:
            raise ValueError(f"claims: missing language(s): {', '.join(missing)}")
        if not self.citations:
            raise ValueError("citations: at least one citation is needed")
        for lang, text in self.claims.items():
            if not text.keywords:
                raise ValueError(f"claims.{lang}.keywords: at least one keyword is needed")
            if not 8 <= len(text.claim) <= 400:
                raise ValueError(f"claims.{lang}.claim: must be 8 to 400 characters")
            if not 40 <= len(text.explanation) <= 900:
                raise ValueError(f"claims.{lang}.explanation: must be 40 to 900 characters")
        return self

    def text_for(self, language: str) -> ClaimText:
        """The claim text in `language`, else English, else the first language it has."""
        return (
            self.claims.get(language) or self.claims.get("en") or next(iter(self.claims.values()))
        )

    def keyword_stems(self) -> set[str]:
        """Every language's keywords, in the form of `keyword_pattern`, for the key-entity check."""
        return {
            keyword_pattern(keyword)
            for text in self.claims.values()
            for keyword in text.keywords
            if keyword_pattern(keyword)
        }

    def rule_groups(self) -> list[set[str]]:
        """The key-entity group followed by the `requires` groups: a match needs one of each."""
        groups = [self.keyword_stems()]
        for group in self.requires:
            groups.append({keyword_pattern(stem) for stem in group if keyword_pattern(stem)})
        return groups

    def exclude_stems(self) -> set[str]:
        return {keyword_pattern(stem) for stem in self.excludes if keyword_pattern(stem)}

    def rules_met(self, text: str) -> bool:
        """Every rule group met and no excluding stem present."""
        form = match_form(text)
        return self.first_unmet_group(text, form) is None and not any(
            stem in form for stem in self.exclude_stems()
        )

    def first_unmet_group(self, text: str, form: str | None = None) -> int | None:
        """Index of the first rule group the text does not satisfy, or None when all are met.

        `form` is `match_form(text)`, when the caller already has it.
        """
        return first_unmet(self.rule_groups(), match_form(text) if form is None else form)

    def phrasings(self) -> list[tuple[str, str]]:
        """(language, text) for the canonical claim and every variant, in every language."""
        return [
            (lang, phrase)
            for lang, text in self.claims.items()
            for phrase in [text.claim, *text.variants]
        ]


def first_unmet(groups: list[set[str]], form: str) -> int | None:
    """Index of the first group none of whose stems occurs in `form`, or None."""
    for index, group in enumerate(groups):
        if not any(stem in form for stem in group):
            return index
    return None


class FactCheckError(ValueError):
    """A fact-check file that cannot be used; the message names the file and the field at fault."""


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        location = ".".join(str(piece) for piece in item["loc"]) or "(file)"
        parts.append(f"{location}: {item['msg']}")
    return "; ".join(parts)


def _read_mapping(path: Path, what: str) -> dict:
    """A YAML file holding a mapping; FactCheckError naming the path otherwise."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise FactCheckError(f"{path}: cannot be read as YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise FactCheckError(f"{path}: expected a mapping of {what}")
    return raw


def lexicon_path(fact_checks_dir: Path) -> Path:
    """`lexicon.yaml` beside a fact-check folder, or the shipped one when there is none."""
    beside = fact_checks_dir.parent / LEXICON_FILE
    return beside if beside.is_file() else SOURCES_DIR / LEXICON_FILE


def load_lexicon(path: Path) -> dict[str, list[str]]:
    """The shared word lists: a mapping of names to non-empty lists of stems (none if no file)."""
    if not path.is_file():
        return {}
    raw = _read_mapping(path, "names to lists of stems")
    for name, stems in raw.items():
        if not isinstance(stems, list) or not stems:
            raise FactCheckError(f"{path}: {name}: expected a non-empty list of stems")
        if not all(isinstance(stem, str) and stem.strip() for stem in stems):
            raise FactCheckError(f"{path}: {name}: stems must be non-blank strings")
    return {str(name): list(stems) for name, stems in raw.items()}


def _expand(stems: object, lexicon: dict[str, list[str]], where: str) -> object:
    """A list of stems with every "@name" replaced by that lexicon list (order kept, no repeats)."""
    if not isinstance(stems, list):
        return stems  # left for the schema to refuse
    out: list[object] = []
    for stem in stems:
        if isinstance(stem, str) and stem.startswith("@"):
            if stem[1:] not in lexicon:
                known = ", ".join(f"@{name}" for name in sorted(lexicon)) or "none"
                raise FactCheckError(f"{where}: unknown word list {stem!r} (known: {known})")
            out.extend(lexicon[stem[1:]])
        else:
            out.append(stem)
    return list(dict.fromkeys(out))


def load_fact_check(path: Path, lexicon: dict[str, list[str]] | None = None) -> FactCheck:
    """Parses and validates one file; raises FactCheckError naming the path and the field.

    `lexicon`: the shared word lists; by default `lexicon.yaml` beside the file's folder, or the
    shipped one (`lexicon_path`).
    """
    raw = _read_mapping(path, "fields at the top level")
    if lexicon is None:
        lexicon = load_lexicon(lexicon_path(path.parent))
    if isinstance(raw.get("requires"), list):
        raw["requires"] = [
            _expand(group, lexicon, f"{path}: requires.{index}")
            for index, group in enumerate(raw["requires"])
        ]
    if "excludes" in raw:
        raw["excludes"] = _expand(raw["excludes"], lexicon, f"{path}: excludes")
    try:
        fact_check = FactCheck.model_validate(raw)
    except ValidationError as exc:
        raise FactCheckError(f"{path}: {_describe(exc)}") from exc
    if fact_check.id != path.stem:
        raise FactCheckError(
            f"{path}: id: {fact_check.id!r} must equal the file name {path.stem!r}"
        )
    for lang, phrase in fact_check.phrasings():
        unmet = fact_check.first_unmet_group(phrase)
        if unmet == 0:
            raise FactCheckError(
                f"{path}: claims.{lang}.keywords: no keyword occurs in the phrasing {phrase!r}"
            )
        if unmet is not None:
            raise FactCheckError(
                f"{path}: requires.{unmet - 1}: no stem of this group occurs in the {lang} "
                f"phrasing {phrase!r}"
            )
        if not fact_check.rules_met(phrase):
            raise FactCheckError(
                f"{path}: excludes: a stem occurs in the {lang} phrasing {phrase!r}"
            )
    return fact_check


def load_fact_checks(directory: Path = FACT_CHECKS_DIR) -> list[FactCheck]:
    """Loads every `*.yaml` of a folder, refusing the whole set on the first bad file."""
    if not directory.is_dir():
        raise FactCheckError(f"{directory}: fact-check folder not found")
    lexicon = load_lexicon(lexicon_path(directory))
    checks = [load_fact_check(path, lexicon) for path in sorted(directory.glob("*.yaml"))]
    if not checks:
        raise FactCheckError(f"{directory}: contains no fact-check (*.yaml) files")
    return checks
