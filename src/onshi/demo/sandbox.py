"""The open OQS sandbox's population (サンドボックスの登場人物): one named person for every state a clinic meets.

One table, :data:`PEOPLE`, is the truth for three things: the intake files the sandbox imports
(:mod:`onshi.demo.sandbox_build`), the catalogue in ``docs/sandbox.md`` (:func:`catalogue_markdown`; a test
holds the two equal) and the answers the sandbox's tests expect from every interface.

Names, 保険者番号・記号・番号・枝番, card serials, My Numbers and the institution's code and token are literals
and stay the same from release to release (``tests/demo/test_sandbox.py`` pins them).  Birth dates, acquisition
and loss dates and card expiries are written as rules over the day the sandbox is built
(:func:`onshi.store.clock.japan_today`), so that "72 years old", "turns 75 in two weeks" or "card in its grace
period" is true on whatever day the sandbox runs; the catalogue states each rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from stdnum.jp import in_ as stdnum_in

from onshi.demo.seed import add_years
from onshi.verify.result import Validity

#: Bump when a person's answer changes meaning (the sandbox database is rebuilt when it differs).
#: 2: the transition years and the bad day (issue 20): an old 健康保険証, a smartphone credential, the national
#: list, a 資格確認限定型 and a 居宅同意取得型 institution, an outage list.
CATALOGUE_VERSION = 2

#: The sandbox's own institution (医療機関コード 13 1 000901, check digit computed) and its fixed token.
INSTITUTION_NAME = "サンドボックス診療所"
INSTITUTION_BODY = "131000901"
INSTITUTION_TOKEN = "onshi-sandbox-token-not-a-secret"

KYOKAI, KUMIAI = "01130012", "06139992"  # the demo's insurers (valid check digits)
EMPLOYERS = [
    # insurer, 記号, name, postal code, address
    (KYOKAI, "7010", "サンドボックス商事株式会社", "100-0013", "東京都千代田区霞が関1-2-2"),
    (KUMIAI, "9010", "オンシ精機株式会社 サンドボックス事業所", "105-0001", "東京都港区虎ノ門1-1-1"),
]
ADDRESS = ("100-0013", "東京都千代田区霞が関9-9-9")

#: The sandbox's institutions of the other kinds (docs/rules.md, "Kinds of institution"): code body, name, kind,
#: fixed token.  Registered with the demo's builder (:func:`onshi.demo.transition.ensure_kind_institutions`).
KIND_INSTITUTIONS = (
    ("131000902", "サンドボックス接骨院（資格確認限定型）", "limited", "onshi-sandbox-limited-token-not-a-secret"),
    ("131000903", "サンドボックス訪問クリニック（居宅同意取得型）", "home_visit",
     "onshi-sandbox-home-visit-token-not-a-secret"),
)


def institution_code(body: str = INSTITUTION_BODY) -> str:
    """The 医療機関コード of the sandbox's institution (or of another *body* of nine digits)."""
    from onshi.numbers import institution_code as ic

    return body + ic.calc_check_digit(body)


def kind_institutions() -> dict[str, tuple[str, str, str]]:
    """``{kind: (code, name, token)}`` of the 資格確認限定型 and 居宅同意取得型 institutions."""
    return {kind: (institution_code(body), name, token) for body, name, kind, token in KIND_INSTITUTIONS}


def my_number(serial: int) -> str:
    """A fixed, valid 個人番号 for person *serial* (never a real one: 11 digits starting 99900, check digit)."""
    body = f"99900{serial:06d}"
    return body + stdnum_in.calc_check_digit(body)


# ---------------------------------------------------------------- date rules (relative to the build day)

@dataclass(frozen=True)
class Born:
    """A birth date: *years* before the build day on a fixed month and day, or exactly *years* (and *days*)
    before the build day when the state depends on the exact age."""

    years: int
    month: int | None = None
    day: int | None = None
    days: int = 0  #: with no month: the birthday is *days* after (negative: before) the build day's anniversary

    def on(self, today: date) -> date:
        if self.month is not None:
            return date(today.year - self.years, self.month, self.day or 1)
        return add_years(today + timedelta(days=self.days), -self.years)

    def text(self) -> str:
        if self.month is not None:
            return f"{self.month:02d}-{self.day or 1:02d}, {self.years} years before this year"
        if self.days > 0:
            return f"turns {self.years} in {self.days} days"
        if self.days < 0:
            return f"{self.years} years and {-self.days} days old"
        return f"{self.years} today"


def month_start(today: date, months: int = 0) -> date:
    """First day of the month *months* after the build day's month."""
    m = today.month - 1 + months
    return date(today.year + m // 12, m % 12 + 1, 1)


def month_end(today: date, months: int = 0) -> date:
    """Last day of the month *months* after the build day's month."""
    return month_start(today, months + 1) - timedelta(days=1)


# ---------------------------------------------------------------- the table

#: 資格有効性 labels (OQSCD006), as the catalogue prints them
VALIDITY_LABELS = {Validity.VALID: "有効", Validity.INVALID: "無効", Validity.INVALID_NEWER_EXISTS: "無効（新しい資格あり）",
                   Validity.NOT_FOUND: "該当資格なし", Validity.MULTIPLE: "複数該当"}


@dataclass(frozen=True)
class SandboxPerson:
    key: str
    state: str  #: the state this person shows (Japanese, as a clinic says it)
    name: str
    kana: str
    sex: int
    born: Born
    insurer: str
    symbol: str
    number: str
    branch: str = "00"
    serial: int = 0  #: makes the My Number; 0 = none
    member: str | None = None  #: key of the insured person, for a dependent (家族)
    remuneration: int = 300_000
    card: str | None = None  #: マイナ保険証 certificate serial
    card_expiry_months: int = 48  #: the certificate expires at the end of the month this many months away
    phone: str | None = None  #: スマホ用電子証明書 serial (a second credential beside the card)
    acquired: date | None = None  #: a fixed acquisition date (for a state dated in the past: the old card)
    asked_on: date | None = None  #: a fixed day of care for the catalogue's example request (default: the day)
    national_list: str | None = None  #: 交付事由 on this month's 職権交付対象者リスト
    event: str | None = None  #: loss | moved | limit | unpublished | not_filed | linkage | pin_locked
    same_person_as: str | None = None  #: a second qualification of the same person (a job change)
    limit_consent: bool = True  #: the consent flag of the catalogue's example request
    ask_branch: bool = True  #: does the catalogue's example request give the 枝番?
    numbers_answer: Validity = Validity.VALID
    card_answer: str | None = None  #: what a card verification answers (a validity code or an error)
    detail: str = ""  #: what else the answer shows

    @property
    def is_dependent(self) -> bool:
        return self.member is not None


PEOPLE: tuple[SandboxPerson, ...] = (
    SandboxPerson("valid", "有効", "有効　太郎", "ユウコウ　タロウ", 1, Born(45, 4, 1), KYOKAI, "7010", "1",
                  serial=1, remuneration=410_000, card="SBX-CARD-0001", card_answer="1 有効",
                  detail="本人, 一部負担金 030"),
    SandboxPerson("dependent", "家族（被扶養者）", "有効　花子", "ユウコウ　ハナコ", 2, Born(43, 9, 15), KYOKAI, "7010",
                  "1", "01", serial=2, member="valid", detail="家族, InsuredName 有効　太郎, 一部負担金 030"),
    SandboxPerson("preschool", "未就学", "有効　小太郎", "ユウコウ　コタロウ", 1, Born(3, days=-40), KYOKAI, "7010",
                  "1", "02", serial=3, member="valid", detail="家族, PreschoolClassification 1, 一部負担金 020"),
    SandboxPerson("lost", "無効", "喪失　次郎", "ソウシツ　ジロウ", 1, Born(52, 6, 10), KYOKAI, "7010", "2", serial=4,
                  event="loss", numbers_answer=Validity.INVALID,
                  detail="資格喪失日 = the 1st of the build month, ReasonOfLoss 99"),
    SandboxPerson("moved", "無効（新しい資格あり）", "転職　三郎", "テンショク　サブロウ", 1, Born(38, 11, 3), KUMIAI,
                  "9010", "3", serial=5, event="moved", numbers_answer=Validity.INVALID_NEWER_EXISTS,
                  card="SBX-CARD-0005", card_answer="1 有効 (the new qualification)",
                  detail="the old 健保組合 qualification; its loss was never filed"),
    SandboxPerson("moved_new", "有効（転職後の資格）", "転職　三郎", "テンショク　サブロウ", 1, Born(38, 11, 3), KYOKAI,
                  "7010", "3", serial=5, same_person_as="moved",
                  detail="協会けんぽ from the 1st of the build month"),
    SandboxPerson("not_found", "資格情報なし（該当資格なし）", "無登　四郎", "ムトウ　シロウ", 1, Born(60, 2, 20), KYOKAI,
                  "7010", "4", event="not_filed", numbers_answer=Validity.NOT_FOUND,
                  detail="never filed: no qualification has these numbers"),
    SandboxPerson("twins_parent", "有効（双子の親）", "双葉　健", "フタバ　ケン", 1, Born(40, 7, 7), KUMIAI, "9010",
                  "5", serial=6),
    SandboxPerson("twin_1", "複数該当（枝番なし）", "双葉　一花", "フタバ　イチカ", 2, Born(10, 6, 6), KUMIAI, "9010",
                  "5", "01", serial=7, member="twins_parent", ask_branch=False, numbers_answer=Validity.MULTIPLE,
                  detail="asked without 枝番: twins share numbers and birth date; with 枝番 01 → 1 有効"),
    SandboxPerson("twin_2", "複数該当（枝番なし）", "双葉　二葉", "フタバ　フタバ", 2, Born(10, 6, 6), KUMIAI, "9010",
                  "5", "02", serial=8, member="twins_parent", ask_branch=False, numbers_answer=Validity.MULTIPLE,
                  detail="asked without 枝番; with 枝番 02 → 1 有効"),
    SandboxPerson("unpublished", "未登録（届出済・未反映）", "未反　五郎", "ミハン　ゴロウ", 1, Born(29, 5, 5), KYOKAI,
                  "7010", "6", serial=9, event="unpublished", numbers_answer=Validity.NOT_FOUND,
                  detail="filed with the insurer but not published to the index: 4 until `onshi exchange publish`"),
    SandboxPerson("elderly_2", "70–74歳 2割", "古希　梅子", "コキ　ウメコ", 2, Born(72, days=-100), KYOKAI, "7010",
                  "7", serial=10, remuneration=200_000,
                  detail="ElderlyRecipientCertificateInfo, 一部負担金 020"),
    SandboxPerson("elderly_3", "70–74歳 3割（現役並み）", "古希　松男", "コキ　マツオ", 1, Born(72, days=-200), KYOKAI,
                  "7010", "8", serial=11, remuneration=410_000,
                  detail="ElderlyRecipientCertificateInfo, 一部負担金 030"),
    SandboxPerson("turning_75", "まもなく75歳", "長寿　七郎", "チョウジュ　シチロウ", 1, Born(75, days=14), KUMIAI,
                  "9010", "7", serial=12, remuneration=260_000,
                  detail="有効 today; asked with the 75th birthday (14 days ahead) as the date of care: "
                         "2 無効 (後期高齢者医療 from that day)"),
    SandboxPerson("limit_consent", "限度額（同意あり）", "限度　八郎", "ゲンド　ハチロウ", 1, Born(50, 8, 8), KYOKAI,
                  "7010", "9", serial=13, remuneration=830_000, event="limit",
                  detail="LimitApplicationCertificateRelatedInfo (区分 A01 ア) with consent flag 1"),
    SandboxPerson("limit_no_consent", "限度額（同意なし）", "限度　九美", "ゲンド　クミ", 2, Born(48, 3, 9), KYOKAI,
                  "7010", "10", serial=14, remuneration=830_000, event="limit", limit_consent=False,
                  detail="has 限度額, asked with consent flag 0: no 限度額 information in the answer"),
    SandboxPerson("card_grace", "マイナ保険証 猶予期間", "猶予　十蔵", "ユウヨ　ジュウゾウ", 1, Born(66, 10, 10),
                  KUMIAI, "9010", "8", serial=15, card="SBX-CARD-0015", card_expiry_months=-1,
                  card_answer="1 有効 + warning (certificate expired at the end of last month; usable 3 more months)"),
    SandboxPerson("card_expired", "マイナ保険証 失効", "失効　一美", "シッコウ　カズミ", 2, Born(58, 12, 1), KUMIAI,
                  "9010", "9", serial=16, card="SBX-CARD-0016", card_expiry_months=-4,
                  card_answer="E0201 (certificate expired more than 3 months ago)"),
    SandboxPerson("linkage", "紐付け確認中", "照合　待子", "ショウゴウ　マチコ", 2, Born(35, 1, 25), KUMIAI, "9010",
                  "10", serial=17, event="linkage", numbers_answer=Validity.NOT_FOUND,
                  detail="the resident registry disagrees (name): blocked, 4 + warning 保険者で登録内容を確認中"),
    SandboxPerson("pin_locked", "暗証番号ロック", "暗証　固男", "アンショウ　カタオ", 1, Born(44, 8, 31), KYOKAI, "7010",
                  "11", serial=18, card="SBX-CARD-0018", event="pin_locked",
                  card_answer="REST 423 with pin_failures 3; 1 有効 by face or 目視"),
    SandboxPerson("old_card", "旧健康保険証（失効の前後）", "旧証　保子", "キュウショウ　ヤスコ", 2, Born(55, 5, 15),
                  KYOKAI, "7010", "12", serial=19, acquired=date(2020, 4, 1), asked_on=date(2025, 12, 2),
                  detail="asked with 2025-12-02 as the date of care (old cards of employee insurance lapsed after "
                         "2025-12-01): provisional_billing, bill at the normal ratio until 2026-03-31; asked with "
                         "2025-12-01: no provisional billing (the old card still worked)"),
    SandboxPerson("phone", "マイナ保険証（カード＋スマホ）", "携帯　持子", "ケイタイ　モチコ", 2, Born(33, 6, 30),
                  KUMIAI, "9010", "11", serial=20, card="SBX-CARD-0020", phone="SBX-PHONE-0020",
                  card_answer="1 有効 by either credential; the usage log's method says card or smartphone"),
    SandboxPerson("national_list", "職権交付対象者（国のリスト）", "職権　一郎", "ショッケン　イチロウ", 1, Born(68, 2, 2),
                  KUMIAI, "9010", "12", serial=21, card="SBX-CARD-0021", card_expiry_months=-4, national_list="02",
                  card_answer="E0201 (certificate expired more than 3 months ago)",
                  detail="on this month's 職権交付対象者リスト (交付事由 02): the documents' daily run issues him a "
                         "資格確認書 ex officio"),
)

BY_KEY = {p.key: p for p in PEOPLE}


def acquisition_date(person: SandboxPerson, today: date) -> date:
    """When the qualification began: 1 April five years before the build year, the 1st of the build month for a
    job change's new qualification, and the birth date for a child born since."""
    if person.acquired is not None:
        return person.acquired
    if person.same_person_as:
        return month_start(today)
    start = date(today.year - 5, 4, 1)
    return max(start, person.born.on(today))


def loss_date(today: date) -> date:
    return month_start(today)


def card_expiry(person: SandboxPerson, today: date) -> date:
    return month_end(today, person.card_expiry_months)


def rest_request(person: SandboxPerson, today: date) -> dict:
    """The body of ``POST /api/v1/verifications/numbers`` that shows this person's state."""
    body = {"insurer_number": person.insurer, "symbol": person.symbol, "number": person.number,
            "birth_date": person.born.on(today).isoformat(), "care_date": (person.asked_on or today).isoformat(),
            "limit_consent": person.limit_consent}
    if person.ask_branch:
        body["branch"] = person.branch
    return body


# ---------------------------------------------------------------- the outage list

@dataclass(frozen=True)
class OutageRow:
    """A row of the sandbox's outage list (docs/outage.md): who (a person's key, or None for nobody registered),
    how the reception typed them, and the answer the check gives."""

    key: str
    person: str | None
    typed: str  #: what the row shows, as the catalogue says it
    answer: str  #: 有効 | 無効 | 要確認
    over: tuple[tuple[str, str], ...] = ()  #: fields typed differently from the registered ones


OUTAGE_LIST: tuple[OutageRow, ...] = (
    OutageRow("sbx-outage-1", "valid", "the four items (kana in half-width)", "有効",
              (("name_kana", "ﾕｳｺｳ ﾀﾛｳ"),)),
    OutageRow("sbx-outage-2", "limit_consent", "the card's numbers, no address known", "有効",
              (("address", "（保険証の番号で受付）"), ("numbers", "1"))),
    OutageRow("sbx-outage-3", "twins_parent", "the four items, another address", "要確認",
              (("address", "北海道札幌市中央区北1条西2丁目"),)),
    OutageRow("sbx-outage-4", "lost", "the four items; the qualification was lost on the 1st of this month", "無効"),
    OutageRow("sbx-outage-5", None, "a patient nobody registered", "要確認"),
)


def outage_records(today: date) -> list[dict]:
    """The outage list's records (the day of care: the build day), as :mod:`onshi.demo.outage` types them."""
    from onshi.demo.outage import NOBODY, typed_record

    out = []
    for row in OUTAGE_LIST:
        if row.person is None:
            out.append({"record_key": row.key, "care_date": today.isoformat(), **NOBODY})
            continue
        p = BY_KEY[row.person]
        who = type("Registered", (), {"name": p.name, "name_kana": p.kana, "sex": p.sex,
                                      "birth_date": p.born.on(today), "address": ADDRESS[1]})
        over = dict(row.over)
        if over.pop("numbers", None):
            over.update(insurer_number=p.insurer, symbol=p.symbol, number=p.number, branch=p.branch)
        out.append(typed_record(who, today, row.key, **over))
    return out


def outage_csv(today: date) -> bytes:
    """The outage list as a file (UTF-8, the layout of docs/outage.md) for the page, REST or ``OQS/outage/``."""
    import csv
    import io

    cols = ["record_key", "care_date", "name", "name_kana", "sex", "birth_date", "address", "insurer_number",
            "symbol", "number", "branch"]
    out = io.StringIO()
    w = csv.DictWriter(out, cols, lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    for r in outage_records(today):
        w.writerow({c: r.get(c, "") for c in cols})
    return out.getvalue().encode("utf-8")


# ---------------------------------------------------------------- the catalogue

CATALOGUE_BEGIN = "<!-- catalogue: generated by `onshi sandbox --catalogue` from onshi.demo.sandbox.PEOPLE -->"
CATALOGUE_END = "<!-- end of catalogue -->"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def catalogue_markdown() -> str:
    """The catalogue of ``docs/sandbox.md``: who, which numbers or card, what each interface answers."""
    lines = [CATALOGUE_BEGIN, "",
             f"Institution {institution_code()} ({INSTITUTION_NAME}), token `{INSTITUTION_TOKEN}`. "
             f"Catalogue version {CATALOGUE_VERSION}.", "",
             "| state | name (カナ) | 保険者番号 記号・番号 枝番 | birth date | asked with | numbers answer "
             "(REST, OQS XML/JSON, FHIR, terminal `req/`, myclinic) | マイナ保険証 (card serial → answer) | "
             "also shown |",
             "|---|---|---|---|---|---|---|---|"]
    for p in PEOPLE:
        asked = ("枝番" if p.ask_branch else "no 枝番") + f", 限度額同意 {int(p.limit_consent)}"
        if p.asked_on:
            asked += f", date of care {p.asked_on.isoformat()}"
        card = f"`{p.card}` → {p.card_answer}" if p.card else "—"
        if p.phone:
            card = f"`{p.card}` (card) or `{p.phone}` (smartphone) → {p.card_answer}"
        lines.append(f"| {p.state} | {p.name} ({p.kana}) | {p.insurer} {p.symbol}・{p.number} {p.branch} | "
                     f"{p.born.text()} | {asked} | {int(p.numbers_answer)} {VALIDITY_LABELS[p.numbers_answer]} | "
                     f"{_cell(card)} | {_cell(p.detail)} |")
    lines += ["", "Institutions of the other kinds (docs/rules.md, \"Kinds of institution\"):", "",
              "| kind | 医療機関コード | name | token | what it may do |", "|---|---|---|---|---|"]
    may = {"limited": "資格確認限定型 (柔道整復・あはき): what a card shows only — a 限度額 flag or a consent is refused "
                      "(REST 403, OQS E0403)",
           "home_visit": "居宅同意取得型: after a card check of a patient, re-query by numbers without the card "
                         "(`POST /api/v1/verifications/requery`) up to the end of the 3rd month after it"}
    for kind, (code, name, token) in kind_institutions().items():
        lines.append(f"| {kind} | {code} | {name} | `{token}` | {may[kind]} |")
    lines += ["", "The outage list (`outage-example.csv` in the sandbox folder; the day of care is the build day), "
              f"recorded and checked for {institution_code()} when the sandbox is built:", "",
              "| 記録ID | patient | typed | answer |", "|---|---|---|---|"]
    for row in OUTAGE_LIST:
        who = BY_KEY[row.person].name if row.person else "障害　花子 (nobody)"
        lines.append(f"| {row.key} | {who} | {row.typed} | {row.answer} |")
    lines += ["", CATALOGUE_END]
    return "\n".join(lines) + "\n"
