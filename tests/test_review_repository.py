"""The review store's contract, on SQLite and on the PostgreSQL server of this machine."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, text

from bot.engine.outcome import Outcome
from bot.review.database import MIGRATIONS, DatabaseError, make_engine, migrate, session_factory
from bot.review.repository import ReviewRepository

PG_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _postgres_available() -> bool:
    try:
        with create_engine(PG_URL).connect() as connection:
            connection.execute(text("select 1"))
        return True
    except Exception:
        return False


@pytest.fixture(params=["sqlite", "postgresql"])
def blank_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty database (no schema yet) on SQLite, then on this machine's PostgreSQL."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'review.db'}")
        yield engine
        engine.dispose()
        return
    if not _postgres_available():
        pytest.skip(f"no PostgreSQL server at {PG_URL}")
    name = f"factcheck_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_URL.rsplit("/", 1)[0] + f"/{name}"
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def repo(blank_engine: Engine) -> ReviewRepository:
    migrate(blank_engine)
    return ReviewRepository(session_factory(blank_engine))


def outcome(status: str = "needs_review", reply: str = "holding") -> Outcome:
    return Outcome(
        id=None,
        language="en",
        category="claim",
        verdict="unproven" if status == "needs_review" else "false",
        status=status,  # type: ignore[arg-type]
        reply=reply,
        matched_fact_check=None
        if status == "needs_review"
        else {"id": "garlic-covid", "score": 0.9},
    )


def receive(
    repo: ReviewRepository,
    update_id: int,
    user_tg: int,
    vector: list[float],
    status: str = "needs_review",
):  # type: ignore[no-untyped-def]
    user = repo.user(user_tg, user_tg)
    return repo.receive(
        update_id=update_id,
        user=user,
        chat_id=user_tg,
        message_id=update_id,
        text="call me +33612345678",
        redacted_text="call me [PHONE]",
        outcome=outcome(status),
        vector=vector,
        draft_reply="draft text",
    )


def test_users_get_an_opaque_reference_and_a_language(repo: ReviewRepository) -> None:
    # An id longer than the reference's 8 random hex digits, so it cannot show up in it by chance.
    telegram_id = 987654321
    user = repo.user(telegram_id, telegram_id)
    assert user.ref.startswith("U-") and str(telegram_id) not in user.ref
    assert repo.user(telegram_id, telegram_id).id == user.id
    repo.set_language(telegram_id, telegram_id, "ar")
    assert repo.user(telegram_id, telegram_id).language == "ar"


def test_a_redelivered_update_is_recorded_once(repo: ReviewRepository) -> None:
    first = receive(repo, 1000, 1, [1.0, 0.0])
    assert first is not None and first.new_draft
    assert receive(repo, 1000, 1, [1.0, 0.0]) is None
    assert len(repo.due_deliveries()) == 1


def test_the_same_pending_claim_makes_one_draft_for_all_askers(repo: ReviewRepository) -> None:
    a = receive(repo, 1, 10, [1.0, 0.0])
    b = receive(repo, 2, 11, [0.99, 0.141])
    c = receive(repo, 3, 12, [0.0, 1.0])
    assert a and b and c
    assert a.draft_id == b.draft_id != c.draft_id
    assert not b.new_draft and c.new_draft
    pending = dict((draft.id, askers) for draft, askers in repo.pending_drafts())
    assert pending == {a.draft_id: 2, c.draft_id: 1}


def test_approval_queues_the_reply_for_every_asker_and_is_recorded(repo: ReviewRepository) -> None:
    a = receive(repo, 1, 10, [1.0, 0.0])
    receive(repo, 2, 11, [1.0, 0.0])
    for delivery in repo.due_deliveries():
        repo.delivered(delivery.id, 500 + delivery.id)
    decided = repo.decide(
        a.draft_id,
        reviewer_id=7,
        reviewer_name="Dr A",
        action="approve",  # type: ignore[union-attr]
        text="approved text",
        fact_check_id="approved-1",
        delivered_text="🩺 approved text",
    )
    assert decided is not None and decided.status == "approved"
    due = repo.due_deliveries()
    assert sorted(d.chat_id for d in due) == [10, 11]
    assert {d.text for d in due} == {"🩺 approved text"}
    assert repo.decide(a.draft_id, reviewer_id=8, reviewer_name="Dr B", action="reject") is None  # type: ignore[union-attr]
    [decision] = repo.decisions(a.draft_id)  # type: ignore[union-attr]
    assert (decision.reviewer_id, decision.action, decision.text) == (7, "approve", "approved text")


def test_revision_sends_a_correction_to_those_who_received_the_reply(
    repo: ReviewRepository,
) -> None:
    a = receive(repo, 1, 10, [1.0, 0.0])
    receive(repo, 2, 11, [1.0, 0.0])
    repo.decide(
        a.draft_id,
        reviewer_id=7,
        reviewer_name="Dr A",
        action="approve",  # type: ignore[union-attr]
        text="v1",
        delivered_text="v1",
    )
    for delivery in repo.due_deliveries():
        if delivery.chat_id == 10 or delivery.kind == "holding":
            repo.delivered(delivery.id, 900 + delivery.id)
    count = repo.revise(
        a.draft_id,
        reviewer_id=7,
        reviewer_name="Dr A",
        text="v2",  # type: ignore[union-attr]
        notify=True,
        delivered_text="correction v2",
    )
    assert count == 1
    corrections = [d for d in repo.due_deliveries() if d.kind == "correction"]
    assert [(d.chat_id, d.text) for d in corrections] == [(10, "correction v2")]


def test_deliveries_retry_later_and_give_up(repo: ReviewRepository) -> None:
    receive(repo, 1, 10, [1.0], status="answered")
    [delivery] = repo.due_deliveries()
    repo.retry_later(delivery.id, "429", delay_s=60, give_up=False)
    assert repo.due_deliveries() == []
    repo.retry_later(delivery.id, "blocked", delay_s=0, give_up=True)
    assert repo.delivery_counts() == {"failed": 1}


def test_forget_deletes_the_users_messages_and_data(repo: ReviewRepository) -> None:
    receive(repo, 1, 10, [1.0, 0.0])
    receive(repo, 2, 10, [0.0, 1.0])
    receive(repo, 3, 11, [0.5, 0.5])
    assert repo.forget(10) == 2
    assert repo.forget(10) == 0
    assert repo.stats(dt.datetime.now(dt.UTC) - dt.timedelta(days=7))["requests"] == 1


def test_stats_and_bans(repo: ReviewRepository) -> None:
    receive(repo, 1, 10, [1.0], status="answered")
    a = receive(repo, 2, 11, [0.0, 1.0])
    repo.decide(
        a.draft_id,
        reviewer_id=7,
        reviewer_name="Dr",
        action="reject",
        reason="off topic",  # type: ignore[union-attr]
        delivered_text="no answer",
    )
    figures = repo.stats(dt.datetime.now(dt.UTC) - dt.timedelta(days=7))
    assert figures["requests"] == 2 and figures["answered_at_once"] == 1
    assert figures["reviewed"] == 1 and figures["median_decision_s"] is not None
    assert figures["top_claims"] == [("garlic-covid", 1)]
    repo.set_banned(99, True, actor_id=1)
    assert repo.user(99, 99).banned


def test_raw_text_is_purged_after_retention(repo: ReviewRepository) -> None:
    receive(repo, 1, 10, [1.0])
    assert repo.purge_raw_text(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)) == 1
    assert repo.purge_raw_text(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)) == 0


def test_unreachable_database_is_a_clear_error() -> None:
    engine = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    with pytest.raises(DatabaseError, match="cannot reach the database"):
        migrate(engine, attempts=2, delay_s=0.01)


def test_a_draft_records_who_wrote_it(repo: ReviewRepository) -> None:
    user = repo.user(5, 5)
    received = repo.receive(
        update_id=1,
        user=user,
        chat_id=5,
        message_id=1,
        text="cold water causes cancer",
        redacted_text="cold water causes cancer",
        outcome=outcome(),
        vector=[1.0, 0.0],
        draft_reply="model text",
        draft_source="model",
        draft_verdict="false",
    )
    assert received is not None and received.draft_id is not None
    draft = repo.draft(received.draft_id)
    assert draft is not None
    assert (draft.draft_reply, draft.draft_source, draft.draft_verdict, draft.draft_note) == (
        "model text",
        "model",
        "false",
        None,
    )
    assert repo.pending_claim([0.99, 0.141]) == draft.id
    assert repo.pending_claim([0.0, 1.0]) is None
    fallback = receive(repo, 2, 6, [0.0, 1.0])
    assert fallback is not None and fallback.draft_id is not None
    assert repo.draft(fallback.draft_id).draft_source == "evidence"  # type: ignore[union-attr]


def _alembic(engine: Engine, action: str, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        getattr(command, action)(config, revision)


def test_migration_0002_keeps_the_drafts_already_stored(blank_engine: Engine) -> None:
    _alembic(blank_engine, "upgrade", "0001")
    with blank_engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO drafts (claim, language, draft_reply, evidence, vector, status, "
                "version, created_at) VALUES ('old claim', 'en', 'old draft', '[]', '[]', "
                "'pending', 0, CURRENT_TIMESTAMP)"
            )
        )
    migrate(blank_engine)
    repo = ReviewRepository(session_factory(blank_engine))
    [(draft, _)] = repo.pending_drafts()
    assert (draft.draft_reply, draft.draft_source, draft.draft_note) == (
        "old draft",
        "evidence",
        None,
    )
    _alembic(blank_engine, "downgrade", "0001")
    with blank_engine.connect() as connection:
        columns = connection.execute(text("SELECT * FROM drafts")).keys()
    assert "draft_source" not in columns
    migrate(blank_engine)
