"""Cleaning rules, on the three real seed scrapes and on small synthetic cases."""

from __future__ import annotations

import pytest

from evals.corpora import seeds_dir
from rag.ingest.cleaning import CleanedText, clean_article_text, is_headline_like, normalize_text, parse_trailer

# Openings of every real paragraph, in order, read off the raw files by hand.
SEED_PARAGRAPHS = {
    "000_f14baaa9ae4bf647.txt": [
        "Keir Starmer ruled out quitting the ECHR",
        "The Prime Minister said countries would",
        "Ministers will, later this year, bring",
        "Asked at a press conference - by the",
        '"I also remind myself that the',
        '"So the Home Secretary has moved fast',
        "\"You can't strike those deals with",
        'But he admitted "the right balance"',
        "\"There's a balance set out in legislation",
        'The "public interest test" will be',
        'And migrants trying to "get round the rules"',
        "The Home Office believes the legislation",
        "The majority of Channel migrants who make",
        "Summarising the changes, the Home Office",
        '"There have also long been provisions',
        "But Former Home Secretary Suella Braverman",
        '"Without leaving the ECHR and scrapping',
        "\"If there's no cap on numbers",
        "Reform UK leader Nigel Farage warned",
        "He said: \"How ironic that he's giving",
        "Home Office sources have warned of a surge",
        "Amid claims migrants could use Article 3",
        '"We stand by our commitment to international law.',
        '"A lot of the challenge is about presenting',
        "The Prime Minister, who said the country risks",
        "The plan, which includes changes to the way",
        "The Government's promise to \"take back control",
    ],
    "001_97877a4a4c045327.txt": [
        "Sir Keir Starmer has urged Europe’s leaders",
        "The prime minister and his Danish counterpart",
        "European ministers, including deputy prime minister",
        "The conclusions of the meeting adopted by the 46",
        "The declaration also promises to consider",
        "Council of Europe member states are expected",
        "It came after Mr Lammy told ministers",
        "Labour’s poll ratings have plummeted",
        "Writing in The Guardian, Sir Keir and Ms Frederiksen",
        "The ECHR, which underpins Britain’s Human Rights Act",
        "The right to family life, enshrined by Article 8",
        "Sir Keir’s political opponents",
        "But speaking in Strasbourg, the deputy prime minister",
        "Mr Lammy said: “We must strike a careful balance",
        "“The definition of ‘family life’ can’t",
        "“And states must be able to take proportionate",
        "The prime minister, in his joint op-ed with Ms Fredriksen",
        "But his government has insisted it will remain",
        "“Migration must be orderly, managed and sustainable.",
        "“Together, we are calling on our friends",
        "A political declaration signed by the ministers",
        "Meanwhile, at home, the government is expected",
        "Sir Keir’s op-ed described this as",
        "In a warning to other leaders, Sir Keir",
        "“So our message is this:",
        "Speaking after the meeting, Council of Europe",
        "But he told ministers that the court is",
    ],
    "002_efe52085fdfc4464.txt": [
        "Sir Keir Starmer has called for a tougher approach",
        "The prime minister said the way in which the ECHR",
        "His deputy, David Lammy, will today be in Strasbourg",
        "In an opinion piece for The Guardian",
        "What's the issue with the ECHR?",
        "The ECHR, which is the foundation of Britain's",
        "That is often used as grounds to prevent",
        "There has also been a rise in cases",
        "The Conservatives and Reform UK have both said",
        "But Sir Keir admitted in his joint op-ed",
        '"In a world with mass mobility',
        "What is happening today?",
        "Mr Lammy is attending an informal summit",
        'He is expected to say: "We must strike',
        "\"The definition of 'family life' can't",
        "It is understood that a political declaration",
        "The UK government is expected to bring forward",
        "The plans have been criticised by Amnesty",
        '"Human rights were never meant to be optional',
        "Sir Keir's government has already adopted",
        "Meanwhile, French far-right leader Jordan Bardella",
        "The National Rally leader called Sir Keir's",
        "He said that only a complete overhaul",
        "Mr Bardella is currently leading in opinion polls",
    ],
}

# Every line of page furniture, exactly as in the files.
SEED_FURNITURE = {
    "000_f14baaa9ae4bf647.txt": [
        "-",
        "Instagram Influencer's Cupcake Recipe Using Capsicum Leaves Netizens In Stitches; "
        "Viral Video Hits Over 4 Million Views",
        "India's Retail Inflation Hits Lowest Level In Nearly 6 Years, Thanks To Falling Vegetable Prices",
        "Sign Trump could back down over US beef in huge trade deal change",
    ],
    "001_97877a4a4c045327.txt": [
        "Starmer rules out EU customs union after Labour rebellion - latest",
        "Reeves: PM and I decided ‘as a team’ not to hike income tax",
        "Harry backs Gerry McCann over calls for greater scrutiny of UK media",
        "UK government ‘would consider’ Australia-style social media ban for under-16s",
        "Why is Labour under pressure to seek an EU-UK customs union?",
        "Yvette Cooper launches staunch defence of Europe and Sadiq Khan after Trump criticism",
    ],
    "002_efe52085fdfc4464.txt": [
        "Read more: UK's immigration shake-up explained",
        "Starmer-Macron deal 'a sticking plaster'",
        "Read more from Sky News:",
        "PM warns of 'lost decade of kids'",
        "Storm Bram brings 90mph winds and rain",
        "(c) Sky News 2025: PM issues warning to European leaders ahead of ECHR talks",
        "'I didn't know where to turn': Why ethnic minorities with gambling addictions struggle to get help",
        "COVID schemes' fraud and error cost taxpayers £11bn",
        "What Kemi Badenoch refused to say - twice - as Tories trail in polls",
        "Patients with previously untreatable blood cancer now disease-free after world-first gene therapy",
        "Is this what the beginning of a war looks like? How the US threat around Venezuela is shaping up",
    ],
}


def _clean_seed(name: str) -> CleanedText:
    return clean_article_text((seeds_dir() / name).read_text(encoding="utf-8"))


def _paragraphs(cleaned: CleanedText) -> list[str]:
    return cleaned.text.split("\n\n")


@pytest.mark.parametrize("name", sorted(SEED_PARAGRAPHS))
def test_seed_keeps_exactly_the_real_paragraphs(name: str) -> None:
    paragraphs = _paragraphs(_clean_seed(name))
    expected = SEED_PARAGRAPHS[name]
    assert [p[: len(opening)] for p, opening in zip(paragraphs, expected, strict=False)] == expected
    assert len(paragraphs) == len(expected)


@pytest.mark.parametrize("name", sorted(SEED_FURNITURE))
def test_seed_drops_all_furniture(name: str) -> None:
    cleaned = _clean_seed(name)
    paragraphs = set(_paragraphs(cleaned))
    for line in SEED_FURNITURE[name]:
        assert line in cleaned.removed
        assert line not in paragraphs
    assert set(cleaned.removed) == set(SEED_FURNITURE[name])


def test_seed_paragraphs_are_whole_lines_of_the_file() -> None:
    for name in SEED_PARAGRAPHS:
        raw_lines = {line.strip() for line in (seeds_dir() / name).read_text(encoding="utf-8").splitlines()}
        assert set(_paragraphs(_clean_seed(name))) <= raw_lines


def test_sky_news_trailer_gives_metadata() -> None:
    cleaned = _clean_seed("002_efe52085fdfc4464.txt")
    assert cleaned.publisher == "Sky News"
    assert cleaned.date == "2025"
    assert cleaned.title == "PM issues warning to European leaders ahead of ECHR talks"


def test_seeds_without_trailer_have_no_metadata() -> None:
    cleaned = _clean_seed("000_f14baaa9ae4bf647.txt")
    assert (cleaned.title, cleaned.publisher, cleaned.date) == (None, None, None)


# --- normalize_text -----------------------------------------------------------


def test_normalize_text_whitespace_and_invisibles() -> None:
    raw = "\ufeffHello\u00a0 world\u200b!\r\n\r\n\r\n\r\n  Second\tline \x07 here  \rThird\u2028Fourth"
    assert normalize_text(raw) == "Hello world!\n\nSecond line here\nThird\nFourth"


def test_normalize_text_nfc() -> None:
    assert normalize_text("cafe\u0301") == "caf\u00e9"


def test_normalize_text_is_idempotent() -> None:
    raw = " a \n\n\n b\u2003c \n"
    assert normalize_text(normalize_text(raw)) == normalize_text(raw) == "a\n\nb c"


# --- rules ------------------------------------------------------------------------

BODY = "The minister said the plan would be published next week, after months of delay."
BODY2 = "Critics said the timetable was unrealistic and that the money had not been found."


def _clean(*lines: str) -> list[str]:
    return _paragraphs(clean_article_text("\n".join(lines)))


def test_output_uses_blank_line_between_paragraphs() -> None:
    assert clean_article_text(f"{BODY}\n{BODY2}").text == f"{BODY}\n\n{BODY2}"


def test_subheading_between_paragraphs_survives() -> None:
    assert _clean(BODY, "What happens next", BODY2) == [BODY, "What happens next", BODY2]


def test_question_subheading_survives() -> None:
    assert _clean(BODY, "What is happening today?", BODY2) == [BODY, "What is happening today?", BODY2]


def test_read_more_mid_sentence_survives() -> None:
    line = "Voters who want to read more about the plans can find them on the council website."
    assert _clean(BODY, line) == [BODY, line]


def test_paragraph_starting_with_read_more_words_survives() -> None:
    line = "Read more widely, the report suggests the problem is national rather than local."
    assert _clean(BODY, line, BODY2) == [BODY, line, BODY2]


def test_quote_line_ending_in_quote_survives() -> None:
    quote = '"We will not back down."'
    curly = "“That is the end of it,” he said."
    assert _clean(BODY, quote, curly) == [BODY, quote, curly]


def test_read_more_line_and_following_headlines_dropped() -> None:
    cleaned = clean_article_text("\n".join([BODY, "Read more:", "Storm hits coast", "Prices rise again", BODY2]))
    assert _paragraphs(cleaned) == [BODY, BODY2]
    assert cleaned.removed == ["Read more:", "Storm hits coast", "Prices rise again"]


def test_read_more_with_link_text_dropped() -> None:
    assert _clean(BODY, "READ MORE: Why the plan failed", BODY2) == [BODY, BODY2]
    assert _clean(BODY, "Related: Storm hits coast", BODY2) == [BODY, BODY2]


def test_read_more_run_stops_at_question() -> None:
    # a subheading question after a teaser is more likely article text
    assert _clean(BODY, "Read more: Storm hits", "What happens now?", BODY2) == [BODY, "What happens now?", BODY2]


@pytest.mark.parametrize("separator", ["-", "—", "***", "* * *", "___", "•", "==="])
def test_separator_lines_dropped(separator: str) -> None:
    assert _clean(BODY, separator, BODY2) == [BODY, BODY2]


@pytest.mark.parametrize(
    ("line", "publisher", "date", "title"),
    [
        ("(c) Sky News 2025: PM issues warning", "Sky News", "2025", "PM issues warning"),
        ("© 2025 Reuters", "Reuters", "2025", None),
        ("© 2024 Reuters. All rights reserved.", "Reuters", "2024", None),
        ("Copyright 2023 The Guardian", "The Guardian", "2023", None),
        ("Copyright © 2024 Associated Press. All rights reserved.", "Associated Press", "2024", None),
        ("© The Guardian", "The Guardian", None, None),
        ("Copyright 2005-2025 BBC", "BBC", "2025", None),
        ("(C) 2023 Foo Media | Big story here", "Foo Media", "2023", "Big story here"),
    ],
)
def test_copyright_trailers(line: str, publisher: str, date: str | None, title: str | None) -> None:
    cleaned = clean_article_text(f"{BODY}\n{line}")
    assert cleaned.text == BODY
    assert cleaned.removed == [line]
    assert (cleaned.publisher, cleaned.date, cleaned.title) == (publisher, date, title)


@pytest.mark.parametrize(
    "line",
    [
        "Copyright holders sued the company in 2024.",
        "Copyright law is complex.",
        "(c) the minister must consider the evidence.",
        "(c) 2024 saw a rise in claims.",
        "(c) Agency 2024 figures show a rise.",
    ],
)
def test_prose_that_looks_like_a_trailer_survives(line: str) -> None:
    assert parse_trailer(line) is None
    assert _clean(BODY, line) == [BODY, line]


def test_repeated_long_paragraph_keeps_first() -> None:
    assert _clean(BODY, BODY2, BODY) == [BODY, BODY2]


def test_repeated_headline_dropped_entirely() -> None:
    assert _clean(BODY, "Storm hits coast", BODY2, "Storm hits coast", BODY) == [BODY, BODY2]


def test_trailing_headlines_dropped_with_questions_among_them() -> None:
    lines = [BODY, BODY2, "Storm hits coast", "Why are prices rising?", "Minister quits after row"]
    cleaned = clean_article_text("\n".join(lines))
    assert _paragraphs(cleaned) == [BODY, BODY2]
    assert cleaned.removed == lines[2:]


def test_single_trailing_headline_dropped() -> None:
    assert _clean(BODY, "Storm hits coast") == [BODY]


def test_article_may_end_with_a_question() -> None:
    assert _clean(BODY, "Will it work?") == [BODY, "Will it work?"]


def test_run_of_three_headlines_mid_article_dropped() -> None:
    assert _clean(BODY, "Storm hits coast", "Prices rise again", "Minister quits", BODY2) == [BODY, BODY2]


def test_two_headline_lines_mid_article_survive() -> None:
    assert _clean(BODY, "Part two", "The aftermath", BODY2) == [BODY, "Part two", "The aftermath", BODY2]


def test_header_block_at_top_survives() -> None:
    lines = ["PM issues warning to leaders", "By Jane Smith, political reporter", "13 May 2025", BODY, BODY2]
    assert _clean(*lines) == lines


def test_list_items_are_content() -> None:
    lines = [BODY, "• Taxes up", "• Spending down", "• Borrowing flat", BODY2]
    assert _clean(*lines) == lines


def test_text_without_real_paragraphs_is_left_alone() -> None:
    lines = ["Just a few words", "No punctuation here", "Or here"]
    assert _clean(*lines) == lines


def test_hard_wrapped_paragraphs_are_joined() -> None:
    wrapped = (
        "The minister said the plan would be published next week, after\n"
        "months of delay and a well-\n"
        "publicised row with the treasury over\n"
        "how it would be paid for.\n\n"
        "Critics said the timetable was unrealistic."
    )
    assert _paragraphs(clean_article_text(wrapped)) == [
        "The minister said the plan would be published next week, after months of delay and a "
        "well-publicised row with the treasury over how it would be paid for.",
        "Critics said the timetable was unrealistic.",
    ]


def test_headline_list_is_not_mistaken_for_wrapped_text() -> None:
    lines = [BODY, BODY2, "Storm hits coast", "Prices rise again", "Minister quits"]
    assert _clean(*lines) == [BODY, BODY2]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("Storm Bram brings 90mph winds and rain", True),
        ("What's the issue with the ECHR?", False),
        ("He left.", False),
        ('"We will act."', False),
        ("He said:", False),
        (" ".join(["word"] * 26), False),
        ("", False),
    ],
)
def test_is_headline_like(line: str, expected: bool) -> None:
    assert is_headline_like(line) is expected


def test_empty_input() -> None:
    assert clean_article_text("  \n\n \u200b ") == CleanedText(text="")
