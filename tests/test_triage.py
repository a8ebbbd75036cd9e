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
        # Patois and Arabizi: a stab wound, chest pain, a child who drank bleach.
        "HELP mi bredda get stab inna him leg an blood a gush out",
        "baba 3ando wja3 kbir f sdrou w ma y9derch yetnaffes mli7",
        "khuya esgheer shrab min qar3at el klor w qa3ed ystafrig",
        "mon bébé vomit tout, ses yeux sont enfoncés, il se réveille presque pas",
    ],
)
def test_emergencies(text: str) -> None:
    assert triage(text).category == "emergency"


@pytest.mark.parametrize(
    "text",
    [
        "I want to kill myself",
        "j'ai envie de mourir",
        "بدي موت خلص",
        # Said without the words "die" or "kill": gathering pills, "better off without me".
        "I've been collecting my mum's sleeping tablets. Nobody would notice if I'm gone",
        "الليلة جمعت كل حبوب أمي وحاسس إنو الكل أحسن بلاي",
        "ma3adech n7ess b 7atta 7aja, n7eb nmout w nartee7",
    ],
)
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


@pytest.mark.parametrize(
    "text",
    [
        "Good morning o. Please who is behind this number? Are you a real doctor or a computer?",
        "Allo! C'est quoi au juste ce bot-là? C'est-tu un vrai médecin qui répond ou une machine?",
        "Salam aleykoum, vous êtes qui exactement? un vrai docteur ou bien c'est un robot?",
        "السلام عليكم، انتو دكاترة حقيقيين ولا روبوت اللي يرد علينا؟",
    ],
)
def test_questions_about_the_bot_whatever_their_length(text: str) -> None:
    assert triage(text).category == "about_bot"


def test_a_question_about_the_bot_gets_the_about_text(fake_services) -> None:
    from bot.i18n import t

    outcome = fake_services.engine.check("Are you a real doctor or a computer? Who runs this?")
    assert outcome.category == "not_a_claim"
    assert outcome.reply == t("reply.about", "en")
    arabic = fake_services.engine.check("انتو دكاترة حقيقيين ولا روبوت؟ مين ورا هالرقم؟")
    assert arabic.reply == t("reply.about", "ar")


def test_a_farewell_opening_a_swiss_message_is_not_taken_for_self_harm() -> None:
    # "Adieu" greets in Switzerland; a farewell at the end of a message still counts.
    assert triage("Adieu à tous. Des parents font des rougeole parties, ça joue?").category == (
        "claim"
    )
    assert triage("je n'ai plus de force pour continuer. adieu à tous").category == "emergency"


def test_otherwise_i_cannot_breathe_is_not_an_emergency() -> None:
    # A nasal spray used for months "otherwise I can't breathe": a question, not an emergency.
    assert triage(
        "ça fait 2 ans que je mets du spray pour le nez sinon j'arrive pas à respirer, c'est grave?"
    ).category == ("claim")
    assert triage("j'arrive pas à respirer, aidez moi").category == "emergency"
