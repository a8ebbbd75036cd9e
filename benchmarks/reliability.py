"""Reliability benchmark: bad inputs, injected faults, lost and duplicated replies, redaction.

Usage: python benchmarks/reliability.py [--skip-slow]
Everything runs on 127.0.0.1 against the fake Telegram Bot API (tests/telegram_fake), with the
model-free hash embedder, in temporary folders. Scenarios:

- bad inputs: a generated list of awkward messages (empty, whitespace, emoji only, stickers,
  voice, locations, contacts, texts of 4,096+ characters, direction and zero-width marks, mixed
  scripts, HTML/Markdown specials, very long URLs) sent through the real bot; each must get one
  valid reply (non-empty, at most 4,096 characters, accepted by the API) and cause no handler error;
- kill -9 of `factcheck bot` in the middle of a burst of 60 messages, then a restart;
- Telegram failing (502) and then unreachable for a while, then back;
- the database unreachable at start; the vector store missing, or corrupt;
- personal data planted in ar/fr/en sentences, and how much each redactor (`REDACTOR=patterns`,
  `REDACTOR=presidio`) removed.

Prints one table (the numbers docs/reliability.md records).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
os.environ.setdefault("no_proxy", "127.0.0.1,localhost")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bot.privacy import Redactor, make_redactor  # noqa: E402
from tests.telegram_fake import ApiError, FakeTelegram  # noqa: E402
from tests.test_bot_e2e import make_world, running  # noqa: E402
from tests.test_faults import (  # noqa: E402
    COVERED,
    REVIEW_CHAT,
    TOKEN,
    UNCOVERED,
    bot_env,
    factcheck,
    start_bot,
    stop,
    user_replies,
)

Row = dict[str, Any]


# -- bad inputs ----------------------------------------------------------------------------------
def bad_inputs() -> list[tuple[str, dict[str, Any]]]:
    """(label, message_update keyword arguments) for each awkward message."""
    sticker = {
        "file_id": "CAACAgIAAxk",
        "file_unique_id": "AgADsticker",
        "type": "regular",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
    }
    voice = {"file_id": "AwACAgIAAxk", "file_unique_id": "AgADvoice", "duration": 3}
    long_url = "https://example.org/" + "a/" * 2200 + "?q=" + "x" * 500
    items: list[tuple[str, dict[str, Any]]] = [
        ("empty text", {"text": ""}),
        ("whitespace only", {"text": " \t\n  \u00a0 "}),
        ("emoji only", {"text": "😷🤒💉🦠"}),
        ("one emoji", {"text": "👍"}),
        ("sticker", {"text": None, "sticker": sticker}),
        ("voice", {"text": None, "voice": voice}),
        ("location", {"text": None, "location": {"latitude": 36.8, "longitude": 10.18}}),
        (
            "contact",
            {"text": None, "contact": {"phone_number": "+21620123456", "first_name": "Amina"}},
        ),
        ("4,096 characters", {"text": ("Garlic cures covid. " * 205)[:4096]}),
        ("10,000 characters", {"text": "Lemon water kills cancer cells. " * 313}),
        ("4,096+ Arabic", {"text": "الثوم يعالج كورونا " * 240}),
        ("right-to-left marks", {"text": "\u202eLemon cures cancer\u202c \u200f"}),
        ("zero-width characters", {"text": "Gar\u200blic cu\u200dres co\u200cvid\ufeff"}),
        ("only zero-width marks", {"text": "\u200b\u200c\u200d\u2060\ufeff"}),
        ("mixed scripts", {"text": "Le garlic يحمي from كورونا, c'est vrai?"}),
        ("Cyrillic look-alikes", {"text": "Vаccinеs cаusе аutism"}),
        ("HTML specials", {"text": "<b>Vaccines</b> cause <i>autism</i> &amp; <script>x</script>"}),
        (
            "Markdown specials",
            {"text": "*Vaccines* _cause_ `autism` [link](http://x) ~~no~~ ||x||"},
        ),
        ("MarkdownV2 escapes", {"text": r"\_\*\[\]\(\)\~\`\>\#\+\-\=\|\{\}\.\!"}),
        ("very long URL", {"text": long_url[:4000]}),
        ("URL plus claim", {"text": "Vaccines cause autism, see " + long_url[:3000]}),
        ("control characters", {"text": "Vaccines\x00\x07\x1b cause autism"}),
        ("only punctuation", {"text": "?!?!...,,,;;;"}),
        ("only digits", {"text": "0000000000"}),
        ("a lone command-like text", {"text": "/notacommand"}),
        ("combining marks", {"text": "Z̴̛a̸l̷g̶o̵ vaccines c̷a̸u̶s̵e autism"}),
        ("surrogate-heavy emoji", {"text": "👨‍👩‍👧‍👦" * 50}),
        ("newlines only", {"text": "\n\n\n\n"}),
        (
            "caption without photo text",
            {
                "text": None,
                "caption": "",
                "photo": [
                    {"file_id": "AgACph", "file_unique_id": "AQph", "width": 90, "height": 90}
                ],
            },
        ),
        ("forwarded emoji", {"text": "🧄🦠", "forward": True}),
    ]
    return items


async def bad_inputs_scenario(tmp: Path) -> Row:
    started = time.monotonic()
    items = bad_inputs()
    with FakeTelegram() as fake:
        world = make_world(tmp, fake)
        async with running(world) as (_, errors):
            chats = {}
            for number, (label, kwargs) in enumerate(items):
                user = 50_000 + number
                text = kwargs.pop("text", None)
                fake.push_update(fake.message_update(user, text, **kwargs))
                chats[user] = label

            def answered() -> bool:
                return all(fake.sent_messages(user) for user in chats)

            with contextlib.suppress(TimeoutError):
                await fake.wait_for_async(answered, timeout=60)
            await asyncio.sleep(1.5)  # a second reply would arrive now
            problems = []
            for user, label in chats.items():
                sent = fake.sent_messages(user)
                refused = [
                    c
                    for c in fake.calls("sendMessage")
                    if c.params.get("chat_id") == user and len(sent) == 0
                ]
                valid = len(sent) == 1 and 0 < len((sent[0].get("text") or "").strip()) <= 4096
                if not valid or refused:
                    problems.append(f"{label}: {len(sent)} replies")
            handler_errors = len(errors)
    return {
        "scenario": "bad inputs through the real bot",
        "tried": len(items),
        "ok": len(items) - len(problems),
        "lost": sum("0 replies" in p for p in problems),
        "twice": sum(" 2 replies" in p or " 3 replies" in p for p in problems),
        "note": f"handler errors: {handler_errors}"
        + (f"; {'; '.join(problems)}" if problems else ""),
        "seconds": time.monotonic() - started,
    }


# -- kill -9 during a burst -------------------------------------------------------------------------
def kill_scenario(tmp: Path, data: Path) -> Row:
    started = time.monotonic()
    with FakeTelegram() as fake:
        env = bot_env(
            data,
            TELEGRAM_BOT_TOKEN=TOKEN,
            TELEGRAM_API_BASE_URL=fake.base_url,
            REVIEW_CHAT_ID=str(REVIEW_CHAT),
            REVIEWER_IDS="7",
            LOG_LEVEL="INFO",
        )
        users = list(range(2001, 2011))
        log = tmp / "bot.log"
        first = start_bot(env, log)
        try:
            fake.wait_for(lambda: fake.calls("getUpdates") or first.poll() is not None, timeout=60)
            asked = []
            for i in range(60):
                user = users[i % len(users)]
                text = COVERED if i % 2 == 0 else f"{UNCOVERED[(i // 2) % len(UNCOVERED)]} ({i})"
                update = fake.message_update(user, text)
                fake.push_update(update)
                asked.append((user, update["message"]["message_id"]))
            fake.wait_for(lambda: len(user_replies(fake, set(users))) >= 30, timeout=30)
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
        finally:
            stop(first)
        before = len(user_replies(fake, set(users)))
        second = start_bot(env, log)
        try:
            with contextlib.suppress(TimeoutError):
                fake.wait_for(lambda: set(user_replies(fake, set(users))) >= set(asked), timeout=40)
            time.sleep(2.5)
        finally:
            stop(second)
        counts = user_replies(fake, set(users))
    lost = sum(1 for key in asked if counts[key] == 0)
    twice = sum(n - 1 for n in counts.values() if n > 1)
    return {
        "scenario": "kill -9 mid-burst, restart",
        "tried": len(asked),
        "ok": sum(1 for key in asked if counts[key] == 1),
        "lost": lost,
        "twice": twice,
        "note": f"killed after {before} replies; a duplicate can only be the send in flight "
        "at the kill",
        "seconds": time.monotonic() - started,
    }


# -- Telegram down, then back -----------------------------------------------------------------------
async def telegram_down_scenario(tmp: Path) -> Row:
    started = time.monotonic()
    users = [3001, 3002, 3003, 3004]
    with FakeTelegram() as fake:
        world = make_world(tmp, fake)
        down = {"on": True}
        serve = fake._api_sendMessage

        def send_message(params: dict[str, Any]) -> Any:
            if down["on"]:
                raise ApiError(502, "Bad Gateway")
            return serve(params)

        fake.on("sendMessage", send_message)
        asked: dict[int, list[int]] = {user: [] for user in users}
        async with running(world) as (_, errors):
            for round_ in range(4):
                for user in users:
                    update = fake.message_update(user, COVERED if round_ % 2 == 0 else "Hello!")
                    fake.push_update(update)
                    asked[user].append(update["message"]["message_id"])
                    await asyncio.sleep(0.05)
            repo = world["repo"]
            total = sum(len(v) for v in asked.values())
            await fake.wait_for_async(
                lambda: repo.delivery_counts().get("pending", 0) == total, timeout=20
            )
            await asyncio.sleep(2)
            fake.set_unreachable(True)
            await asyncio.sleep(3)
            down["on"] = False
            fake.set_unreachable(False)
            with contextlib.suppress(TimeoutError):
                await fake.wait_for_async(
                    lambda: repo.delivery_counts() == {"sent": total}, timeout=40
                )
            await asyncio.sleep(1)
            refused = len(fake.calls("sendMessage")) - len(fake.sent_messages())
            counts: Counter[tuple[int, int]] = Counter(
                (user, (m.get("reply_to_message") or {}).get("message_id"))
                for user in users
                for m in fake.sent_messages(user)
            )
            in_order = sum(
                [
                    (m.get("reply_to_message") or {}).get("message_id")
                    for m in fake.sent_messages(user)
                ]
                == asked[user]
                for user in users
            )
            handler_errors = len(errors)
    keys = [(user, mid) for user, ids in asked.items() for mid in ids]
    return {
        "scenario": "Telegram 502 then unreachable (~7 s)",
        "tried": total,
        "ok": sum(counts[k] == 1 for k in keys),
        "lost": sum(counts[k] == 0 for k in keys),
        "twice": sum(n - 1 for n in counts.values() if n > 1),
        "note": f"{refused} sends refused while down; {in_order}/{len(users)} chats in order;"
        f" handler errors: {handler_errors}",
        "seconds": time.monotonic() - started,
    }


# -- start-up faults ---------------------------------------------------------------------------------
def startup_faults(tmp: Path, data: Path) -> list[Row]:
    rows = []
    started = time.monotonic()
    env = bot_env(
        tmp / "nodb",
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_API_BASE_URL="http://127.0.0.1:1/bot",
        REVIEW_CHAT_ID=str(REVIEW_CHAT),
        REVIEWER_IDS="7",
        DATABASE_URL="postgresql+psycopg://nobody@127.0.0.1:1/x",
    )
    result = factcheck("bot", env=env, timeout=60)
    clear = (
        result.returncode != 0
        and "cannot reach the database" in result.stderr
        and "Traceback" not in result.stderr
    )
    rows.append(
        {
            "scenario": "database unreachable at start",
            "tried": 1,
            "ok": int(clear),
            "lost": 0,
            "twice": 0,
            "note": f"exit {result.returncode}, clear message, retried 5 times"
            if clear
            else result.stderr[-300:],
            "seconds": time.monotonic() - started,
        }
    )
    corrupt = tmp / "corrupt"
    corrupt.mkdir()
    (corrupt / "chroma").mkdir()
    (corrupt / "chroma" / "chroma.sqlite3").write_bytes(b"\x00garbage\xff" * 8192)
    for label, folder in (
        ("vector store missing", tmp / "empty"),
        ("vector store corrupt (junk chroma.sqlite3)", corrupt),
    ):
        started = time.monotonic()
        result = factcheck("ask", "x", env=bot_env(folder), timeout=60)
        clear = (
            result.returncode != 0
            and "factcheck ingest rebuild" in result.stderr
            and "Traceback" not in result.stderr
        )
        rows.append(
            {
                "scenario": label,
                "tried": 1,
                "ok": int(clear),
                "lost": 0,
                "twice": 0,
                "note": "names `factcheck ingest rebuild`, no traceback"
                if clear
                else result.stderr[-300:],
                "seconds": time.monotonic() - started,
            }
        )
    return rows


# -- redaction --------------------------------------------------------------------------------------
PLANTED = {
    "en": [
        (
            "phone",
            "Call me on {} if the garlic cure works",
            ["+44 7700 900123", "(212) 555-0147", "07700900456"],
        ),
        (
            "email",
            "Send the vaccine proof to {} please",
            ["john.smith@example.com", "nurse+ward3@nhs.example.uk"],
        ),
        ("id", "My passport {} was refused at the clinic", ["X12345678", "AB1234567"]),
        ("id", "Medical record number {} says I have diabetes", ["MRN20451789"]),
        ("name", "My name is {}, does lemon cure cancer?", ["John Smith", "Mary O'Brien"]),
        ("name", "Mrs {} told us garlic cures covid", ["Adeyemi", "Fatima Khan"]),
        (
            "name (no cue)",
            "My neighbour {} says lemon cures cancer",
            ["John Smith", "Mary O'Brien"],
        ),
        ("address", "The clinic at {} sells the cure", ["221B Baker Street, London"]),
        ("address", "I live at {} and the 5G mast is next door", ["14 Oxford Road"]),
    ],
    "fr": [
        (
            "phone",
            "Appelez-moi au {} si le citron marche",
            ["06 12 34 56 78", "+33 6 12 34 56 78", "01.45.67.89.10"],
        ),
        (
            "email",
            "Écrivez à {} pour le remède",
            ["marie.dupont@exemple.fr", "contact@sante-naturelle.fr"],
        ),
        ("id", "Mon numéro de sécurité sociale est {}", ["1 85 05 78 006 084 36"]),
        ("id", "Carte d'identité {} refusée à la pharmacie", ["FR1234567"]),
        (
            "name",
            "Ma voisine {} dit que l'ail guérit le covid",
            ["Marie Dupont", "Jean-Luc Martin"],
        ),
        ("name", "Je m'appelle {}, le citron guérit-il le cancer ?", ["Amina Belkacem", "Paul"]),
        ("name", "Le Dr {} dit que la chicha protège", ["Kouassi"]),
        ("address", "La pharmacie du {} vend ce remède", ["12 rue de la Paix, Paris"]),
        ("address", "J'habite au {} et l'antenne 5G est en face", ["5 avenue Bourguiba"]),
    ],
    "ar": [
        (
            "phone",
            "اتصل بي على {} إذا نجح علاج الثوم",
            ["+212 661-234567", "٠٦١٢٣٤٥٦٧٨", "0021620123456"],
        ),
        (
            "email",
            "أرسل الدليل إلى {} من فضلك",
            ["ahmed.ali@example.com", "dr_sami@clinic.example.ma"],
        ),
        ("id", "رقم بطاقتي الوطنية {} والطبيب رفضني", ["AB123456", "29801011234567"]),
        ("id", "رقم الملف الطبي {} يقول إني مريض", ["MRN7788991"]),
        (
            "name",
            "اسمي {} وأريد أن أعرف هل الليمون يعالج السرطان",
            ["فاطمة الزهراء", "محمد بن علي"],
        ),
        ("name", "الدكتورة {} قالت إن الثوم يعالج كورونا", ["سعاد"]),
        (
            "name (no cue)",
            "جارتي {} تقول إن الليمون يعالج السرطان",
            ["فاطمة الزهراء", "محمد بن علي"],
        ),
        ("address", "الصيدلية في {} تبيع الدواء", ["شارع الحبيب بورقيبة 15، تونس"]),
        ("address", "أسكن في {} وبرج الجيل الخامس قدامي", ["زنقة الأمل رقم 7"]),
    ],
}


def _digits(text: str) -> str:
    return text.translate(str.maketrans("٠١٢٣٤٥٦٧٨٩", "0123456789"))


def _gone(value: str, out: str) -> bool:
    """Every part of the planted value (words of 3+ letters, the digits) is gone from `out`."""
    if value in out or (_digits(value).strip() and _digits(value) in out):
        return False
    words = [w.strip(",.") for w in value.split() if len(w.strip(",.")) >= 3 and not w.isdigit()]
    kept_context = {
        "Street",
        "Road",
        "rue",
        "avenue",
        "London",
        "Paris",
        "تونس",
        "شارع",
        "زنقة",
        "رقم",
    }
    return not any(w in out.split() for w in words if w not in kept_context)


def redaction_rows() -> list[Row]:
    rows = []
    for kind_name in ("patterns", "presidio"):
        redactor = make_redactor(kind_name)
        rows.extend(_redaction_rows(redactor, kind_name))
    return rows


def _redaction_rows(redactor: Redactor, kind_name: str) -> list[Row]:
    rows = []
    for language, templates in PLANTED.items():
        planted: Counter[str] = Counter()
        removed: Counter[str] = Counter()
        for kind, template, values in templates:
            for value in values:
                planted[kind] += 1
                out = redactor.redact(template.format(value), language)
                if _gone(value, out):
                    removed[kind] += 1
        for group, kinds in (
            ("phones, e-mails, ids", ("phone", "email", "id")),
            ("names, street addresses", ("name", "name (no cue)", "address")),
        ):
            kinds = tuple(k for k in kinds if planted[k])
            total = sum(planted[k] for k in kinds)
            done = sum(removed[k] for k in kinds)
            detail = ", ".join(f"{k} {removed[k]}/{planted[k]}" for k in kinds)
            rows.append(
                {
                    "scenario": f"redaction, {kind_name} ({language}): {group}",
                    "tried": total,
                    "ok": done,
                    "lost": "",
                    "twice": "",
                    "note": detail,
                    "seconds": 0.0,
                }
            )
    return rows


def print_table(rows: list[Row]) -> None:
    header = ("scenario", "tried", "ok", "lost", "twice", "s", "notes")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        print(
            f"| {row['scenario']} | {row['tried']} | {row['ok']} | {row['lost']} | "
            f"{row['twice']} | {row['seconds']:.1f} | {row['note']} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--skip-slow",
        action="store_true",
        help="skip the subprocess scenarios (kill -9, start-up faults)",
    )
    args = parser.parse_args()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for name in ("bad", "down", "kill", "startup"):
            (tmp / name).mkdir()
        rows.append(asyncio.run(bad_inputs_scenario(tmp / "bad")))
        rows.append(asyncio.run(telegram_down_scenario(tmp / "down")))
        if not args.skip_slow:
            data = tmp / "kill" / "data"
            built = factcheck("ingest", "rebuild", env=bot_env(data), timeout=240)
            if built.returncode != 0:
                raise SystemExit(f"ingest rebuild failed: {built.stderr[-500:]}")
            rows.append(kill_scenario(tmp / "kill", data))
            rows.extend(startup_faults(tmp / "startup", data))
    rows.extend(redaction_rows())
    print_table(rows)
    faults = [r for r in rows if not str(r["scenario"]).startswith(("redaction", "bad inputs"))]
    print(
        f"\nfaults injected: {len(faults)}; messages lost: "
        f"{sum(int(r['lost'] or 0) for r in rows)}; messages sent twice: "
        f"{sum(int(r['twice'] or 0) for r in rows)}"
    )


if __name__ == "__main__":
    main()
