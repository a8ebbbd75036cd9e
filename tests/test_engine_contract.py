"""The engine through fast fakes (hash embedder) and a real on-disk Chroma."""

import pytest

from bot.engine.compose import TELEGRAM_LIMIT
from bot.engine.outcome import CONTRACT_KEYS, REVIEW_KEYS
from bot.services import Services
from knowledge_base.text import arabic_share


def check(services: Services, text: str) -> dict:
    outcome = services.engine.check(text, id="x1")
    data = outcome.to_dict()
    assert tuple(data) == (REVIEW_KEYS if data["status"] == "needs_review" else CONTRACT_KEYS)
    if data["status"] == "needs_review":
        assert data["draft_source"] == "evidence" and data["draft"] == outcome.draft_reply
    assert data["id"] == "x1"
    assert data["category"] in {"claim", "not_a_claim", "emergency", "personal_advice"}
    assert data["verdict"] in {"false", "misleading", "true", "unproven", None}
    assert data["status"] in {"answered", "needs_review"}
    assert 0 < len(data["reply"]) <= TELEGRAM_LIMIT
    assert data["elapsed_ms"] >= 0
    for citation in data["citations"]:
        assert set(citation) == {"title", "publisher", "url", "language", "date"}
    return data


def test_canonical_claim_is_answered_with_citations_and_footer(fake_services: Services) -> None:
    data = check(fake_services, "Childhood vaccines such as MMR cause autism.")
    assert data["status"] == "answered" and data["category"] == "claim"
    assert data["matched_fact_check"]["id"] == "vaccines-autism"
    assert data["verdict"] == "false"
    assert data["citations"] and data["citations"][0]["date"]
    assert "not personal medical advice" in data["reply"]


def test_arabic_message_gets_an_arabic_reply(fake_services: Services) -> None:
    record = fake_services.engine.matcher.records["garlic-covid"]
    data = check(fake_services, record.claims["ar"].claim)
    assert data["language"] == "ar"
    assert data["matched_fact_check"]["id"] == "garlic-covid"
    assert arabic_share(data["reply"].split("\n\n")[1]) > 0.8


def test_uncovered_claim_needs_review_and_says_so(fake_services: Services) -> None:
    data = check(fake_services, "Cracking your knuckles every day gives you arthritis in old age")
    assert data["category"] == "claim"
    assert data["status"] == "needs_review"
    assert data["verdict"] == "unproven"
    assert data["matched_fact_check"] is None
    assert "clinician" in data["reply"]


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("my son swallowed bleach what do I do", "emergency"),
        ("how many mg of paracetamol for my 4 year old", "personal_advice"),
        ("hello", "not_a_claim"),
        ("", "not_a_claim"),
        ("   \u200f  ", "not_a_claim"),
        ("😀😀😀", "not_a_claim"),
        ("vaccines?", "not_a_claim"),
    ],
)
def test_triage_categories(fake_services: Services, text: str, category: str) -> None:
    data = check(fake_services, text)
    assert data["category"] == category
    assert data["verdict"] is None
    assert data["matched_fact_check"] is None


def test_emergency_reply_carries_the_configured_number(tmp_path) -> None:
    from .conftest import fake_settings

    services = Services(fake_settings(tmp_path, emergency_number="997"))
    services.ingestor.load_fact_checks()
    assert "997" in check(services, "ابني بلع كلور الحقوني")["reply"]


def test_very_long_and_marked_up_input_stays_valid(fake_services: Services) -> None:
    text = ("<b>URGENT</b> *share* _now_ [link](http://x) " + "garlic " * 2000)[:9000]
    data = check(fake_services, text)
    assert len(data["reply"]) <= TELEGRAM_LIMIT


def test_evidence_is_shown_for_uncovered_claims_when_sources_exist(
    fake_services: Services, tmp_path
) -> None:
    doc = tmp_path / "knuckles.md"
    doc.write_text(
        "# Knuckle cracking\n\nCracking your knuckles does not cause arthritis, "
        "studies of habitual knuckle crackers found no higher rate of arthritis.\n"
    )
    fake_services.ingestor.add(str(doc), publisher="NHS", language="en")
    data = check(fake_services, "Cracking your knuckles every day gives you arthritis in old age")
    assert data["status"] == "needs_review"
    assert data["citations"] and data["citations"][0]["publisher"] == "NHS"
    assert "Knuckle cracking" in data["reply"]
