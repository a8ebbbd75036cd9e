"""Bot burst benchmark: the real Application against the fake Bot API server on 127.0.0.1.

Usage: python benchmarks/bot_burst.py [--messages 1000] [--users 200]
Needs the index in DATA_DIR (`factcheck ingest rebuild`). Half the messages repeat curated
claims (answered at once), half are uncovered claims (drafted for review). Prints messages per
second, replies lost (must be 0), replies sent twice (must be 0) and the time from an update
being queued to its reply, for the matched half.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.review.database import make_engine, migrate, session_factory
from bot.review.repository import ReviewRepository
from bot.services import Services
from bot.settings import Settings
from bot.telegram.app import build_application, shutdown, startup
from tests.telegram_fake import FakeTelegram

UNCOVERED = [
    "Cracking your knuckles gives you arthritis when you get old",
    "Sleeping with a fan on at night can kill you, share with family",
    "Drinking water while eating dilutes your stomach acid and causes ulcers",
    "Reading in dim light permanently damages your eyes",
    "An onion cut in the room absorbs the flu virus",
    "Fluoride in tap water lowers children's intelligence",
    "Les ventilateurs la nuit provoquent la paralysie faciale",
    "شرب الماء البارد بعد الأكل يسبب السرطان",
]


async def run(
    messages: int, users: int, rate: float = 0.0, review_chat: int = -100500
) -> dict[str, float]:
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
    with FakeTelegram() as fake, tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            telegram_bot_token="123456:BENCH-token",
            telegram_api_base_url=fake.base_url,
            telegram_api_file_url=fake.base_file_url,
            review_chat_id=review_chat,
            reviewer_ids=frozenset({1}),
            database_url=f"sqlite:///{Path(tmp) / 'bench.db'}",
            rate_limit_per_minute=1000,
        )
        services = Services(settings)
        records = services.engine.matcher.records
        covered = [
            record.text_for(lang).claim
            for record in records.values()
            for lang in ("ar", "fr", "en")
            if record.origin == "curated"
        ]
        services.engine.warm_up()
        engine = make_engine(settings.resolved_database_url)
        migrate(engine)
        repo = ReviewRepository(session_factory(engine))
        app = build_application(services, repo)
        rng = random.Random(5)
        pushed: dict[int, tuple[float, bool]] = {}
        async with app:
            await app.start()
            await startup(app)
            assert app.updater is not None
            await app.updater.start_polling(poll_interval=0, timeout=1)
            started = time.monotonic()
            for index in range(messages):
                user = 10_000 + index % users
                matched = index % 2 == 0
                text = rng.choice(covered) if matched else f"{rng.choice(UNCOVERED)} #{index}"
                update = fake.message_update(user, text)
                if rate:  # a steady arrival rate instead of one burst
                    await asyncio.sleep(max(0.0, started + index / rate - time.monotonic()))
                pushed[update["message"]["message_id"]] = (time.monotonic(), matched)
                fake.push_update(update)

            def replies() -> list:  # type: ignore[type-arg]
                return [
                    c for c in fake.calls("sendMessage") if c.params.get("chat_id") != review_chat
                ]

            await fake.wait_for_async(lambda: len(replies()) >= messages, timeout=600)
            elapsed = time.monotonic() - started
            await asyncio.sleep(1.0)
            await app.updater.stop()
            await shutdown(app)
            await app.stop()
        answered = replies()
        per_message = Counter(
            (c.params.get("reply_parameters") or {}).get("message_id") for c in answered
        )
        latencies = sorted(
            (c.at - pushed[mid][0]) * 1000
            for c in answered
            if (mid := (c.params.get("reply_parameters") or {}).get("message_id")) in pushed
            and pushed[mid][1]
        )
        return {
            "messages": messages,
            "seconds": elapsed,
            "per_second": messages / elapsed,
            "lost": sum(1 for mid in pushed if per_message.get(mid, 0) == 0),
            "twice": sum(1 for count in per_message.values() if count > 1),
            "matched_p50_ms": statistics.median(latencies),
            "matched_p95_ms": latencies[int(0.95 * (len(latencies) - 1))],
            "drafts": len(
                [c for c in fake.calls("sendMessage") if c.params.get("chat_id") == review_chat]
            ),
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument(
        "--rate", type=float, default=0.0, help="messages per second (default: all at once)"
    )
    args = parser.parse_args()
    result = asyncio.run(run(args.messages, args.users, args.rate))
    arrival = f"at {args.rate:g}/s" if args.rate else "all at once"
    print(
        f"# bot burst: {args.messages} messages from {args.users} users ({arrival}), half matched"
    )
    print(
        f"handled in {result['seconds']:.1f} s: {result['per_second']:.1f} messages/s; "
        f"lost {result['lost']}, sent twice {result['twice']}, drafts posted {result['drafts']}"
    )
    print(
        f"matched half, update queued -> reply sent: p50 {result['matched_p50_ms']:.0f} ms, "
        f"p95 {result['matched_p95_ms']:.0f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
