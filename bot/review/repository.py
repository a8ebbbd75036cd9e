"""The review store's operations: each one a single transaction, safe to call from any thread."""

from __future__ import annotations

import datetime as dt
import secrets
import threading
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import delete, func, select, update
from sqlalchemy import text as sql
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased, sessionmaker

from bot.review.models import (
    AuditEntry,
    Decision,
    Delivery,
    Draft,
    ProcessedUpdate,
    Request,
    User,
    utcnow,
)

_DRAFT_LOCK_KEY = 7_204_311  # any constant: the advisory lock guarding draft creation
# Two pending claims this similar (fused cosine) are the same claim: one draft for all askers.
SAME_CLAIM = 0.92
# The kind of outbox delivery that posts a draft to the review chat (with the review buttons).
REVIEW_POST = "review"


@dataclass(frozen=True)
class Received:
    """What recording a message decided: the request, and the draft if one was made or joined."""

    request_id: int
    draft_id: int | None
    new_draft: bool


class ReviewRepository:
    """Users, requests, drafts, decisions, deliveries and the audit log."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        # Deciding "same claim as a pending draft, or a new draft" must see other askers' drafts:
        # one at a time in this process, and across processes on PostgreSQL an advisory lock.
        self._draft_lock = threading.Lock()
        self._vectors: dict[int, np.ndarray] = {}

    # Users -------------------------------------------------------------------------------------
    def user(self, telegram_id: int, chat_id: int) -> User:
        """The user's record, created on first contact (safe when two messages race)."""
        with self.sessions.begin() as session:
            user = session.scalar(select(User).where(User.telegram_id == telegram_id))
            if user is None:
                try:
                    with session.begin_nested():
                        user = User(telegram_id=telegram_id, chat_id=chat_id, ref=_new_ref())
                        session.add(user)
                except IntegrityError:
                    user = session.scalars(
                        select(User).where(User.telegram_id == telegram_id)
                    ).one()
            if user.chat_id != chat_id:
                user.chat_id = chat_id
            return user

    def language_of(self, telegram_id: int) -> str | None:
        """The language a user chose, if they have a record; creates nothing."""
        with self.sessions() as session:
            return session.scalar(select(User.language).where(User.telegram_id == telegram_id))

    def set_language(self, telegram_id: int, chat_id: int, language: str) -> None:
        self.user(telegram_id, chat_id)
        with self.sessions.begin() as session:
            session.execute(
                update(User).where(User.telegram_id == telegram_id).values(language=language)
            )

    def set_banned(self, telegram_id: int, banned: bool, actor_id: int) -> bool:
        self.user(telegram_id, telegram_id)  # a private chat's id is the user's id
        with self.sessions.begin() as session:
            result = session.execute(
                update(User).where(User.telegram_id == telegram_id).values(banned=banned)
            )
            session.add(
                AuditEntry(
                    actor_id=actor_id, action="ban" if banned else "unban", subject=str(telegram_id)
                )
            )
            return bool(result.rowcount)

    def forget(self, telegram_id: int) -> int:
        """Deletes a user's messages and personal data; returns how many requests went."""
        with self.sessions.begin() as session:
            user = session.scalar(select(User).where(User.telegram_id == telegram_id))
            if user is None:
                return 0
            ids = list(session.scalars(select(Request.id).where(Request.user_id == user.id)))
            session.execute(delete(Delivery).where(Delivery.request_id.in_(ids)))
            session.execute(delete(Request).where(Request.user_id == user.id))
            session.execute(delete(User).where(User.id == user.id))
            session.add(
                AuditEntry(
                    actor_id=None, action="forget", subject=user.ref, detail={"requests": len(ids)}
                )
            )
            return len(ids)

    # Requests ----------------------------------------------------------------------------------
    def receive(
        self,
        *,
        update_id: int,
        user: User,
        chat_id: int,
        message_id: int,
        text: str,
        redacted_text: str,
        outcome: Any,
        vector: Sequence[float] | None = None,
        draft_reply: str = "",
        draft_source: str = "evidence",
        draft_note: str | None = None,
        draft_verdict: str | None = None,
    ) -> Received | None:
        """Records a message and queues its reply, at most once per Telegram update.

        Returns None when the update was already handled (Telegram redelivers after a crash).
        A claim that needs review joins a pending draft of the same claim, or starts one with
        `draft_reply` (written by `draft_source`, "model" or "evidence").
        """
        try:
            serialise = self._draft_lock if outcome.status == "needs_review" else nullcontext()
            with serialise, self.sessions.begin() as session:
                if (
                    outcome.status == "needs_review"
                    and session.get_bind().dialect.name == "postgresql"
                ):
                    session.execute(
                        sql("SELECT pg_advisory_xact_lock(:key)"), {"key": _DRAFT_LOCK_KEY}
                    )
                # No SAVEPOINT here: with pysqlite, releasing a savepoint opened outside a transaction
                # commits it, and a crash right after would mark the update handled with no reply.
                if session.get(ProcessedUpdate, update_id) is not None:
                    return None
                session.add(ProcessedUpdate(update_id=update_id))
                session.flush()
                request = Request(
                    update_id=update_id,
                    user_id=user.id,
                    chat_id=chat_id,
                    message_id=message_id,
                    text=text,
                    redacted_text=redacted_text,
                    language=outcome.language,
                    category=outcome.category,
                    status=outcome.status,
                    fact_check_id=(outcome.matched_fact_check or {}).get("id"),
                )
                session.add(request)
                session.flush()
                draft, new_draft = None, False
                if outcome.status == "needs_review":
                    draft = self._same_pending_claim(session, vector)
                    if draft is None:
                        draft = Draft(
                            claim=redacted_text,
                            language=outcome.language,
                            draft_reply=draft_reply or outcome.reply,
                            draft_source=draft_source,
                            draft_note=draft_note,
                            draft_verdict=draft_verdict,
                            evidence=outcome.evidence,
                            suggestion=outcome.suggested_fact_check,
                            vector=list(vector or []),
                        )
                        session.add(draft)
                        session.flush()
                        new_draft = True
                    request.draft_id = draft.id
                kind = "holding" if outcome.status == "needs_review" else "answer"
                session.add(
                    Delivery(
                        dedupe_key=f"{kind}:{request.id}",
                        request_id=request.id,
                        chat_id=chat_id,
                        reply_to_message_id=message_id,
                        kind=kind,
                        text=outcome.reply,
                    )
                )
                return Received(request.id, draft.id if draft else None, new_draft)
        except IntegrityError:  # the same update recorded at the same moment by another worker
            return None

    def pending_claim(self, vector: Sequence[float] | None) -> int | None:
        """The id of a pending draft of the same claim, if there is one (a new asker joins it)."""
        with self.sessions() as session:
            draft = self._same_pending_claim(session, vector)
            return draft.id if draft is not None else None

    def _same_pending_claim(self, session: Session, vector: Sequence[float] | None) -> Draft | None:
        if not vector:
            return None
        query = np.asarray(vector, dtype=np.float32)
        pending = list(session.scalars(select(Draft.id).where(Draft.status == "pending")))
        # Draft vectors never change: keep them decoded rather than parse JSON per message.
        missing = [draft_id for draft_id in pending if draft_id not in self._vectors]
        if missing:
            for draft_id, stored in session.execute(
                select(Draft.id, Draft.vector).where(Draft.id.in_(missing))
            ):
                self._vectors[draft_id] = np.asarray(stored or [], dtype=np.float32)
        best_id, best_score = None, SAME_CLAIM
        for draft_id in pending:
            stored = self._vectors[draft_id]
            if stored.shape != query.shape:
                continue
            score = float(stored @ query)
            if score >= best_score:
                best_id, best_score = draft_id, score
        return session.get(Draft, best_id) if best_id is not None else None

    # Drafts and decisions ----------------------------------------------------------------------
    def draft(self, draft_id: int) -> Draft | None:
        with self.sessions() as session:
            return session.get(Draft, draft_id)

    def pending_drafts(self) -> list[tuple[Draft, int]]:
        """Pending drafts, oldest first, with how many people are waiting for each."""
        with self.sessions() as session:
            rows = session.execute(
                select(Draft, func.count(Request.id))
                .join(Request, Request.draft_id == Draft.id, isouter=True)
                .where(Draft.status == "pending")
                .group_by(Draft.id)
                .order_by(Draft.created_at)
            ).all()
            return [(draft, count) for draft, count in rows]

    def asker_refs(self, draft_id: int) -> list[str]:
        """The opaque references of a draft's askers (never their Telegram identity)."""
        with self.sessions() as session:
            return list(
                session.scalars(
                    select(User.ref)
                    .join(Request, Request.user_id == User.id)
                    .where(Request.draft_id == draft_id)
                    .order_by(Request.id)
                )
            )

    def unposted_drafts(self, *, queued: bool = True) -> list[tuple[Draft, int]]:
        """Pending drafts not yet shown to reviewers; without `queued`, only those whose post is
        not yet queued in the outbox either (see `queue_review_post`)."""
        unposted = [(d, n) for d, n in self.pending_drafts() if d.review_message_id is None]
        if queued or not unposted:
            return unposted
        with self.sessions() as session:
            keys = set(
                session.scalars(
                    select(Delivery.dedupe_key).where(
                        Delivery.dedupe_key.in_([review_post_key(d.id) for d, _ in unposted])
                    )
                )
            )
        return [(d, n) for d, n in unposted if review_post_key(d.id) not in keys]

    def queue_review_post(
        self, draft_id: int, chat_id: int, text: str, *, revive: bool = False
    ) -> bool:
        """Records a draft's post to the review chat as an outbox delivery, once per draft.

        The outbox sends it like a reply (retried, 429 honoured, resent after a restart) and,
        once Telegram confirms it, `delivered` stores the message id on the draft. With `revive`
        (at start-up), a post that was given up is tried again and an unsent one goes to
        `chat_id` (REVIEW_CHAT_ID may have changed). True when something was queued."""
        key = review_post_key(draft_id)
        with self.sessions.begin() as session:
            existing = session.scalar(select(Delivery).where(Delivery.dedupe_key == key))
            if existing is None:
                try:
                    with session.begin_nested():
                        session.add(
                            Delivery(
                                dedupe_key=key,
                                request_id=None,
                                chat_id=chat_id,
                                reply_to_message_id=None,
                                kind=REVIEW_POST,
                                text=text,
                            )
                        )
                except IntegrityError:  # queued at the same moment by another handler
                    return False
                return True
            if not revive or existing.status == "sent":
                return False
            existing.chat_id = chat_id
            if existing.status == "pending":
                return False
            existing.status = "pending"
            existing.attempts = 0
            existing.next_attempt_at = utcnow()
            return True

    def set_review_message(self, draft_id: int, chat_id: int, message_id: int) -> None:
        with self.sessions.begin() as session:
            session.execute(
                update(Draft)
                .where(Draft.id == draft_id)
                .values(review_chat_id=chat_id, review_message_id=message_id)
            )

    def decide(
        self,
        draft_id: int,
        *,
        reviewer_id: int,
        reviewer_name: str,
        action: str,
        text: str | None = None,
        reason: str | None = None,
        fact_check_id: str | None = None,
        delivered_text: str | None = None,
    ) -> Draft | None:
        """Approves (with `text`), rejects (with `reason`) or marks a pending draft as spam.

        `delivered_text` (the approved reply, or a "could not answer" note) is queued for every
        asker of the draft. Returns None when the draft was already decided (a second press of
        a button, or another reviewer was first).
        """
        with self.sessions.begin() as session:
            draft = session.get(Draft, draft_id, with_for_update=True)
            if draft is None or draft.status != "pending":
                return None
            now = utcnow()
            draft.status = {"approve": "approved", "reject": "rejected", "spam": "spam"}[action]
            draft.decided_at = now
            draft.version += 1
            if action == "approve":
                draft.final_reply = text
                draft.fact_check_id = fact_check_id
            session.add(
                Decision(
                    draft_id=draft.id,
                    reviewer_id=reviewer_id,
                    reviewer_name=reviewer_name,
                    action=action,
                    text=text,
                    reason=reason,
                )
            )
            session.add(
                AuditEntry(
                    actor_id=reviewer_id,
                    action=f"draft.{action}",
                    subject=f"draft:{draft.id}",
                    detail={"text": text, "reason": reason},
                )
            )
            requests = list(session.scalars(select(Request).where(Request.draft_id == draft.id)))
            for request in requests:
                request.status = "decided"
                if delivered_text and action != "spam":
                    session.add(
                        Delivery(
                            dedupe_key=f"decision:{request.id}:{draft.version}",
                            request_id=request.id,
                            chat_id=request.chat_id,
                            reply_to_message_id=request.message_id,
                            kind="decision",
                            text=delivered_text,
                        )
                    )
            draft.requests = requests
            return draft

    def revise(
        self,
        draft_id: int,
        *,
        reviewer_id: int,
        reviewer_name: str,
        text: str,
        notify: bool,
        delivered_text: str | None = None,
    ) -> int:
        """Revises an approved reply; with `notify`, queues a correction to everyone who got it."""
        with self.sessions.begin() as session:
            draft = session.get(Draft, draft_id)
            if draft is None or draft.status != "approved":
                return 0
            draft.version += 1
            draft.final_reply = text
            session.add(
                Decision(
                    draft_id=draft.id,
                    reviewer_id=reviewer_id,
                    reviewer_name=reviewer_name,
                    action="revise",
                    text=text,
                )
            )
            session.add(
                AuditEntry(
                    actor_id=reviewer_id,
                    action="draft.revise",
                    subject=f"draft:{draft.id}",
                    detail={"notify": notify},
                )
            )
            if not notify:
                return 0
            received = session.scalars(
                select(Delivery)
                .where(Delivery.kind == "decision", Delivery.status == "sent")
                .join(Request, Request.id == Delivery.request_id)
                .where(Request.draft_id == draft.id)
            ).all()
            for delivery in received:
                session.add(
                    Delivery(
                        dedupe_key=f"correction:{delivery.request_id}:{draft.version}",
                        request_id=delivery.request_id,
                        chat_id=delivery.chat_id,
                        reply_to_message_id=delivery.telegram_message_id,
                        kind="correction",
                        text=delivered_text or text,
                    )
                )
            return len(received)

    def received_count(self, draft_id: int) -> int:
        """How many askers were sent the approved reply of a draft."""
        with self.sessions() as session:
            return int(
                session.scalar(
                    select(func.count(Delivery.id))
                    .join(Request, Request.id == Delivery.request_id)
                    .where(
                        Request.draft_id == draft_id,
                        Delivery.kind == "decision",
                        Delivery.status == "sent",
                    )
                )
                or 0
            )

    def decisions(self, draft_id: int) -> list[Decision]:
        with self.sessions() as session:
            return list(
                session.scalars(
                    select(Decision).where(Decision.draft_id == draft_id).order_by(Decision.id)
                )
            )

    # Deliveries --------------------------------------------------------------------------------
    def due_deliveries(self, limit: int = 50) -> list[Delivery]:
        """Every pending delivery that is due, oldest first."""
        with self.sessions() as session:
            return list(
                session.scalars(
                    select(Delivery)
                    .where(Delivery.status == "pending", Delivery.next_attempt_at <= utcnow())
                    .order_by(Delivery.id)
                    .limit(limit)
                )
            )

    def sendable_deliveries(self, limit: int = 50) -> list[Delivery]:
        """Pending deliveries that are due, each the first pending one of its chat (by the
        message it answers, then by id): a reply waiting for a retry holds back the later replies
        to the same chat, so that each chat gets its replies in the order its messages came,
        even when messages handled concurrently queued their replies in another order."""
        earlier = aliased(Delivery)
        earlier_key = func.coalesce(earlier.reply_to_message_id, 0)
        this_key = func.coalesce(Delivery.reply_to_message_id, 0)
        older_pending = (
            select(earlier.id)
            .where(
                earlier.chat_id == Delivery.chat_id,
                earlier.status == "pending",
                (earlier_key < this_key) | ((earlier_key == this_key) & (earlier.id < Delivery.id)),
            )
            .exists()
        )
        with self.sessions() as session:
            return list(
                session.scalars(
                    select(Delivery)
                    .where(
                        Delivery.status == "pending",
                        Delivery.next_attempt_at <= utcnow(),
                        ~older_pending,
                    )
                    .order_by(Delivery.id)
                    .limit(limit)
                )
            )

    def delivered(self, delivery_id: int, telegram_message_id: int) -> None:
        """Telegram confirmed the delivery; a draft's review post also becomes the message that
        the review code edits once the draft is decided."""
        with self.sessions.begin() as session:
            delivery = session.get(Delivery, delivery_id)
            if delivery is None:
                return
            delivery.status = "sent"
            delivery.telegram_message_id = telegram_message_id
            delivery.sent_at = utcnow()
            draft_id = review_post_draft(delivery)
            if draft_id is not None:
                session.execute(
                    update(Draft)
                    .where(Draft.id == draft_id)
                    .values(review_chat_id=delivery.chat_id, review_message_id=telegram_message_id)
                )

    def cancel_delivery(self, delivery_id: int, reason: str) -> None:
        """A delivery that must no longer be sent (a review post of a draft already decided)."""
        with self.sessions.begin() as session:
            session.execute(
                update(Delivery)
                .where(Delivery.id == delivery_id, Delivery.status == "pending")
                .values(status="cancelled", last_error=reason[:500])
            )

    def retry_later(self, delivery_id: int, error: str, delay_s: float, give_up: bool) -> None:
        with self.sessions.begin() as session:
            session.execute(
                update(Delivery)
                .where(Delivery.id == delivery_id)
                .values(
                    attempts=Delivery.attempts + 1,
                    last_error=error[:500],
                    status="failed" if give_up else "pending",
                    next_attempt_at=utcnow() + dt.timedelta(seconds=delay_s),
                )
            )

    def delivery_counts(self) -> dict[str, int]:
        with self.sessions() as session:
            rows = session.execute(select(Delivery.status, func.count()).group_by(Delivery.status))
            return {status: count for status, count in rows}

    # Audit and statistics ----------------------------------------------------------------------
    def audit(
        self,
        actor_id: int | None,
        action: str,
        subject: str = "",
        detail: dict[str, Any] | None = None,
    ) -> None:
        with self.sessions.begin() as session:
            session.add(
                AuditEntry(actor_id=actor_id, action=action, subject=subject, detail=detail or {})
            )

    def stats(self, since: dt.datetime) -> dict[str, Any]:
        with self.sessions() as session:
            total = session.scalar(select(func.count(Request.id))) or 0
            answered = (
                session.scalar(select(func.count(Request.id)).where(Request.draft_id.is_(None)))
                or 0
            )
            reviewed = total - answered
            waits = [
                (decided - created).total_seconds()
                for created, decided in session.execute(
                    select(Draft.created_at, Draft.decided_at).where(Draft.decided_at.is_not(None))
                )
            ]
            top = session.execute(
                select(Request.fact_check_id, func.count(Request.id))
                .where(Request.created_at >= since, Request.fact_check_id.is_not(None))
                .group_by(Request.fact_check_id)
                .order_by(func.count(Request.id).desc())
                .limit(5)
            ).all()
        return {
            "requests": total,
            "answered_at_once": answered,
            "reviewed": reviewed,
            "median_decision_s": float(np.median(waits)) if waits else None,
            "top_claims": [(fc_id, count) for fc_id, count in top],
        }

    def purge_raw_text(self, older_than: dt.datetime) -> int:
        """Drops the raw text of old requests (the redacted text stays for the record)."""
        with self.sessions.begin() as session:
            result = session.execute(
                update(Request)
                .where(Request.created_at < older_than, Request.text.is_not(None))
                .values(text=None)
            )
            return int(result.rowcount or 0)


def review_post_key(draft_id: int) -> str:
    """The outbox key of a draft's post to the review chat: one post per draft."""
    return f"{REVIEW_POST}:{draft_id}"


def review_post_draft(delivery: Delivery) -> int | None:
    """The draft a delivery posts to the review chat, or None for a reply to a user."""
    if delivery.kind != REVIEW_POST:
        return None
    prefix, _, draft_id = delivery.dedupe_key.partition(":")
    return int(draft_id) if prefix == REVIEW_POST and draft_id.isdecimal() else None


def _new_ref() -> str:
    return "U-" + secrets.token_hex(4).upper()
