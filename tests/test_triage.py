import pytest

from bot.engine.triage import triage


@pytest.mark.parametrize(
    "text",
    [
        "my son swallowed bleach what do I do",
        "mon père a mal à la poitrine maintenant, il transpire, aidez moi",
        "ابني بلع كلور الحقوني",
        "My dad is having a stroke his face is drooping",
        "elle ne respire plus !!",
    ],
)
def test_emergencies(text: str) -> None:
    assert triage(text).category == "emergency"


@pytest.mark.parametrize("text", ["I want to kill myself", "j'ai envie de mourir", "بدي موت خلص"])
def test_self_harm_is_an_emergency_with_its_own_guidance(text: str) -> None:
    result = triage(text)
    assert result.category == "emergency" and result.self_harm


@pytest.mark.parametrize(
    "text",
    [
        "the covid vaccine causes heart attacks in young men",
        "les vaccins provoquent des AVC chez les jeunes",
        "اللقاح يسبب جلطات",
    ],
)
def test_rumours_about_emergencies_are_claims(text: str) -> None:
    assert triage(text).category == "claim"


@pytest.mark.parametrize(
    "text",
    [
        "how many mg of paracetamol for my 4 year old",
        "quelle dose de doliprane pour mon bébé de 8 kg",
        "ابني عنده حرارة كم جرعة بنادول اعطيه",
    ],
)
def test_personal_advice(text: str) -> None:
    assert triage(text).category == "personal_advice"


@pytest.mark.parametrize("text", ["hello", "Bonjour !", "السلام عليكم", "thanks a lot"])
def test_greetings(text: str) -> None:
    assert triage(text).category == "greeting"
