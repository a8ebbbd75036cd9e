"""The `factcheck` command: ask, ingest, and (later) the Telegram bot."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from bot.engine.drafting import attach_draft
from bot.engine.outcome import Outcome
from bot.logs import configure as configure_logging
from bot.services import Services
from bot.settings import Settings
from ingest.loaders import IngestError
from knowledge_base.factchecks import FactCheckError
from knowledge_base.store import StoreError

EXPECTED_ERRORS = (IngestError, FactCheckError, StoreError)


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']).upper() or 'settings'}: {error['msg']}"
            for error in exc.errors()
        )
        raise click.ClickException(f"invalid settings: {problems}") from None


def _services(ctx: click.Context, check_index: bool = True) -> Services:
    settings = _settings()
    secrets = (
        [settings.telegram_bot_token.get_secret_value()] if settings.telegram_bot_token else []
    )
    if settings.webhook_secret:
        secrets.append(settings.webhook_secret.get_secret_value())
    if settings.llm_api_key:
        secrets.append(settings.llm_api_key.get_secret_value())
    configure_logging(settings.log_level, secrets)
    return Services(settings, check_index=check_index)


class _Errors(click.Group):
    """Turns the project's expected errors into one clear line and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EXPECTED_ERRORS as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=_Errors)
def main() -> None:
    """Health-rumour fact-checking: ask, ingest vetted sources, run the bot."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@main.command()
@click.argument("text", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the outcome object as JSON.")
@click.option(
    "--batch",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help='A JSONL file with one {"text", "id"?} object per line; outcomes go to stdout.',
)
@click.pass_context
def ask(ctx: click.Context, text: str | None, as_json: bool, batch: Path | None) -> None:
    """Check one message (TEXT) or a batch of messages."""
    if (text is None) == (batch is None):
        raise click.UsageError("give either TEXT or --batch FILE")
    services = _services(ctx)
    engine = services.engine
    # One event loop for the whole command: the model client is built once and reused.
    with asyncio.Runner() as runner:

        def check(message: str, item_id: str | None = None) -> Outcome:
            outcome = engine.check(message, id=item_id)
            if outcome.status == "needs_review" and (as_json or batch is not None):
                runner.run(attach_draft(services.drafter, outcome))
            return outcome

        if batch is not None:
            _ask_batch(check, batch)
            return
        outcome = check(text or "")
    if as_json:
        click.echo(json.dumps(outcome.to_dict(), ensure_ascii=False))
    else:
        click.echo(outcome.reply)


def _ask_batch(check: Callable[[str, str | None], Outcome], path: Path) -> None:
    errors = 0
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                if not isinstance(item, dict) or not isinstance(item.get("text"), str):
                    raise ValueError('each line must be an object with a string "text"')
            except ValueError as exc:
                errors += 1
                click.echo(f"{path}:{number}: skipped: {exc}", err=True)
                continue
            item_id = item.get("id")
            outcome = check(item["text"], None if item_id is None else str(item_id))
            click.echo(json.dumps(outcome.to_dict(), ensure_ascii=False))
    if errors:
        raise click.ClickException(f"{errors} line(s) of {path} could not be read")


@main.group()
def ingest() -> None:
    """Add, list, remove and rebuild vetted sources."""


class _Bar:
    """A tqdm progress bar on stderr, driven by the pipeline's (done, total) callbacks."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar: Any = None

    def __call__(self, done: int, total: int) -> None:
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(
                total=total,
                desc=self.label,
                unit="chunk",
                file=sys.stderr,
                disable=False,
                mininterval=1.0,
                dynamic_ncols=True,
            )
        self.bar.total = total
        self.bar.n = done
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _summary_line(summary: Any) -> str:
    if isinstance(summary, str):
        return f"error: {summary}"
    state = "unchanged" if summary.unchanged else f"+{summary.added} / -{summary.removed} chunks"
    rate = (
        f", {summary.added / summary.seconds:.1f} chunks/s"
        if summary.added and summary.seconds
        else ""
    )
    return (
        f"{summary.source_id}: {summary.documents} document(s), {summary.chunks} chunk(s), "
        f"{state}, {summary.seconds:.1f} s{rate}  [{summary.location}]"
    )


@ingest.command("add")
@click.argument("location")
@click.option("--publisher", required=True, help="Who published it (WHO, CDC, NIH, ...).")
@click.option(
    "--language",
    type=click.Choice(["ar", "fr", "en"]),
    default=None,
    help="Language of the source (detected per document when omitted).",
)
@click.option(
    "--trust-tier",
    type=click.Choice(["1", "2", "3"]),
    default="1",
    show_default=True,
    help="1: international or national health authority; 2: academic; 3: other vetted.",
)
@click.pass_context
def ingest_add(
    ctx: click.Context, location: str, publisher: str, language: str | None, trust_tier: str
) -> None:
    """Ingest LOCATION: a file (.md .txt .html .pdf), a folder, a MedQuAD folder, or a URL."""
    services = _services(ctx)
    bar = _Bar(Path(location).name or location)
    try:
        summary = services.ingestor.add(
            location, publisher=publisher, language=language, trust_tier=trust_tier, progress=bar
        )
    finally:
        bar.close()
    click.echo(_summary_line(summary))


@ingest.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def ingest_list(ctx: click.Context, as_json: bool) -> None:
    """List the ingested sources."""
    sources = _services(ctx).ingestor.list_sources()
    if as_json:
        click.echo(json.dumps(sources, ensure_ascii=False, indent=2))
        return
    if not sources:
        click.echo("no sources yet: add one with `factcheck ingest add`")
    for record in sources:
        click.echo(
            f"{record['source_id']}  {record.get('publisher', '')}  {record.get('language', '')}  "
            f"tier {record.get('trust_tier', '')}  {record.get('chunks', 0)} chunks  "
            f"retrieved {record.get('retrieved', '')}  {record.get('location', '')}"
        )


@ingest.command("remove")
@click.argument("source_id")
@click.pass_context
def ingest_remove(ctx: click.Context, source_id: str) -> None:
    """Remove a source and every chunk of it."""
    removed = _services(ctx).ingestor.remove(source_id)
    click.echo(f"removed {source_id}: {removed} chunk(s)")


@ingest.command("rebuild")
@click.pass_context
def ingest_rebuild(ctx: click.Context) -> None:
    """Rebuild the index from the shipped fact-checks and every registered source."""
    services = _services(ctx, check_index=False)
    bar = _Bar("rebuild")
    try:
        results = services.ingestor.rebuild(progress=bar)
    finally:
        bar.close()
    for result in results:
        click.echo(_summary_line(result))
    if services.settings.triage_model:
        started = time.perf_counter()
        model = services.triage_model
        if model is not None:
            click.echo(
                f"triage model: ready for {model.key.split(':')[0]} "
                f"({time.perf_counter() - started:.1f} s)"
            )
    if any(isinstance(result, str) for result in results):
        raise click.ClickException("some sources could not be ingested again (see above)")


@main.command("bot")
@click.pass_context
def run_bot(ctx: click.Context) -> None:
    """Run the Telegram bot (long polling, or a webhook when WEBHOOK_URL is set)."""
    from bot.review.database import DatabaseError, make_engine, migrate, session_factory
    from bot.review.repository import ReviewRepository
    from bot.telegram.app import run

    services = _services(ctx)
    problems = services.settings.bot_problems()
    if problems:
        raise click.ClickException("cannot start the bot:\n  " + "\n  ".join(problems))
    engine = make_engine(services.settings.resolved_database_url)
    try:
        migrate(engine)
    except DatabaseError as exc:
        raise click.ClickException(str(exc)) from None
    services.engine.warm_up()
    click.echo("bot running; press Ctrl+C to stop", err=True)
    run(services, ReviewRepository(session_factory(engine)))


if __name__ == "__main__":  # pragma: no cover
    main()
