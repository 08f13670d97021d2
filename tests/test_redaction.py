"""Specification of the free-text redaction (orchestration/lib/partner_extracts/redaction.py).

Positive cases: every kind in several formats, English and Welsh. Negative cases: the operational
identifiers, dates, numbers and ordinary sentences that must come through unchanged. Then mixed text,
None / empty input, idempotence and the data-quality helper find_personal_data.
"""

from __future__ import annotations

import pytest

from orchestration.lib.partner_extracts.redaction import KINDS, Redacted, find_personal_data, redact

TOKENS = {
    "email": "[email]",
    "phone": "[phone]",
    "postcode": "[postcode]",
    "ni_number": "[NI number]",
    "vehicle_reg": "[vehicle reg]",
    "name": "[name]",
    "address": "[address]",
}


def test_kinds_are_all_the_kinds_in_the_order_applied():
    assert KINDS == ("email", "ni_number", "vehicle_reg", "postcode", "phone", "address", "name")
    assert set(KINDS) == set(TOKENS)


# --- positive cases: (kind, item) embedded in a sentence; the item alone must become the token -------

POSITIVE = [
    # email
    ("email", "john.smith@example.com"),
    ("email", "j.smith@police.gwent.pnn.police.uk"),
    ("email", "community.safety+tension@newport.gov.uk"),
    ("email", "JOHN.SMITH@EXAMPLE.ORG"),
    ("email", "siân.jones@cyngor.cymru"),
    ("email", "a_b-c99@mail.co.uk"),
    # phone
    ("phone", "07700 900123"),
    ("phone", "07700900123"),
    ("phone", "07700 900 123"),
    ("phone", "07700-900-123"),
    ("phone", "07700.900.123"),
    ("phone", "+44 7700 900123"),
    ("phone", "+447700900123"),
    ("phone", "0044 7700 900123"),
    ("phone", "+44 (0)1633 123456"),
    ("phone", "01633 123456"),
    ("phone", "01633123456"),
    ("phone", "(01633) 123 456"),
    ("phone", "029 2087 1234"),
    ("phone", "(029) 2087 1234"),
    ("phone", "0800 123 4567"),
    ("phone", "0800 123 456"),
    ("phone", "01970 62 3456"),
    # postcode
    ("postcode", "NP20 1AB"),
    ("postcode", "np20 1ab"),
    ("postcode", "np201ab"),
    ("postcode", "NP201AB"),
    ("postcode", "CF10 3NQ"),
    ("postcode", "SA1 1AA"),
    ("postcode", "LL57 2DG"),
    ("postcode", "SY23 3DB"),
    ("postcode", "EC1A 1BB"),
    ("postcode", "W1A 0AX"),
    # National Insurance number
    ("ni_number", "AB 12 34 56 C"),
    ("ni_number", "AB123456C"),
    ("ni_number", "ab123456c"),
    ("ni_number", "JG 103759 A"),
    ("ni_number", "ZX-12-34-56-D"),
    ("ni_number", "QQ 12 34 56 C"),  # HMRC's example prefix: redacted all the same
    # vehicle registration
    ("vehicle_reg", "AB12 CDE"),
    ("vehicle_reg", "AB12CDE"),
    ("vehicle_reg", "ab12 cde"),
    ("vehicle_reg", "CY71 XYZ"),
    ("vehicle_reg", "A123 BCD"),
    ("vehicle_reg", "P7 GWN"),
    ("vehicle_reg", "ABC 123D"),
    ("vehicle_reg", "TDW 45K"),
    # street address
    ("address", "12 High Street"),
    ("address", "27 Commercial Road"),
    ("address", "Flat 3, 27 Commercial Road"),
    ("address", "4a Heol y Bont"),
    ("address", "15 Ffordd Las"),
    ("address", "7 Heol yr Eglwys"),
    ("address", "9 Stryd Fawr"),
    ("address", "2 Lôn Glasfryn"),
    ("address", "8 Cilgant y Parc"),
    ("address", "5 Teras Ffynnon"),
    ("address", "1 Rhodfa’r Môr"),
    ("address", "12-14 Stow Hill"),
    ("address", "3 St Mary's Road"),
    ("address", "33 Heol Pen-y-Bont"),
    ("address", "101 Maindee Parade"),
    ("address", "6 Clarence Place"),
    ("address", "45 Chepstow Rd"),
]


@pytest.mark.parametrize("kind,item", POSITIVE, ids=[f"{k}:{i}" for k, i in POSITIVE])
def test_each_kind_is_replaced_by_its_token(kind, item):
    text = f"Reported by the resident: {item} (see log)."
    result = redact(text)
    assert result == Redacted(f"Reported by the resident: {TOKENS[kind]} (see log).", 1, (kind,))
    assert find_personal_data(text) == [(kind, item)]


@pytest.mark.parametrize("kind,item", POSITIVE, ids=[f"{k}:{i}" for k, i in POSITIVE])
def test_each_item_alone_is_replaced(kind, item):
    assert redact(item) == Redacted(TOKENS[kind], 1, (kind,))


# Names after a title: the title (and its dot) stays, the name goes, the words after it stay.
NAMES = [
    ("Mr John Smith said", "Mr [name] said", "John Smith"),
    ("Dr. Aled Ŵyn-Jones", "Dr. [name]", "Aled Ŵyn-Jones"),
    ("Mrs Smith-Jones was there", "Mrs [name] was there", "Smith-Jones"),
    ("Ms J. Evans attended", "Ms [name] attended", "J. Evans"),
    ("Miss A. B. Price", "Miss [name]", "A. B. Price"),
    ("Mx Taylor phoned", "Mx [name] phoned", "Taylor"),
    ("Cllr Siân ap Gwilym raised it", "Cllr [name] raised it", "Siân ap Gwilym"),
    ("Councillor Dafydd ab Owain", "Councillor [name]", "Dafydd ab Owain"),
    ("Y Cynghorydd Gwenllian ferch Rhys", "Y Cynghorydd [name]", "Gwenllian ferch Rhys"),
    ("PC Rhodri Jones attended", "PC [name] attended", "Rhodri Jones"),
    ("PCSO Evans and DS O’Brien", "PCSO [name] and DS [name]", None),
    ("DC McDonald and DI MacLeod", "DC [name] and DI [name]", None),
    ("Sgt. Lewis, Sergeant Ifan Hughes", "Sgt. [name], Sergeant [name]", None),
    ("Insp Davies and Inspector Morgan", "Insp [name] and Inspector [name]", None),
    ("Prof Ceri Williams", "Prof [name]", "Ceri Williams"),
    ("Rev. Huw Morgan and Revd Alun Parry", "Rev. [name] and Revd [name]", None),
    ("Sir Tom Jones and Dame Shirley Bassey", "Sir [name] and Dame [name]", None),
    ("Lord Elis-Thomas and Lady Anne", "Lord [name] and Lady [name]", None),
    ("Father Dominic and Fr. O'Neill", "Father [name] and Fr. [name]", None),
    ("Imam Ali Khan, Rabbi Cohen and Pastor Ade", "Imam [name], Rabbi [name] and Pastor [name]", None),
    ("Mr Smith's car", "Mr [name]'s car", "Smith"),
    ("Mrs Ôwen o Gaerdydd", "Mrs [name] o Gaerdydd", "Ôwen"),
    ("MR JONES", "MR [name]", "JONES"),
    ("spoke to mr. Price today", "spoke to mr. [name] today", "Price"),
    ("Mr and Mrs Patel", "Mr and Mrs [name]", "Patel"),
]


@pytest.mark.parametrize("text,expected,name", NAMES, ids=[t for t, _, _ in NAMES])
def test_names_after_a_title_keep_the_title(text, expected, name):
    result = redact(text)
    assert result.text == expected
    assert result.kinds == ("name",)
    assert result.items == expected.count("[name]")
    if name is not None:
        assert find_personal_data(text) == [("name", name)]


# --- negative cases: must come through unchanged ----------------------------------------------------

NEGATIVE = [
    # dates and times
    "2024-05-01",
    "01/05/2024",
    "01.05.2024",
    "01-05-2024 10:00",
    "2024-05-01T14:30:00Z",
    "2024-05-01T14:30:00+01:00",
    "between 07:30 and 08:30",
    "0730-0830",
    "on 1 May 2024 at 10.15",
    # geography codes and operational identifiers
    "LSOA W01001524",
    "ward W05001039",
    "local authority W06000022",
    "LSOA E01000001 and W01001524",
    "Newport 012A",
    "RCT 012A",
    "INC-2024-000123",
    "GP/24/001234",
    "ref 2024/000123456",
    "CIA-NPT-2024-07",
    # money, counts, levels
    "£1,250",
    "£1,250.50 spent",
    "£12,500,000 grant",
    "1,250,000 people",
    "12 incidents",
    "12 incidents in the high street",
    "10 000 people",
    "0.75 of the wards",
    "Level 2",
    "grade 3",
    "EEP 4 of 6",
    "3 of 5 wards",
    "In 2023 Cardiff Road was closed",
    # places, roads and other codes that look like items
    "NP20",
    "residents in NP20 and NP19",
    "CF10",
    "the A470 and the A4042",
    "A48 AND A470",
    "M4 J28",
    "on the A4 2nd time",
    "FY24 the total",
    "PM10 levels",
    "Q1 2024",
    "COVID-19",
    "PC 1234 attended",
    "the Lord Mayor of Cardiff",
    "Cyngor Sir Gâr",
    "Cyngor Sir Ddinbych",
    "Sir Benfro a Sir Fynwy",
    "test@localhost",
    # ordinary English and Welsh sentences
    "Tensions rose after the Eisteddfod in Caerllion",
    "Tensions rose after the Eisteddfod in Caerllion.",
    "Leaflets were posted on the High Street in Newport.",
    "Roedd tensiynau’n uchel ar ôl y gêm yng Nghaerdydd.",
    "Mae’r Cyngor yn gweithio gyda Heddlu Gwent ym Mlaenau Gwent.",
    "Mae’r sefyllfa’n dawel; dim digwyddiadau newydd yn Wrecsam na Chaerffili.",
    "Community groups met at the Welsh Government offices; Gwent Police attended.",
    "A meeting of the Community Cohesion Team in Pontypridd.",
    "Graffiti in St Woolos ward, Pillgwenlly and Maindee.",
    "Ŵyn, ŷd, âr, êl, îr, ôl, ûn",
]


@pytest.mark.parametrize("text", NEGATIVE)
def test_no_personal_data_is_left_unchanged(text):
    assert redact(text) == Redacted(text, 0, ())
    assert find_personal_data(text) == []


# --- mixed text --------------------------------------------------------------------------------------

MIXED = [
    (
        "Contact Mrs. Mary O’Connor-Price on 01633 656656 or at 27 Commercial Road, Newport NP20 1AB.",
        "Contact Mrs. [name] on [phone] or at [address], Newport [postcode].",
        4,
        ("address", "name", "phone", "postcode"),
    ),
    (
        "Car AB12 CDE seen outside 4a Heol y Bont, Caerllion NP18 1AA; owner Mr Dafydd ab Owain "
        "(NI AB 12 34 56 C), email dafydd.owain@example.cymru, mobile +44 7700 900123. "
        "LSOA W01001524, ref INC-2024-000123, logged 2024-05-01.",
        "Car [vehicle reg] seen outside [address], Caerllion [postcode]; owner Mr [name] "
        "(NI [NI number]), email [email], mobile [phone]. "
        "LSOA W01001524, ref INC-2024-000123, logged 2024-05-01.",
        7,
        ("address", "email", "name", "ni_number", "phone", "postcode", "vehicle_reg"),
    ),
    (
        "Ffoniwch 029 2087 1234 neu e-bostiwch swyddfa@cyngor.cymru. Siaradodd y Cynghorydd Siân ap "
        "Gwilym yn 15 Ffordd Las.",
        "Ffoniwch [phone] neu e-bostiwch [email]. Siaradodd y Cynghorydd [name] yn [address].",
        4,
        ("address", "email", "name", "phone"),
    ),
    (
        "Two calls: 07700 900123 07700 900456, and called 07700900123 3 times on 01/05/2024.",
        "Two calls: [phone] [phone], and called [phone] 3 times on 01/05/2024.",
        3,
        ("phone",),
    ),
]


@pytest.mark.parametrize("text,expected,items,kinds", MIXED)
def test_mixed_text(text, expected, items, kinds):
    result = redact(text)
    assert result.text == expected
    assert result.items == items
    assert result.kinds == kinds
    found = find_personal_data(text)
    assert len(found) == items
    assert sorted({kind for kind, _ in found}) == list(kinds)


def test_find_personal_data_lists_items_in_text_order():
    text = "Mr Jones (jones@example.com) of 12 High Street, NP20 1AB, 07700 900123."
    assert find_personal_data(text) == [
        ("name", "Jones"),
        ("email", "jones@example.com"),
        ("address", "12 High Street"),
        ("postcode", "NP20 1AB"),
        ("phone", "07700 900123"),
    ]


def test_an_item_is_counted_once():
    # The e-mail's local part looks like a phone number and a name; it is one e-mail.
    text = "Mr.07700900123@example.com"
    assert find_personal_data(text) == [("email", text)]
    assert redact(text) == Redacted("[email]", 1, ("email",))


# --- None, empty, white space ------------------------------------------------------------------------


def test_none_gives_none():
    assert redact(None) == Redacted(None, 0, ())
    assert find_personal_data(None) == []


@pytest.mark.parametrize("text", ["", " ", "\n", "  \t  "])
def test_empty_and_blank_text_is_unchanged(text):
    assert redact(text) == Redacted(text, 0, ())
    assert find_personal_data(text) == []


def test_white_space_and_line_breaks_are_preserved():
    text = "  Line one: 07700 900123\r\n\tLine two: Mr Jones  \n"
    assert redact(text).text == "  Line one: [phone]\r\n\tLine two: Mr [name]  \n"


def test_items_do_not_span_line_breaks():
    assert redact("Mr\nJones").text == "Mr\nJones"
    assert redact("NP20\n1AB").text == "NP20\n1AB"


# --- idempotence and the data-quality check ----------------------------------------------------------

ALL_TEXTS = [item for _, item in POSITIVE] + [t for t, _, _ in NAMES] + NEGATIVE + [t for t, *_ in MIXED]


@pytest.mark.parametrize("text", ALL_TEXTS)
def test_redaction_is_idempotent(text):
    once = redact(text)
    twice = redact(once.text)
    assert twice.items == 0
    assert twice.kinds == ()
    assert twice.text == once.text


@pytest.mark.parametrize("text", ALL_TEXTS)
def test_nothing_is_found_in_redacted_text(text):
    assert find_personal_data(redact(text).text) == []


def test_tokens_themselves_are_not_personal_data():
    text = " ".join(TOKENS.values())
    assert redact(text) == Redacted(text, 0, ())
    assert find_personal_data("Mr [name] of [address], [postcode]") == []


def test_redacted_is_immutable():
    result = redact("07700 900123")
    with pytest.raises(AttributeError):
        result.items = 0  # type: ignore[misc]
