from pathlib import Path

import pytest

from knowledge_base.factchecks import FactCheckError, load_fact_check, load_fact_checks

from .conftest import SHARED

# The topics the shipped fact-checks must cover (docs/seed-topics of the project brief).
SEED_TOPICS = {
    "vaccines-autism",
    "covid-vaccine-dna",
    "vaccine-microchip",
    "5g-covid",
    "garlic-covid",
    "hot-bath-weather-covid",
    "antibiotics-viruses",
    "hydroxychloroquine-covid",
    "ivermectin-covid",
    "bleach-alcohol-covid",
    "flu-vaccine-gives-flu",
    "hpv-vaccine-infertility",
    "polio-vaccine-sterility",
    "measles-harmless",
    "vitamin-c-cures",
    "camel-urine",
    "black-seed-covid",
    "honey-infants",
    "hiv-mosquitoes",
    "hiv-herbal-cure",
    "baking-soda-cancer",
    "antiperspirant-breast-cancer",
    "microwave-cancer",
    "shisha-safer",
    "e-cigarettes-harmless",
    "masks-co2",
    "artemisia-malaria",
    "tb-hereditary",
    "epilepsy-contagious",
    "insulin-herbs",
    "ors-diarrhoea",
    "breastfeeding-covid",
    "smoking-protects-covid",
    "cold-weather-colds",
    "nasal-decongestant-rebound",
    "handwashing-soap",
    "folic-acid-pregnancy",
    "smoking-lung-cancer",
    "physical-activity-heart",
    "ai-chatbot-medical-advice",
}
VALID = """\
id: demo-topic
verdict: false
reviewed: 2026-11-21
citations:
  - {publisher: WHO, title: Demo page, url: "https://www.who.int/x", language: en, checked: 2026-11-21}
claims:
  en: {claim: "Garlic cures the demo disease.", variants: ["garlic heals it"], keywords: [garlic],
       explanation: "There is no evidence that garlic cures the demo disease; see a doctor."}
  fr: {claim: "L'ail guérit la maladie démo.", variants: [], keywords: [ail],
       explanation: "Rien ne montre que l'ail guérisse la maladie démo ; consultez un médecin."}
  ar: {claim: "الثوم يعالج المرض التجريبي.", variants: [], keywords: [ثوم],
       explanation: "لا يوجد دليل على أن الثوم يعالج المرض التجريبي، استشر طبيبًا في حال المرض."}
"""


def test_shipped_fact_checks_cover_every_seed_topic_in_three_languages() -> None:
    checks = {check.id: check for check in load_fact_checks()}
    assert set(checks) >= SEED_TOPICS
    assert len(checks) >= 40
    for check in checks.values():
        assert set(check.claims) == {"ar", "fr", "en"}
        assert check.citations


def test_seed_topics_file_agrees_when_present() -> None:
    path = SHARED / "docs" / "seed-topics.md"
    if not path.exists():
        pytest.skip("../shared/docs/seed-topics.md is not beside this clone")
    keys = {
        line.split("|")[1].strip()
        for line in path.read_text().splitlines()
        if line.startswith("| ") and line.count("|") >= 4
    }
    keys -= {"key", "---"}
    assert keys <= {check.id for check in load_fact_checks()}


def test_seed_verdicts() -> None:
    checks = {check.id: check for check in load_fact_checks()}
    assert checks["artemisia-malaria"].verdict == "misleading"
    assert checks["smoking-lung-cancer"].verdict == "true"
    assert checks["vaccines-autism"].verdict == "false"


def test_unquoted_yaml_boolean_verdict_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "demo-topic.yaml"
    path.write_text(VALID, encoding="utf-8")
    assert load_fact_check(path).verdict == "false"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (("verdict: false", "verdict: maybe"), "verdict"),
        (('url: "https://www.who.int/x"', 'url: "not a url"'), "citations.0.url"),
        (("  ar: {claim", "  de: {claim"), "claims"),
        (("keywords: [garlic]", "keywords: [onion]"), "claims.en.keywords"),
        (("id: demo-topic", "id: other-topic"), "id"),
        (("claims:\n", "excludes: [heal]\nclaims:\n"), "excludes"),
    ],
)
def test_bad_file_is_refused_with_path_and_field(
    tmp_path: Path, change: tuple[str, str], field: str
) -> None:
    path = tmp_path / "demo-topic.yaml"
    path.write_text(VALID.replace(*change), encoding="utf-8")
    with pytest.raises(FactCheckError) as error:
        load_fact_check(path)
    assert str(path) in str(error.value)
    assert field in str(error.value)


def test_unparsable_yaml_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "demo-topic.yaml"
    path.write_text("id: [unclosed", encoding="utf-8")
    with pytest.raises(FactCheckError, match="cannot be read as YAML"):
        load_fact_check(path)


def test_excluding_stems_block_a_different_claim_about_the_same_entity(tmp_path: Path) -> None:
    path = tmp_path / "demo-topic.yaml"
    path.write_text(
        VALID.replace("claims:\n", "excludes: [twins, توام]\nclaims:\n"), encoding="utf-8"
    )
    check = load_fact_check(path)
    assert check.rules_met("garlic cures the demo disease")
    assert not check.rules_met("garlic gives you twins, cures the demo disease too")
    assert not check.rules_met("الثوم يعالج المرض ويجيب توأم")  # أ is normalised like the stems


def test_shipped_excludes_keep_hard_negatives_out() -> None:
    checks = {check.id: check for check in load_fact_checks()}
    assert checks["folic-acid-pregnancy"].rules_met(
        "Take folic acid before pregnancy, it protects the baby's spine"
    )
    assert not checks["folic-acid-pregnancy"].rules_met(
        "Folic acid before pregnancy gives you twins"
    )


def _folder_with_word_lists(tmp_path: Path, lexicon: str, requires: str = "") -> Path:
    """A fact-check folder holding the demo topic, with `lexicon` as the lexicon.yaml beside it."""
    folder = tmp_path / "fact_checks"
    folder.mkdir()
    (tmp_path / "lexicon.yaml").write_text(lexicon, encoding="utf-8")
    (folder / "demo-topic.yaml").write_text(
        VALID.replace("claims:\n", f"{requires}claims:\n"), encoding="utf-8"
    )
    return folder


def test_rules_can_name_a_shared_word_list(tmp_path: Path) -> None:
    folder = _folder_with_word_lists(
        tmp_path, "cure: [heal, cures, guérit, يعالج]\n", 'requires: [["@cure", remedy]]\n'
    )
    check = load_fact_checks(folder)[0]
    assert check.requires == [["heal", "cures", "guérit", "يعالج", "remedy"]]
    assert check.rules_met("garlic heals the demo disease")
    assert not check.rules_met("garlic smells strong")


def test_an_unknown_word_list_is_refused_with_path_and_field(tmp_path: Path) -> None:
    folder = _folder_with_word_lists(tmp_path, "cure: [heal]\n", 'requires: [["@cures"]]\n')
    path = folder / "demo-topic.yaml"
    with pytest.raises(FactCheckError) as error:
        load_fact_checks(folder)
    assert str(path) in str(error.value)
    assert "requires.0" in str(error.value) and "@cures" in str(error.value)
    assert "@cure" in str(error.value)  # the known lists are named


@pytest.mark.parametrize("content", ["[heal]", "cure: []", "cure: [' ']", "cure: [heal"])
def test_a_bad_word_list_file_is_refused(tmp_path: Path, content: str) -> None:
    folder = _folder_with_word_lists(tmp_path, content)
    with pytest.raises(FactCheckError, match=r"lexicon\.yaml"):
        load_fact_checks(folder)


def test_a_folder_without_word_lists_uses_the_shipped_ones(tmp_path: Path) -> None:
    # A copy of a few shipped fact-checks elsewhere (no lexicon.yaml beside it) still loads.
    folder = tmp_path / "fact_checks"
    folder.mkdir()
    shipped = Path(__file__).parent.parent / "knowledge_base" / "sources" / "fact_checks"
    (folder / "5g-covid.yaml").write_text((shipped / "5g-covid.yaml").read_text("utf-8"), "utf-8")
    (check,) = load_fact_checks(folder)
    assert "kowona" in check.requires[0]  # from the shipped @covid list


def test_a_word_learnt_once_serves_every_topic_naming_the_list() -> None:
    # Taglish "baog" (sterile) is in the shared infertility list, named by three vaccine topics.
    checks = {check.id: check for check in load_fact_checks()}
    assert checks["hpv-vaccine-infertility"].rules_met(
        "sabi ng mga nanay magiging baog daw ang mga bata dahil sa HPV vaccine"
    )
    assert checks["covid-vaccine-infertility"].rules_met(
        "ayaw niya ng covid vaccine kasi baka maging baog siya"
    )
    assert checks["polio-vaccine-sterility"].rules_met("the polio drops will make our boys baog")
