"""The learned triage backstop: the shipped examples, training, saving, and the engine's use."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bot.engine.triage_model import TriageModel, model_key, triage_model
from bot.services import Services
from knowledge_base.embeddings import build_embeddings
from knowledge_base.examples import CATEGORIES, ExampleError, load_examples

from .conftest import fake_settings


def test_shipped_examples_cover_every_category_in_every_language() -> None:
    examples = load_examples()
    assert len(examples) >= 1500
    for language in ("ar", "fr", "en"):
        found = {e.category for e in examples if e.language == language}
        assert found == set(CATEGORIES)
    assert any("\u0600" <= ch <= "\u06ff" for e in examples for ch in e.text)


@pytest.mark.parametrize(
    ("line", "complaint"),
    [
        ("{not json", "not JSON"),
        ('{"text": "x", "language": "ar", "category": "rumour"}', "category"),
        ('{"text": "x", "language": "de", "category": "claim"}', "language"),
        ('{"text": "  ", "language": "en", "category": "claim"}', "text"),
        ('{"text": "x", "language": "en", "category": "emergency", "expected": "a"}', "expected"),
    ],
)
def test_bad_example_lines_name_file_and_line(tmp_path: Path, line: str, complaint: str) -> None:
    path = tmp_path / "rumours_x_en.jsonl"
    good = '{"text": "garlic cures covid", "language": "en", "category": "claim", "expected": null}'
    path.write_text(f"{good}\n{line}\n", encoding="utf-8")
    with pytest.raises(ExampleError, match=complaint) as error:
        load_examples(tmp_path)
    assert f"{path}:2" in str(error.value)


def test_probabilities_sum_to_one_and_survive_a_save(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    model = TriageModel(rng.normal(size=(4, 8)), rng.normal(size=4), "hash:abc")
    probs = model.probabilities(rng.normal(size=8))
    assert set(probs) == set(CATEGORIES)
    assert sum(probs.values()) == pytest.approx(1.0, abs=1e-5)
    model.save(tmp_path / "m.npz")
    again = TriageModel.load(tmp_path / "m.npz")
    assert again.key == "hash:abc"
    assert again.probabilities(np.ones(8)) == pytest.approx(model.probabilities(np.ones(8)))


def test_a_saved_model_is_reused_and_a_stale_one_retrained(tmp_path: Path) -> None:
    examples = load_examples()[:400]
    embedder = build_embeddings("hash")
    first = triage_model(embedder, "hash-a", tmp_path, examples)
    assert first is not None and (tmp_path / "triage_model.npz").exists()
    assert TriageModel.load(tmp_path / "triage_model.npz").key == model_key("hash-a", examples)
    other = triage_model(embedder, "hash-b", tmp_path, examples)  # another embedder: retrained
    assert other is not None and other.key == model_key("hash-b", examples)
    assert TriageModel.load(tmp_path / "triage_model.npz").key == other.key


def _always(category: str, dimension: int) -> TriageModel:
    bias = np.full(4, -10.0)
    bias[CATEGORIES.index(category)] = 10.0
    return TriageModel(np.zeros((4, dimension)), bias, "fixed")


def test_engine_escalates_to_an_emergency_above_the_threshold(tmp_path: Path) -> None:
    services = Services(fake_settings(tmp_path))
    services.ingestor.load_fact_checks()
    engine = services.engine
    text = "Childhood vaccines such as MMR cause autism."
    assert engine.check(text).category == "claim"
    engine.triage_model = _always("emergency", len(engine.matcher.embed(text)))
    outcome = engine.check(text)
    assert outcome.category == "emergency" and outcome.status == "answered"
    assert "112" in outcome.reply


def test_learned_personal_advice_never_overrides_a_fact_check(tmp_path: Path) -> None:
    services = Services(fake_settings(tmp_path))
    services.ingestor.load_fact_checks()
    engine = services.engine
    covered = "Childhood vaccines such as MMR cause autism."
    engine.triage_model = _always("personal_advice", len(engine.matcher.embed(covered)))
    assert engine.check(covered).matched_fact_check["id"] == "vaccines-autism"
    uncovered = "Drinking cold water right after meals causes stomach cancer, doctors hide it"
    assert engine.check(uncovered).category == "personal_advice"


@pytest.mark.integration
@pytest.mark.parametrize(
    ("text", "category"),
    [
        # Phrasings that are in none of the examples.
        (
            "ya jama3a my uncle fell in the bathroom, he's not answering us and his lips are grey",
            "emergency",
        ),
        ("جدي وقع فجأة وما عم يرد علينا ووجهه صار أزرق", "emergency"),
        (
            "Ma fille de 3 ans a avalé les cachets de sa grand-mère, elle dort et on n'arrive pas à la réveiller",
            "emergency",
        ),
        (
            "How many tablets of metformin should my father take if his sugar is 250?",
            "personal_advice",
        ),
    ],
)
def test_the_trained_model_recognises_new_phrasings(
    real_services: Services, text: str, category: str
) -> None:
    model = real_services.triage_model
    assert model is not None
    vector = real_services.engine.matcher.embed(text)
    probs = model.probabilities(vector)
    assert max(probs, key=probs.get) == category, probs


@pytest.mark.integration
def test_the_trained_model_leaves_rumours_alone(real_services: Services) -> None:
    model = real_services.triage_model
    assert model is not None
    for text in (
        "garlic cures covid, share with everyone",
        "الثوم يعالج كورونا انشرها",
        "la 5G propage le covid",
    ):
        probs = model.probabilities(real_services.engine.matcher.embed(text))
        assert probs["claim"] > 0.5, (text, probs)


def test_a_corrupt_saved_model_is_replaced(tmp_path: Path) -> None:
    (tmp_path / "triage_model.npz").write_bytes(b"\x00not a model\xff" * 64)
    examples = load_examples()[:300]
    model = triage_model(build_embeddings("hash"), "hash-corrupt", tmp_path, examples)
    assert model is not None
    assert TriageModel.load(tmp_path / "triage_model.npz").key == model_key(
        "hash-corrupt", examples
    )
