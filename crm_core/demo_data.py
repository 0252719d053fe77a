"""Demo data at any size: a believable CRM, the same rows for the same seed and day.

Customers (people and companies, named in several scripts: Latin, Chinese, Japanese, Korean,
Cyrillic, Greek, Arabic, Devanagari), each with a primary contact, 1–3 phone numbers (E.164,
distinct per country, a few shared lines: a pick list at the pop) and an address; a catalogue
of a few hundred products with stock in two warehouses; two years of orders (about five per
customer; lines, totals in integer cents, a status history), service requests with their
steps, call notes with their call records, opportunities with development plans, and a few
churned customers (no order for 6+ months) with their warnings and measures. Codes (levels,
regions, categories, request types and deadlines, departments, dispositions, churn measures
and reasons) come from the database's data dictionary; people from its users by role.

Rows are made in chunks of ``DemoPlan.chunk`` customers (memory stays flat at any size) and
written with COPY on PostgreSQL (asyncpg ``copy_records_to_table``) or ``executemany`` on
SQLite, inside the caller's transaction (the caller commits). The phone numbers and the people
are also what ``bench/caller_lookup.py`` loads: one generator of who the customers are."""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import time
import unicodedata
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Date, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from crm_core.customers import name_key
from crm_core.errors import Conflict
from crm_core.models import Base
from crm_core.models.base import UtcDateTime

# --- phone numbers ---------------------------------------------------------------------------

PERMUTE_A, PERMUTE_B = 7_654_321, 1_234_567  # coprime with 10: a bijection on 0..10**d-1
SHARE_EVERY = 50  # every 50th customer's home line is the previous customer's first number


@dataclass(frozen=True)
class Country:
    """Numbers of one country: blocks of (prefix after the country code, digits after it)."""

    region: str
    code: str
    weight: int  # in a mix of callers
    blocks: tuple[tuple[str, int], ...]

    def number(self, index: int) -> tuple[str, str]:
        """The index-th number of this country (distinct indices give distinct numbers), as
        (E.164, as entered)."""
        prefix, digits = self.blocks[index % len(self.blocks)]
        k = index // len(self.blocks)
        if k >= 10**digits:
            raise ValueError(f"too many numbers for {self.region}")
        sub = str((k * PERMUTE_A + PERMUTE_B) % 10**digits).zfill(digits)
        return f"+{self.code}{prefix}{sub}", self.written(prefix + sub)

    def written(self, national: str) -> str:
        """As people write it down: North American numbers in the national form, the others
        international (the form a default region of US still reads right)."""
        if self.code == "1":
            return f"({national[:3]}) {national[3:6]}-{national[6:]}"
        return f"+{self.code} {national[:-8]} {national[-8:-4]} {national[-4:]}".replace("  ", " ")


def _blocks(prefixes: str, digits: int) -> tuple[tuple[str, int], ...]:
    return tuple((prefix, digits) for prefix in prefixes.split())


US = Country(
    "US",
    "1",
    30,
    tuple(
        (f"{a}{d}", 6)
        for a in (212, 213, 305, 312, 404, 415, 512, 617, 702, 713, 808, 917)
        for d in "23456789"
    ),
)
CA = Country("CA", "1", 5, tuple((f"{a}{d}", 6) for a in (416, 514, 604, 613, 403) for d in "2345"))
GB = Country("GB", "44", 10, _blocks("71 73 74 75 77 78 79", 8) + _blocks("203 207 208", 7))
DE = Country("DE", "49", 8, _blocks("151 152 157 176 30 89", 8))
FR = Country("FR", "33", 7, _blocks("60 61 62 64 65 66 67 68 77 78 14 47", 7))
ES = Country("ES", "34", 4, _blocks("6", 8) + _blocks("91", 7))
IN = Country("IN", "91", 8, _blocks("98 99 97", 8))
AU = Country("AU", "61", 4, _blocks("40 41 42 43 28 29 38 39", 7))
CN = Country("CN", "86", 14, _blocks("138 139 135 136 137 159 186 10", 8))
JP = Country("JP", "81", 3, _blocks("901 902 803 804 35 36 66", 7))
KR = Country("KR", "82", 2, _blocks("10", 8))
RU = Country("RU", "7", 4, _blocks("915 916 926 495", 7))
GR = Country("GR", "30", 1, _blocks("694 697", 7) + _blocks("21", 8))
EG = Country("EG", "20", 2, _blocks("10 11 12", 8))
AE = Country("AE", "971", 2, _blocks("50 55", 7))
MX = Country("MX", "52", 3, _blocks("55 81 33", 8))
COUNTRIES = (US, CA, GB, DE, FR, ES, IN, AU, CN, JP, KR, RU, GR, EG, AE, MX)
CUM_WEIGHTS = list(itertools.accumulate(c.weight for c in COUNTRIES))


class NumberPool:
    """Hands out each country's numbers in turn, so that no two rows get the same number by
    chance (a shared line is shared on purpose); ``used`` counts them per country."""

    def __init__(self, used: Counter[str] | None = None) -> None:
        self.used: Counter[str] = Counter() if used is None else used

    def take(self, country: Country) -> tuple[str, str]:
        index = self.used[country.region]
        self.used[country.region] = index + 1
        return country.number(index)


# --- who the customers are -------------------------------------------------------------------

Name = tuple[str, str]  # as written, and in Latin letters (for an e-mail address)


def _latin(word: str) -> str:
    folded = word.replace("ß", "ss").replace("ø", "o").replace("'", "").lower()
    return "".join(c for c in unicodedata.normalize("NFKD", folded) if c.isascii() and c.isalnum())


def _names(words: str) -> tuple[Name, ...]:
    """ "王:wang 李:li" or "Müller García" (then the Latin letters are the spelling folded);
    "_" stands for a space inside a name."""
    out = []
    for word in words.split():
        native, _, latin = word.partition(":")
        out.append((native.replace("_", " "), latin or _latin(native)))
    return tuple(out)


def _list(items: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in items.split("|"))


@dataclass(frozen=True)
class Culture:
    """How the customers of one language are named, where their numbers are, and how their
    companies are called (``{family}``, ``{word}``, ``{trade}``, ``{city}`` filled in)."""

    key: str
    weight: int
    given: tuple[tuple[Name, ...], tuple[Name, ...]]  # men's, women's
    family: tuple[tuple[Name, ...], tuple[Name, ...]]  # as men and as women bear it
    countries: tuple[tuple[Country, int], ...]
    companies: tuple[str, ...]
    words: tuple[str, ...]
    trades: tuple[str, ...]
    cities: tuple[str, ...]
    titles: tuple[str, ...]
    family_first: bool = False
    joiner: str = " "
    lang: str = "en"  # the language of its notes (en, zh, de, fr, es)

    def person(self, rng: random.Random) -> tuple[str, str]:
        """A name, and the e-mail local part made from it."""
        woman = rng.random() < 0.5
        given = rng.choice(self.given[woman])
        family = rng.choice(self.family[woman])
        first, second = (family, given) if self.family_first else (given, family)
        return f"{first[0]}{self.joiner}{second[0]}", f"{given[1]}.{family[1]}"

    def company(self, rng: random.Random) -> str:
        return rng.choice(self.companies).format(
            family=rng.choice(self.family[0])[0],
            word=rng.choice(self.words),
            trade=rng.choice(self.trades),
            city=rng.choice(self.cities),
        )

    def country(self, rng: random.Random) -> Country:
        countries, weights = zip(*self.countries, strict=True)
        return rng.choices(countries, weights=weights)[0]


def _culture(
    key: str,
    weight: int,
    countries: tuple[tuple[Country, int], ...],
    names: tuple[str, str, str],  # men's given names, women's, family names
    companies: tuple[str, str, str, str, str],  # forms, words, trades, cities, titles
    *,
    women_family: str = "",  # family names as women bear them, where they differ
    family_first: bool = False,
    joiner: str = " ",
    lang: str = "en",
) -> Culture:
    family = _names(names[2])
    forms, words, trades, cities, titles = (_list(part) for part in companies)
    return Culture(
        key,
        weight,
        (_names(names[0]), _names(names[1])),
        (family, _names(women_family) if women_family else family),
        countries,
        forms,
        words,
        trades,
        cities,
        titles,
        family_first,
        joiner,
        lang,
    )


_RUSSIAN = (
    "Иванов:ivanov Смирнов:smirnov Кузнецов:kuznetsov Попов:popov Соколов:sokolov "
    "Лебедев:lebedev Козлов:kozlov Новиков:novikov Морозов:morozov Петров:petrov"
)
CULTURES = (
    _culture(
        "en",
        30,
        ((US, 60), (GB, 20), (CA, 10), (AU, 10)),
        (
            "James Robert John Michael David William Richard Joseph Thomas Liam Noah Oliver "
            "Jack Harry Ethan Daniel Samuel",
            "Mary Patricia Jennifer Linda Elizabeth Barbara Susan Jessica Sarah Emma Olivia "
            "Chloe Grace Amelia Sophie Charlotte Emily",
            "Smith Johnson Williams Brown Jones Miller Davis Wilson Anderson Taylor Moore "
            "Martin Jackson Thompson White Harris Clark Lewis Robinson Walker Young Allen King "
            "Wright Scott Green Baker Adams O'Brien Murphy Kelly Walsh Campbell Stewart",
        ),
        (
            "{family} {trade}|{city} {word} {trade}|{family} & Sons",
            "Northern|Pacific|Summit|Bluewater|Granite|Evergreen|Pioneer",
            "Logistics|Holdings|Consulting|Engineering Ltd|Foods Inc.|Trading Co.|Dental Care|"
            "Motors|Studio",
            "Boston|Denver|Leeds|Toronto|Perth|Austin|Bristol",
            "Purchasing manager|Office manager|Director|IT manager|Owner",
        ),
    ),
    _culture(
        "de",
        8,
        ((DE, 100),),
        (
            "Lukas Jonas Leon Felix Paul Maximilian Jürgen Stefan Uwe Matthias Tobias",
            "Anna Lena Marie Sophie Hannah Laura Katrin Sabine Birgit Jana Ursula",
            "Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Schäfer "
            "Koch Bauer Richter Klein Wolf Schröder Neumann Schwarz Braun Krüger Groß Weiß Köhler",
        ),
        (
            "{family} {trade}|{word} {trade}|{family} & {word} KG",
            "Rhein|Alpen|Nordlicht|Hansa|Spree|Bavaria|Weser",
            "GmbH|Maschinenbau GmbH|Logistik AG|Bäckerei|Elektrotechnik GmbH",
            "Berlin|München|Köln|Hamburg|Leipzig",
            "Einkaufsleiterin|Geschäftsführer|IT-Leiter|Büroleiterin",
        ),
        lang="de",
    ),
    _culture(
        "fr",
        7,
        ((FR, 100),),
        (
            "Louis Hugo Gabriel Théo Mathéo Raphaël François Jérôme Benoît Étienne",
            "Chloé Léa Manon Camille Inès Zoé Hélène Amélie Cécile Élodie Margaux",
            "Martin Bernard Dubois Thomas Robert Richard Petit Durand Leroy Moreau Simon Laurent "
            "Lefèvre Michel David Bertrand Roux Fournier Girard Mercier Dupont",
        ),
        (
            "{family} {trade}|{word} {trade}|Maison {family}",
            "Atlantique|Provence|Lumière|Horizon|Étoile|Azur",
            "SARL|SAS|Transports|Boulangerie|Conseil|Informatique",
            "Paris|Lyon|Marseille|Nantes|Lille",
            "Responsable achats|Gérant|Directrice|Responsable informatique",
        ),
        lang="fr",
    ),
    _culture(
        "es",
        7,
        ((ES, 60), (MX, 40)),
        (
            "José Antonio Manuel Javier Alejandro Diego Ángel Raúl Sergio Pablo",
            "María Carmen Lucía Sofía Martina Valentina Inés Begoña Elena Paula",
            "García Fernández González Rodríguez López Martínez Sánchez Pérez Gómez Martín "
            "Jiménez Ruiz Hernández Díaz Moreno Muñoz Álvarez Romero Núñez Ibáñez",
        ),
        (
            "{family} {trade}|{word} {trade}|Hermanos {family}",
            "Ibérica|Sol|Mediterránea|Andina|Azteca|del Norte",
            "S.L.|S.A. de C.V.|Distribuciones|Transportes|Clínica Dental",
            "Madrid|Sevilla|Valencia|Monterrey|Guadalajara",
            "Jefa de compras|Gerente|Director general|Responsable de TI",
        ),
        lang="es",
    ),
    _culture(
        "zh",
        20,
        ((CN, 100),),
        (
            "伟:wei 强:qiang 磊:lei 军:jun 洋:yang 勇:yong 杰:jie 涛:tao 明:ming 超:chao "
            "建国:jianguo 浩然:haoran 宇轩:yuxuan 志强:zhiqiang",
            "芳:fang 娜:na 敏:min 静:jing 丽:li 艳:yan 娟:juan 秀英:xiuying 华:hua 子涵:zihan "
            "欣怡:xinyi 雨桐:yutong 婷:ting",
            "王:wang 李:li 张:zhang 刘:liu 陈:chen 杨:yang 黄:huang 赵:zhao 吴:wu 周:zhou 徐:xu "
            "孙:sun 马:ma 朱:zhu 胡:hu 郭:guo 何:he 林:lin 罗:luo 高:gao 欧阳:ouyang",
        ),
        (
            "{city}{word}{trade}有限公司|{word}{trade}股份有限公司",
            "华信|恒通|瑞丰|天成|中科|新锐|鼎盛|宏达|金桥",
            "科技|贸易|物流|电子|食品|医疗器械|建材",
            "北京|上海|深圳|广州|杭州|成都|武汉|南京",
            "采购经理|总经理|IT主管|行政主管",
        ),
        family_first=True,
        joiner="",
        lang="zh",
    ),
    _culture(
        "ja",
        4,
        ((JP, 100),),
        (
            "翔太:shota 健:ken 大輔:daisuke 拓海:takumi 蓮:ren 悠真:yuma",
            "陽菜:hina 美咲:misaki さくら:sakura 結衣:yui 葵:aoi 花子:hanako",
            "佐藤:sato 鈴木:suzuki 高橋:takahashi 田中:tanaka 伊藤:ito 渡辺:watanabe "
            "山本:yamamoto 中村:nakamura 小林:kobayashi 加藤:kato",
        ),
        (
            "株式会社{family}{trade}|{word}{trade}株式会社",
            "日本|東京|大和|富士|未来",
            "商事|工業|電機|物産",
            "東京|大阪|名古屋",
            "購買部長|代表取締役|情報システム課長",
        ),
        family_first=True,
        joiner="",
    ),
    _culture(
        "ko",
        3,
        ((KR, 100),),
        (
            "민준:minjun 지호:jiho 도윤:doyun 서준:seojun 현우:hyunwoo",
            "서연:seoyeon 하은:haeun 지우:jiwoo 수빈:subin 민서:minseo",
            "김:kim 이:lee 박:park 최:choi 정:jung 강:kang 조:cho 윤:yoon",
        ),
        (
            "{word}{trade} 주식회사|(주){word}{trade}",
            "한빛|대한|미래|새롬|서울",
            "전자|물산|테크|식품",
            "서울|부산",
            "구매 과장|대표이사|IT 팀장",
        ),
        family_first=True,
        joiner="",
    ),
    _culture(
        "ru",
        5,
        ((RU, 100),),
        (
            "Александр:aleksandr Дмитрий:dmitry Максим:maksim Сергей:sergey Иван:ivan "
            "Андрей:andrey Михаил:mikhail",
            "Анна:anna Мария:maria Елена:elena Ольга:olga Наталья:natalia Татьяна:tatiana "
            "Екатерина:ekaterina",
            _RUSSIAN,
        ),
        (
            "ООО «{word}»|ООО «{word} {trade}»|АО «{word}»",
            "Вектор|Альянс|Сибирь|Гарант|Техносфера|Волга",
            "Логистик|Трейд|Сервис|Строй",
            "Москва|Казань|Новосибирск",
            "Менеджер по закупкам|Генеральный директор|Руководитель ИТ",
        ),
        women_family=" ".join(
            f"{native}а:{latin}a" for native, latin in (w.split(":") for w in _RUSSIAN.split())
        ),
    ),
    _culture(
        "el",
        2,
        ((GR, 100),),
        (
            "Γιώργος:giorgos Νίκος:nikos Δημήτρης:dimitris Κώστας:kostas Γιάννης:giannis",
            "Μαρία:maria Ελένη:eleni Κατερίνα:katerina Σοφία:sofia Δέσποινα:despoina",
            "Παπαδόπουλος:papadopoulos Γεωργίου:georgiou Οικονόμου:oikonomou Παππάς:pappas "
            "Βλάχος:vlachos Νικολάου:nikolaou",
        ),
        (
            "{family} Α.Ε.|{word} {trade} Ε.Π.Ε.",
            "Αιγαίο|Ολυμπία|Ερμής|Ακρόπολις",
            "Εμπορική|Τεχνική|Μεταφορική",
            "Αθήνα|Θεσσαλονίκη",
            "Υπεύθυνος προμηθειών|Διευθύνων σύμβουλος",
        ),
        women_family="Παπαδοπούλου:papadopoulou Γεωργίου:georgiou Οικονόμου:oikonomou "
        "Παππά:pappa Βλάχου:vlachou Νικολάου:nikolaou",
    ),
    _culture(
        "ar",
        4,
        ((EG, 60), (AE, 40)),
        (
            "محمد:mohamed أحمد:ahmed علي:ali عمر:omar يوسف:youssef خالد:khaled",
            "فاطمة:fatima مريم:maryam ليلى:layla نور:nour سارة:sara هدى:huda",
            "حسن:hassan إبراهيم:ibrahim عبد_الله:abdullah السيد:elsayed منصور:mansour "
            "الشامي:alshami النجار:alnaggar",
        ),
        (
            "شركة {family} {trade}|مؤسسة {word} {trade}",
            "النيل|الخليج|الأمل|النور",
            "للتجارة|للمقاولات|للتقنية|للخدمات اللوجستية",
            "القاهرة|دبي|الإسكندرية",
            "مدير المشتريات|المدير العام",
        ),
    ),
    _culture(
        "in",
        7,
        ((IN, 100),),
        (
            "Aarav Rohan Vikram Arjun Rahul Aditya Karan Sanjay",
            "Priya Ananya Sneha Kavya Neha Divya Pooja Lakshmi",
            "Sharma Patel Singh Gupta Kumar Reddy Iyer Nair Mehta Joshi Rao Das",
        ),
        (
            "{family} {trade}|{word} {trade}",
            "Shakti|Ganga|Sagar|Vista|Lotus|Indus",
            "Enterprises|Pvt Ltd|Traders|Infotech Pvt Ltd|Exports",
            "Mumbai|Bengaluru|Pune|Chennai",
            "Purchase manager|Proprietor|IT head",
        ),
    ),
    _culture(
        "hi",
        3,
        ((IN, 100),),
        (
            "राहुल:rahul अमित:amit विकास:vikas सुरेश:suresh",
            "प्रिया:priya सुनीता:sunita अनीता:anita पूजा:pooja",
            "शर्मा:sharma वर्मा:verma गुप्ता:gupta सिंह:singh यादव:yadav",
        ),
        (
            "{family} {trade}|{word} {trade}",
            "गंगा|सागर|लक्ष्मी",
            "ट्रेडर्स|एंटरप्राइजेज",
            "दिल्ली|जयपुर|लखनऊ",
            "क्रय प्रबंधक|मालिक",
        ),
    ),
)
_CULTURE_WEIGHTS = list(itertools.accumulate(c.weight for c in CULTURES))
# An address in each country: streets, cities with their postcodes ("#" a digit), the form.
_PLACES: dict[str, tuple[str, str, str]] = {
    "US": (
        "Main Street|Oak Avenue|Market Street|Maple Drive|5th Avenue",
        "New York 100##|San Francisco 941##|Chicago 606##|Austin 787##|Seattle 981##",
        "{n} {street}",
    ),
    "CA": ("King Street|Rue Sainte-Catherine", "Toronto M5V_#A#|Montréal H3B_#B#", "{n} {street}"),
    "GB": (
        "High Street|Station Road|Church Lane",
        "London SW1A_#AA|Leeds LS1_#BB|Bristol BS1_#CD",
        "{n} {street}",
    ),
    "AU": ("George Street|Collins Street", "Sydney 2000|Melbourne 3000", "{n} {street}"),
    "DE": (
        "Hauptstraße|Bahnhofstraße|Schillerstraße|Gartenweg",
        "Berlin 10###|München 80###|Köln 50###|Hamburg 20###",
        "{street} {n}",
    ),
    "FR": (
        "rue de la Paix|avenue Victor Hugo|boulevard Voltaire",
        "Paris 750##|Lyon 6900#|Marseille 130##",
        "{n} {street}",
    ),
    "ES": (
        "Calle Mayor|Avenida de la Constitución|Calle del Sol",
        "Madrid 280##|Sevilla 410##|Valencia 460##",
        "{street} {n}",
    ),
    "MX": (
        "Avenida Reforma|Calle Hidalgo",
        "Ciudad_de_México 06###|Monterrey 64###",
        "{street} {n}",
    ),
    "CN": (
        "建国路|中山路|人民路|解放大道|科技园南路",
        "北京市朝阳区 1000##|上海市浦东新区 2001##|深圳市南山区 5180##|杭州市西湖区 3100##",
        "{street}{n}号",
    ),
    "JP": ("丸の内|銀座|梅田", "東京都千代田区 100-####|大阪市北区 530-####", "{street}{n}丁目"),
    "KR": ("세종대로|테헤란로", "서울특별시 0####|부산광역시 4####", "{street} {n}"),
    "RU": (
        "ул. Тверская|ул. Ленина|пр. Мира",
        "Москва 125###|Казань 420###|Новосибирск 630###",
        "{street}, д. {n}",
    ),
    "GR": ("Οδός Ερμού|Λεωφόρος Κηφισίας", "Αθήνα 105_##|Θεσσαλονίκη 546_##", "{street} {n}"),
    "EG": ("شارع التحرير|شارع الهرم", "القاهرة 11###|الإسكندرية 21###", "{n} {street}"),
    "AE": ("Sheikh Zayed Road|Al Wasl Road", "Dubai 00000|Abu_Dhabi 00000", "{n} {street}"),
    "IN": (
        "MG Road|Nehru Place|Park Street",
        "Mumbai 4000##|Bengaluru 5600##|New_Delhi 1100##",
        "{n}, {street}",
    ),
}
PLACES: dict[str, tuple[tuple[str, ...], tuple[tuple[str, str], ...], str]] = {
    country: (
        _list(streets),
        tuple(
            (city.replace("_", " "), postcode.replace("_", " "))
            for city, postcode in (place.rsplit(" ", 1) for place in _list(cities))
        ),
        form,
    )
    for country, (streets, cities, form) in _PLACES.items()
}


def _digits(rng: random.Random, pattern: str) -> str:
    return "".join(str(rng.randrange(10)) if c == "#" else c for c in pattern)


@dataclass(frozen=True, slots=True)
class FixedCustomer:
    """What is given, not drawn, of a customer: its first number and, when ``name`` is set, who
    it is (the demo's customers the simulator calls from: ``crm_core.demo.demo_customer``)."""

    e164: str
    raw: str
    name: str | None = None
    level: str | None = None
    region: str | None = None
    company: bool = False


CUSTOMER_COLUMNS = (
    "id",
    "name",
    "name_key",
    "company",
    "account_manager_id",
    "account_number",
    "level",
    "region",
    "churn_flag",
    "created_at",
    "updated_at",
)
CONTACT_COLUMNS = ("id", "customer_id", "name", "title", "email", "is_primary")
NUMBER_COLUMNS = ("id", "customer_id", "contact_id", "raw", "e164", "label")
ADDRESS_COLUMNS = ("id", "customer_id", "label", "street", "city", "postcode", "country")


@dataclass(frozen=True, slots=True)
class Person:
    """One customer as made by ``People``: its rows, and what its history is written in."""

    customer: tuple[Any, ...]
    contact: tuple[Any, ...]
    numbers: list[tuple[Any, ...]]
    address: tuple[Any, ...]
    culture: Culture
    is_company: bool


class People:
    """Customers with their primary contact, phone numbers and address: the one generator of
    who the customers are (the demo data and the caller-lookup benchmark use it). Ids are given
    out in turn from the first free ones; every ``SHARE_EVERY``-th customer with two numbers or
    more has the previous customer's first number as its home line."""

    def __init__(
        self,
        rng: random.Random,
        pool: NumberPool,
        *,
        levels: Sequence[tuple[str, int]],
        regions: Sequence[str],
        first_contact_id: int = 1,
        first_number_id: int = 1,
        first_address_id: int = 1,
    ) -> None:
        self.rng = rng
        self.pool = pool
        self.level_codes = [code for code, _ in levels]
        self.level_weights = list(itertools.accumulate(weight for _, weight in levels))
        self.regions = list(regions)
        self.next_contact = first_contact_id
        self.next_number = first_number_id
        self.next_address = first_address_id
        self.previous_first: tuple[str, str] | None = None

    def make(
        self,
        cid: int,
        numbers: int,
        *,
        created_at: datetime,
        manager_id: int | None = None,
        churn_flag: bool = False,
        company: bool | None = None,
        fixed: FixedCustomer | None = None,
        level: str | None = None,
    ) -> Person:
        rng = self.rng
        named = fixed is not None and fixed.name is not None
        culture = CULTURES[0] if named else rng.choices(CULTURES, cum_weights=_CULTURE_WEIGHTS)[0]
        home = US if named else culture.country(rng)
        person, local = culture.person(rng)
        if fixed is not None and fixed.name is not None:
            is_company, name = fixed.company, fixed.name
            level, region = fixed.level or level, fixed.region
        else:
            is_company = rng.random() < 0.35 if company is None else company
            name = culture.company(rng) if is_company else person
            region = None
        works_at = name if is_company else (culture.company(rng) if rng.random() < 0.3 else "")
        if level is None:
            level = rng.choices(self.level_codes, cum_weights=self.level_weights)[0]
        if region is None:
            region = rng.choice(self.regions)
        customer = (
            cid,
            name,
            name_key(name),
            works_at,
            manager_id,
            f"A{cid:09d}",
            level,
            region,
            churn_flag,
            created_at,
            created_at,
        )
        contact_id = self.next_contact
        self.next_contact += 1
        title = rng.choice(culture.titles) if is_company else None
        contact = (contact_id, cid, person, title, f"{local}.{cid}@example.com", True)
        rows = []
        for slot in range(numbers):
            if slot == 0 and fixed is not None:
                e164, raw, label, owner = fixed.e164, fixed.raw, "main", contact_id
            elif slot == 1 and cid % SHARE_EVERY == 0 and self.previous_first is not None:
                (e164, raw), label, owner = self.previous_first, "home", None
            else:
                abroad = slot > 0 and rng.random() < 0.1
                country = rng.choices(COUNTRIES, cum_weights=CUM_WEIGHTS)[0] if abroad else home
                e164, raw = self.pool.take(country)
                label = ("mobile", "work", "home")[min(slot, 2)]
                owner = contact_id if slot == 0 else None
            if slot == 0:
                first = (e164, raw)
            rows.append((self.next_number, cid, owner, raw, e164, label))
            self.next_number += 1
        if numbers:
            self.previous_first = first
        streets, cities, form = PLACES[home.region]
        city, postcode = rng.choice(cities)
        street = form.format(n=rng.randrange(1, 300), street=rng.choice(streets))
        address = (
            self.next_address,
            cid,
            "office" if is_company else "billing",
            street,
            city,
            _digits(rng, postcode),
            home.region,
        )
        self.next_address += 1
        return Person(customer, contact, rows, address, culture, is_company)


# --- what the rest of the CRM holds about them -----------------------------------------------


@dataclass(frozen=True, slots=True)
class Codes:
    """The data dictionary's codes the rows use (``SEEDED`` as the migrations seed them)."""

    levels: tuple[tuple[str, int], ...]  # code, weight among customers
    regions: tuple[str, ...]
    product_categories: tuple[str, ...]
    request_types: tuple[tuple[str, int | None], ...]  # code, deadline hours
    departments: tuple[str, ...]
    dispositions: tuple[str, ...]
    churn_measures: tuple[str, ...]
    churn_reasons: tuple[str, ...]


LEVEL_WEIGHTS = {"vip": 3, "gold": 10, "silver": 25, "standard": 62}
SEEDED = Codes(
    levels=tuple(LEVEL_WEIGHTS.items()),
    regions=("north", "south", "east", "west", "central"),
    product_categories=("hardware", "software", "service", "accessory"),
    request_types=(
        ("consultation", 24),
        ("suggestion", 168),
        ("complaint", 48),
        ("after_sales", 72),
    ),
    departments=("service", "technical", "billing", "logistics"),
    dispositions=(
        "resolved",
        "sale",
        "callback",
        "not_interested",
        "wrong_number",
        "do_not_call",
        "no_answer",
        "escalated",
    ),
    churn_measures=("call", "discount", "visit"),
    churn_reasons=("price", "competitor", "service", "closed"),
)


@dataclass(frozen=True, slots=True)
class Staff:
    """The users the rows name: who manages accounts, sells, serves, and takes calls."""

    account_manager: int | None = None
    sales_manager: int | None = None
    service: int | None = None
    agents: tuple[tuple[int | None, str], ...] = ((None, "1001"), (None, "1002"))  # id, ext


@dataclass(frozen=True)
class DemoPlan:
    """What to make: ``customers`` of them, from ``seed``, as of ``now`` (the rows are the same
    for the same three). ``fixed`` gives what is fixed of the customer at a position, if any."""

    customers: int
    now: datetime
    seed: int = 1
    chunk: int = 10_000
    products: int = 300
    fixed: Callable[[int], FixedCustomer | None] | None = None


def heavy_positions(customers: int) -> tuple[int, ...]:
    """Which customers (0-based) have a long history: 50 orders, 200 interactions (the
    benchmark's customer page); one per 100,000 customers, at least one, at most ten."""
    count = max(1, min(10, customers // 100_000))
    return tuple((2 * k + 1) * customers // (2 * count) for k in range(count))


HEAVY_ORDERS, HEAVY_INTERACTIONS, HEAVY_REQUESTS = 50, 200, 12
CHURNED_SHARE = 0.02
OPPORTUNITY_SHARE = 0.02
DAY = 86_400.0

Chunk = dict[str, list[tuple[Any, ...]]]
# Every table written, parents before children.
COLUMNS: dict[str, tuple[str, ...]] = {
    "products": (
        "id", "code", "name", "category", "unit_price_cents", "currency", "is_active",
        "created_at", "updated_at",
    ),
    "warehouses": ("id", "code", "name", "is_active"),
    "stock_levels": ("product_id", "warehouse_id", "quantity"),
    "stock_movements": (
        "id", "product_id", "warehouse_id", "kind", "quantity", "reason", "order_id", "user_id",
        "created_at",
    ),
    "customers": CUSTOMER_COLUMNS,
    "contacts": CONTACT_COLUMNS,
    "phone_numbers": NUMBER_COLUMNS,
    "addresses": ADDRESS_COLUMNS,
    "orders": (
        "id", "customer_id", "reference", "status", "summary", "amount_cents", "currency",
        "placed_at", "updated_at", "created_by", "call_linked_id", "warehouse_id", "notes",
    ),
    "order_lines": (
        "id", "order_id", "product_id", "quantity", "unit_price_cents", "line_total_cents",
    ),
    "order_events": ("id", "order_id", "from_status", "to_status", "user_id", "note", "at"),
    "service_requests": (
        "id", "customer_id", "service_type", "subject", "status", "opened_at", "closed_at",
        "description", "call_linked_id", "created_by", "assignee_id", "department", "due_at",
        "handling", "satisfaction", "satisfaction_comment", "updated_at",
    ),
    "service_request_events": (
        "id", "request_id", "action", "from_status", "to_status", "note", "user_id", "at",
    ),
    "call_records": (
        "linked_id", "direction", "outcome", "caller_raw", "caller_e164", "customer_number",
        "queue", "agent_interface", "agent_user_id", "customer_id", "offered_at", "answered_at",
        "ended_at", "wait_seconds", "talk_seconds", "hangup_cause", "disposition",
        "wrapup_seconds", "callback_needed", "recorded_at", "fence", "estimated",
    ),
    "interactions": (
        "id", "customer_id", "call_linked_id", "user_id", "kind", "disposition", "notes",
        "created_at",
    ),
    "opportunities": (
        "id", "title", "prospect_name", "contact_name", "phone_raw", "phone_e164", "source",
        "description", "value_cents", "probability", "stage", "created_by", "assigned_to",
        "assigned_at", "customer_id", "close_reason", "closed_at", "created_at", "updated_at",
    ),
    "plan_steps": (
        "id", "opportunity_id", "planned_on", "action", "result", "done_at", "user_id",
        "created_at",
    ),
    "churn_warnings": (
        "id", "customer_id", "status", "last_order_at", "flagged_at", "reason", "resolved_by",
        "resolved_at",
    ),
    "churn_measures": ("id", "warning_id", "measure", "note", "user_id", "created_at"),
}  # fmt: skip
ID_TABLES = tuple(t for t, columns in COLUMNS.items() if columns[0] == "id")

# --- words for the notes and titles (by language; others read English) -----------------------

CALL_NOTES: dict[str, dict[str, tuple[str, ...]]] = {
    "resolved": {
        "en": (
            "Asked when the order ships; gave the tracking number.",
            "Invoice question: explained the discount line.",
            "Could not log in to the portal; reset the password with them.",
            "Wanted the user manual; sent it by e-mail.",
        ),
        "zh": (
            "客户咨询发货时间，已告知物流单号。",
            "发票抬头有误，已重新开具。",
            "咨询保修政策，已解答。",
        ),
        "de": (
            "Fragte nach dem Liefertermin; Sendungsnummer durchgegeben.",
            "Rechnungsfrage geklärt.",
        ),
        "fr": (
            "Question sur la facture, réglée.",
            "Demandait le délai de livraison ; réponse donnée.",
        ),
        "es": ("Consulta sobre la factura, resuelta.", "Preguntó por el envío; se dio el número."),
    },
    "sale": {
        "en": ("Ordered more licences for the new starters.", "Renewed the support contract."),
        "zh": ("追加采购十台显示器。", "续签年度维保合同。"),
        "de": ("Zusätzliche Lizenzen bestellt.",),
        "fr": ("Commande de cinq postes supplémentaires.",),
        "es": ("Pidió tres portátiles más.",),
    },
    "callback": {
        "en": ("Wants a call back tomorrow morning about the quote.", "Call back after 3 pm."),
        "zh": ("客户要求明天上午回电讨论报价。",),
        "de": ("Bitte morgen früh zurückrufen.",),
        "fr": ("Rappeler demain matin pour le devis.",),
        "es": ("Devolver la llamada mañana por la mañana.",),
    },
    "not_interested": {"en": ("Not interested in the upgrade for now.",), "zh": ("暂时不需要。",)},
    "wrong_number": {"en": ("Wrong number: a private person, not the company.",)},
    "do_not_call": {"en": ("Asked not to be called for offers any more.",)},
    "no_answer": {"en": ("No answer; left a voicemail.",), "zh": ("无人接听。",)},
    "escalated": {
        "en": ("Device keeps rebooting; escalated to technical support.",),
        "zh": ("设备故障，已转技术支持。",),
        "de": ("An den technischen Support weitergeleitet.",),
    },
}
OTHER_NOTES = {"en": ("Spoke with the customer.",)}
PAGE_NOTES = {
    "en": (
        "Met at the trade fair; interested in the new range.",
        "Prefers e-mail over phone calls.",
        "Pays by bank transfer only.",
        "Visited their office: 40 workstations, renewal due in spring.",
    ),
    "zh": ("客户偏好邮件联系。", "下季度有采购计划。"),
    "de": ("Bevorzugt Kontakt per E-Mail.",),
    "fr": ("Préfère être contacté par e-mail.",),
    "es": ("Prefiere el contacto por correo.",),
}
REQUEST_SUBJECTS: dict[str, dict[str, tuple[str, ...]]] = {
    "consultation": {
        "en": ("Which model suits a small office?", "Question about volume pricing"),
        "zh": ("咨询产品型号选择", "询问批量采购价格"),
        "de": ("Frage zur Produktauswahl",),
    },
    "suggestion": {
        "en": ("Would like invoices as PDF", "Suggests weekend delivery slots"),
        "zh": ("建议增加周末配送",),
    },
    "complaint": {
        "en": ("Delivery arrived damaged", "Charged twice for one order", "Courier was rude"),
        "zh": ("收到的货物有破损", "重复扣款"),
        "de": ("Lieferung beschädigt angekommen",),
        "fr": ("Colis arrivé endommagé",),
        "es": ("El pedido llegó dañado",),
    },
    "after_sales": {
        "en": ("Warranty repair", "Replacement part needed", "Installation support"),
        "zh": ("保修维修", "需要更换配件"),
        "de": ("Garantiereparatur",),
    },
}
OTHER_SUBJECTS = {"en": ("Customer request",)}
HANDLING = ("Called the customer and solved it.", "Sent a replacement.", "Refunded the charge.")
SATISFACTION_COMMENTS = {5: "Very helpful", 4: "Good", 3: "OK", 2: "Slow", 1: "Not solved"}
PRODUCTS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[int, int]]] = {
    # category: (names, variants, price range in dollars)
    "hardware": (
        ("Laptop", "Desktop PC", "Monitor 27\"", "Router", "Switch 24-port", "Laser printer",
         "Scanner", "Server 1U", "Tablet", "IP phone", "工业级路由器", "商用笔记本"),
        ("Pro", "Plus", "Lite", "X200", "S", "2026"),
        (150, 3000),
    ),
    "software": (
        ("Office suite licence", "Antivirus seat", "CRM seat", "Accounting package",
         "Backup service", "财务软件"),
        ("1 year", "3 years", "per user"),
        (20, 800),
    ),
    "service": (
        ("On-site installation", "Extended warranty", "Training day", "Support contract",
         "Data migration", "上门安装服务"),
        ("standard", "premium", "24/7"),
        (50, 1500),
    ),
    "accessory": (
        ("USB-C cable 2 m", "Wireless mouse", "Keyboard", "Laptop bag", "Docking station",
         "Toner cartridge", "Headset", "数据线"),
        ("black", "white", "XL", "travel"),
        (5, 120),
    ),
}  # fmt: skip
OTHER_PRODUCTS = (("Item",), ("standard",), (10, 500))
MEAN_QUANTITY = {"hardware": 1.5, "software": 6.0, "service": 2.0, "accessory": 4.0}
OPPORTUNITY_TITLES = (
    "Laptops for the new branch",
    "CRM seats for the sales team",
    "Network upgrade",
    "Annual support contract",
    "年度维保合同",
    "Printers for three offices",
    "Ausstattung neues Büro",
)
OPPORTUNITY_SOURCES = ("web", "referral", "trade fair", "cold call", "campaign")
PLAN_ACTIONS = (
    "First call: needs and budget",
    "Send the quote",
    "Product demo on site",
    "Negotiate the price",
    "Meet the decision maker",
    "Trial installation",
)
PLAN_RESULTS = (
    "Budget confirmed",
    "Quote received, asked for 5% off",
    "Demo went well",
    "Decision postponed to next quarter",
)
CLOSE_REASONS = {
    "won": "Contract signed",
    "lost": "Chose a cheaper competitor",
    "terminated": "Project cancelled by the prospect",
}
CHURN_NOTES = {
    "call": "Called: they are reviewing suppliers.",
    "discount": "Offered 10% off the next order.",
    "visit": "Visited; promised a new quote.",
}


def _text(pool: dict[str, tuple[str, ...]], lang: str, rng: random.Random) -> str:
    return rng.choice(pool.get(lang) or pool["en"])


# --- the generator ---------------------------------------------------------------------------

ORDER_FLOW = ("draft", "awaiting_confirmation", "confirmed", "shipped", "completed")
# Hours between an order's moves: (least, most) before reaching each status.
ORDER_GAPS = {
    "awaiting_confirmation": (0.1, 2.0),
    "confirmed": (1.0, 48.0),
    "shipped": (12.0, 72.0),
    "completed": (24.0, 120.0),
    "cancelled": (1.0, 120.0),
}
REQUEST_FLOW = (("assigned", "assigned", 0.2, 4.0), ("handled", "handled", 1.0, 48.0),
                ("closed", "closed", 1.0, 72.0))  # fmt: skip
REQUEST_TYPE_WEIGHTS = {"consultation": 35, "after_sales": 30, "complaint": 20, "suggestion": 15}
REQUEST_DEPARTMENTS = {"complaint": "service", "after_sales": "technical", "suggestion": "service"}
DISPOSITION_WEIGHTS = {
    "resolved": 40,
    "sale": 12,
    "callback": 12,
    "not_interested": 8,
    "escalated": 8,
    "no_answer": 8,
    "wrong_number": 2,
    "do_not_call": 1,
}
# An order's status by its age: under two days, under two weeks (older: mostly completed).
_YOUNG_ORDER = ORDER_FLOW[:4]
_YOUNG_ORDER_CUM = (0.2, 0.5, 0.8)
_RECENT_ORDER = ("confirmed", "shipped", "completed", "cancelled")
_RECENT_ORDER_CUM = (0.15, 0.5, 0.95)
STAGE_WEIGHTS = {"new": 15, "assigned": 15, "developing": 30, "won": 15, "lost": 15,
                 "terminated": 10}  # fmt: skip
STAGE_PROBABILITY = {"new": 10, "assigned": 20, "won": 100, "lost": 0, "terminated": 0}


@dataclass(frozen=True, slots=True)
class _Product:
    id: int
    label: str  # as an order's summary names it: code and name
    category: str
    price: int


class DemoData:
    """The rows of a demo CRM, chunk by chunk: ``chunks()`` yields {table: rows} with
    ``plan.chunk`` customers and everything about them (the first chunk also the catalogue).
    The rows follow from the plan, the codes, the staff and the first free ids alone."""

    def __init__(
        self,
        plan: DemoPlan,
        *,
        codes: Codes = SEEDED,
        staff: Staff = Staff(),
        first_ids: dict[str, int] | None = None,
    ) -> None:
        if plan.now.tzinfo is None:
            raise ValueError("DemoPlan.now must be an aware UTC time")
        self.plan = plan
        self.now = plan.now.astimezone(UTC)
        self.codes = codes
        self.staff = staff
        self.rng = random.Random(plan.seed)
        self.ids = {table: 1 for table in ID_TABLES} | (first_ids or {})
        self.pool = NumberPool()
        self.people = People(
            self.rng,
            self.pool,
            levels=codes.levels,
            regions=codes.regions,
            first_contact_id=self.ids["contacts"],
            first_number_id=self.ids["phone_numbers"],
            first_address_id=self.ids["addresses"],
        )
        self.first_customer = self.ids["customers"]
        self.heavy = frozenset(heavy_positions(plan.customers))
        self.products: list[_Product] = []
        self.product_weights: list[float] = []
        self.warehouses: tuple[int, ...] = ()
        self.request_types = [(code, hours) for code, hours in codes.request_types]
        self.request_weights = [REQUEST_TYPE_WEIGHTS.get(c, 20) for c, _ in codes.request_types]
        self.dispositions = list(codes.dispositions)
        self.disposition_weights = [DISPOSITION_WEIGHTS.get(c, 5) for c in codes.dispositions]

    @property
    def heavy_customer_ids(self) -> tuple[int, ...]:
        return tuple(self.first_customer + p for p in sorted(self.heavy))

    def chunks(self) -> Iterator[Chunk]:
        chunk: Chunk = {table: [] for table in COLUMNS}
        self._catalogue(chunk)
        for position in range(self.plan.customers):
            self._customer(position, chunk)
            if (position + 1) % self.plan.chunk == 0:
                yield chunk
                chunk = {table: [] for table in COLUMNS}
        if chunk["customers"] or chunk["products"]:
            yield chunk

    # Helpers.

    def _id(self, table: str) -> int:
        value = self.ids[table]
        self.ids[table] = value + 1
        return value

    def _ago(self, days: float) -> datetime:
        return self.now - timedelta(seconds=int(days * DAY))

    def _between(self, start: datetime, end: datetime) -> datetime:
        span = max(0.0, (end - start).total_seconds())
        return start + timedelta(seconds=int(self.rng.random() * span))

    def _agent(self) -> tuple[int | None, str]:
        agents = self.staff.agents
        return agents[int(self.rng.random() * len(agents))]

    def _chain(self, start: datetime, gaps_hours: list[tuple[float, float]]) -> list[datetime]:
        """Times of the moves after ``start``, each some hours after the one before, squeezed
        so that the last is before now."""
        rng = self.rng
        gaps = [low + rng.random() * (high - low) for low, high in gaps_hours]
        room = (self.now - start).total_seconds() * 0.9 / 3600
        scale = min(1.0, room / sum(gaps)) if gaps and sum(gaps) > 0 else 1.0
        times, at = [], start
        for gap in gaps:
            at += timedelta(seconds=int(gap * scale * 3600))
            times.append(at)
        return times

    # The catalogue.

    def _catalogue(self, out: Chunk) -> None:
        rng = self.rng
        created = self._ago(1095)
        categories = self.codes.product_categories or ("",)
        for i in range(self.plan.products):
            category = categories[i % len(categories)]
            names, variants, (low, high) = PRODUCTS.get(category, OTHER_PRODUCTS)
            name = f"{rng.choice(names)} {rng.choice(variants)}"
            price = rng.randint(low, high) * 100 - rng.choice((0, 1, 5))
            pid = self._id("products")
            code = f"P-{10000 + i}"
            active = rng.random() < 0.95
            out["products"].append(
                (pid, code, name, category, price, "USD", active, created, created)
            )
            if active:
                self.products.append(_Product(pid, f"{code} {name}", category, price))
        order = list(range(len(self.products)))
        rng.shuffle(order)  # popularity: a few products sell most
        weights = [0.0] * len(self.products)
        for rank, index in enumerate(order):
            weights[index] = 1 / (rank + 1) ** 0.8
        self.product_weights = list(itertools.accumulate(weights))
        self.warehouses = (self._id("warehouses"), self._id("warehouses"))
        out["warehouses"] += [
            (self.warehouses[0], "WH-NORTH", "North warehouse", True),
            (self.warehouses[1], "WH-SOUTH", "South warehouse", True),
        ]
        for product in out["products"]:
            for warehouse in self.warehouses:
                if product[3] in ("software", "service"):
                    quantity = 10_000
                elif product[3] == "hardware":
                    quantity = 0 if rng.random() < 0.1 else rng.randint(5, 300)
                else:
                    quantity = rng.randint(100, 3000)
                out["stock_levels"].append((product[0], warehouse, quantity))
                if quantity:
                    out["stock_movements"].append(
                        (
                            self._id("stock_movements"),
                            product[0],
                            warehouse,
                            "in",
                            quantity,
                            "Opening stock",
                            None,
                            None,
                            created,
                        )
                    )

    # A customer and everything about them.

    def _customer(self, position: int, out: Chunk) -> None:
        rng, codes = self.rng, self.codes
        cid = self.first_customer + position
        heavy = position in self.heavy
        fixed = self.plan.fixed(position) if self.plan.fixed else None
        churned = not heavy and rng.random() < CHURNED_SHARE
        days = 1500 + rng.random() * 300 if heavy else 3 + rng.random() ** 0.6 * 2200
        if churned:
            days = max(days, 420 + rng.random() * 400)
        created = self._ago(days)
        numbers = 3 if heavy else rng.choices((1, 2, 3), cum_weights=(30, 70, 100))[0]
        level = fixed.level if fixed else None
        if heavy and any(code == "vip" for code, _ in codes.levels):
            level = "vip"
        elif level is None:  # drawn here: it decides whether an account manager has them
            level = rng.choices(self.people.level_codes, cum_weights=self.people.level_weights)[0]
        managed = churned or heavy or level in ("vip", "gold") or rng.random() < 0.1
        person = self.people.make(
            cid,
            numbers,
            created_at=created,
            manager_id=self.staff.account_manager if managed else None,
            churn_flag=churned,
            company=True if heavy else None,
            fixed=fixed,
            level=level,
        )
        out["customers"].append(person.customer)
        out["contacts"].append(person.contact)
        out["phone_numbers"] += person.numbers
        out["addresses"].append(person.address)
        start = max(created, self._ago(730))
        last_order = self._orders(cid, created, start, heavy, churned, out)
        self._requests(cid, person, start, heavy, out)
        self._interactions(cid, person, start, heavy, out)
        if churned and last_order is not None:
            self._churn(cid, last_order, out)
        if rng.random() < OPPORTUNITY_SHARE:
            self._opportunity(person, out)

    def _orders(
        self,
        cid: int,
        created: datetime,
        start: datetime,
        heavy: bool,
        churned: bool,
        out: Chunk,
    ) -> datetime | None:
        """About five orders over the last two years (fewer for newer customers); a customer
        who is not churned has one in the last five months, a churned one none for 200 days
        and more. Returns when the last was placed."""
        rng, now = self.rng, self.now
        end = self._ago(200 + rng.random() * 200) if churned else now - timedelta(minutes=10)
        count = HEAVY_ORDERS if heavy else 1 + min(29, int(rng.expovariate(0.23) + 0.5))
        if not heavy:
            share = (end - start).total_seconds() / (730 * DAY)
            count = max(1, round(count * share))
            if (now - created).days < 30 and rng.random() < 0.3:
                count = 0  # new, not ordered yet
        placed = sorted(self._between(start, end) for _ in range(count))
        if placed and not churned and placed[-1] < self._ago(150) and created < self._ago(150):
            placed[-1] = self._between(self._ago(150), end)
        for at in sorted(placed):
            self._order(cid, at, out)
        return max(placed) if placed else None

    def _order(self, cid: int, placed: datetime, out: Chunk) -> None:
        """One order: its status follows from its age, its history from its status (hot: a
        million customers make five million of these, so ids are taken in blocks)."""
        rng, ids, agents = self.rng, self.ids, self.staff.agents
        oid = ids["orders"]
        ids["orders"] = oid + 1
        age = (self.now - placed).total_seconds()
        if age < 2 * DAY:
            status = _YOUNG_ORDER[bisect_right(_YOUNG_ORDER_CUM, rng.random())]
        elif age < 14 * DAY:
            status = _RECENT_ORDER[bisect_right(_RECENT_ORDER_CUM, rng.random())]
        else:
            status = "completed" if rng.random() < 0.93 else "cancelled"
        if status == "cancelled":
            path = (*ORDER_FLOW[: int(rng.random() * 3) + 1], "cancelled")
        else:
            path = ORDER_FLOW[: ORDER_FLOW.index(status) + 1]
        times = [placed, *self._chain(placed, [ORDER_GAPS[s] for s in path[1:]])]
        first_event = ids["order_events"]
        ids["order_events"] = first_event + len(path)
        users = [agents[int(rng.random() * len(agents))][0] for _ in path]
        out["order_events"] += [
            (first_event + i, oid, path[i - 1] if i else "", path[i], users[i], "", times[i])
            for i in range(len(path))
        ]
        wanted = rng.choices((1, 2, 3, 4), cum_weights=(45, 75, 90, 100))[0]
        chosen = rng.choices(self.products, cum_weights=self.product_weights, k=wanted)
        total, summary, seen, lines = 0, [], set(), out["order_lines"]
        for product in chosen:
            if product.id in seen:
                continue
            seen.add(product.id)
            mean = MEAN_QUANTITY.get(product.category, 2.0)
            quantity = 1 + min(49, int(rng.expovariate(1 / mean)))
            line_total = quantity * product.price
            total += line_total
            summary.append(f"{quantity} × {product.label}")
            line_id = ids["order_lines"]
            ids["order_lines"] = line_id + 1
            lines.append((line_id, oid, product.id, quantity, product.price, line_total))
        text_summary = ", ".join(summary)
        if len(text_summary) > 500:
            text_summary = text_summary[:499] + "…"
        warehouse = self.warehouses[int(rng.random() * len(self.warehouses))]
        out["orders"].append(
            (
                oid,
                cid,
                f"SO-{oid:06d}",
                status,
                text_summary,
                total,
                "USD",
                placed,
                times[-1],
                users[0],
                None,
                warehouse,
                "",
            )
        )

    def _requests(self, cid: int, person: Person, start: datetime, heavy: bool, out: Chunk) -> None:
        rng, now, codes = self.rng, self.now, self.codes
        count = (
            HEAVY_REQUESTS if heavy else rng.choices((0, 1, 2, 3), cum_weights=(50, 80, 92, 100))[0]
        )
        if not self.request_types:
            return
        for _ in range(count):
            rid = self._id("service_requests")
            kind, hours = rng.choices(self.request_types, weights=self.request_weights)[0]
            opened = self._between(start, now - timedelta(minutes=5))
            age = (now - opened).total_seconds()
            if age < DAY:
                status = rng.choices(("open", "assigned", "handled"), (50, 30, 20))[0]
            elif age < 7 * DAY:
                status = rng.choices(("assigned", "handled", "closed"), (20, 30, 50))[0]
            else:
                status = "closed" if rng.random() < 0.97 else "handled"
            steps = {"open": 0, "assigned": 1, "handled": 2, "closed": 3}[status]
            times = self._chain(opened, [(low, high) for _, _, low, high in REQUEST_FLOW[:steps]])
            creator, _ = self._agent()
            subject = _text(REQUEST_SUBJECTS.get(kind, OTHER_SUBJECTS), person.culture.lang, rng)
            satisfaction = (
                rng.choices((5, 4, 3, 2, 1), (45, 30, 12, 8, 5))[0] if status == "closed" else None
            )
            comment = SATISFACTION_COMMENTS[satisfaction] if satisfaction else ""
            department = None
            if steps and codes.departments:
                department = REQUEST_DEPARTMENTS.get(kind, codes.departments[0])
                if department not in codes.departments or rng.random() < 0.2:
                    department = rng.choice(codes.departments)
            events = out["service_request_events"]
            events.append(
                (self._id("service_request_events"), rid, "opened", "", "open",
                 "during a call" if rng.random() < 0.7 else "on the customer's page", creator,
                 opened)
            )  # fmt: skip
            before = "open"
            for (action, to_status, _, _), at in zip(REQUEST_FLOW[:steps], times, strict=True):
                note = comment if to_status == "closed" else ""
                user = self.staff.service
                events.append(
                    (self._id("service_request_events"), rid, action, before, to_status, note,
                     user, at)
                )  # fmt: skip
                before = to_status
            out["service_requests"].append(
                (
                    rid,
                    cid,
                    kind,
                    subject,
                    status,
                    opened,
                    times[-1] if status == "closed" else None,
                    "",
                    None,
                    creator,
                    self.staff.service if steps else None,
                    department,
                    opened + timedelta(hours=hours) if hours else None,
                    rng.choice(HANDLING) if steps >= 2 else "",
                    satisfaction,
                    comment,
                    times[-1] if times else opened,
                )
            )

    def _interactions(
        self, cid: int, person: Person, start: datetime, heavy: bool, out: Chunk
    ) -> None:
        rng, now = self.rng, self.now
        if heavy:
            count = HEAVY_INTERACTIONS
        else:
            count = rng.choices(range(7), cum_weights=(25, 50, 70, 82, 90, 96, 100))[0]
        lang = person.culture.lang
        for _ in range(count):
            iid = self._id("interactions")
            ended = self._between(start, now - timedelta(minutes=5))
            if rng.random() >= (0.85 if heavy else 0.8) or not self.dispositions:
                user = self.staff.account_manager if rng.random() < 0.5 else self._agent()[0]
                note = _text(PAGE_NOTES, lang, rng)
                out["interactions"].append((iid, cid, None, user, "note", None, note, ended))
                continue
            user, extension = self._agent()
            disposition = rng.choices(self.dispositions, weights=self.disposition_weights)[0]
            number = rng.choice(person.numbers)[4]
            missed = disposition == "no_answer"
            inbound = not missed and rng.random() < 0.7
            talk = 0.0 if missed else float(rng.randint(30, 900))
            wait = float(rng.randint(3, 120)) if inbound else float(rng.randint(5, 30))
            answered = None if missed else ended - timedelta(seconds=talk)
            offered = (answered or ended) - timedelta(seconds=wait)
            wrapup = float(rng.randint(10, 120))
            linked_id = f"{int(offered.timestamp())}.{iid}"
            out["call_records"].append(
                (
                    linked_id,
                    "inbound" if inbound else "outbound",
                    "no_answer" if missed else "answered",
                    number if inbound else extension,
                    number,
                    "" if inbound else number,
                    rng.choice(("sales", "support")) if inbound else "",
                    f"PJSIP/{extension}",
                    user,
                    cid,
                    offered,
                    answered,
                    ended,
                    wait,
                    talk,
                    16,
                    disposition,
                    wrapup,
                    False,
                    ended + timedelta(seconds=1),
                    0,
                    False,
                )
            )
            note = _text(CALL_NOTES.get(disposition, OTHER_NOTES), lang, rng)
            wrapped = ended + timedelta(seconds=wrapup)
            out["interactions"].append(
                (iid, cid, linked_id, user, "call", disposition, note, wrapped)
            )

    def _churn(self, cid: int, last_order: datetime, out: Chunk) -> None:
        rng, codes, manager = self.rng, self.codes, self.staff.account_manager
        wid = self._id("churn_warnings")
        status = rng.choices(("open", "postponed", "churned"), (40, 35, 25))[0]
        flagged = last_order + timedelta(days=183 + rng.randrange(1, 15))
        measures = {"open": 0, "postponed": rng.randint(1, 2), "churned": rng.randint(0, 1)}[status]
        at = flagged
        for _ in range(measures if codes.churn_measures else 0):
            at = min(self.now, at + timedelta(days=rng.randint(1, 10)))
            measure = rng.choice(codes.churn_measures)
            note = CHURN_NOTES.get(measure, "")
            out["churn_measures"].append(
                (self._id("churn_measures"), wid, measure, note, manager, at)
            )
        reason, resolved_by, resolved_at = "", None, None
        if status == "churned" and codes.churn_reasons:
            code = rng.choice(codes.churn_reasons)
            reason = f"{code}: moved to another supplier" if code == "competitor" else code
            resolved_by, resolved_at = (
                manager,
                min(self.now, at + timedelta(days=rng.randint(1, 20))),
            )
        out["churn_warnings"].append(
            (wid, cid, status, last_order, flagged, reason, resolved_by, resolved_at)
        )

    def _opportunity(self, person: Person, out: Chunk) -> None:
        rng, staff = self.rng, self.staff
        oid = self._id("opportunities")
        stage = rng.choices(list(STAGE_WEIGHTS), weights=list(STAGE_WEIGHTS.values()))[0]
        customer_id = None
        if stage == "won":  # the prospect became this customer the day it was won
            closed_at: datetime | None = person.customer[9]
            created = closed_at - timedelta(days=rng.randint(20, 120))
            prospect, contact = person.customer[1], person.contact[2]
            phone_e164, phone_raw = person.numbers[0][4], person.numbers[0][3]
            customer_id = person.customer[0]
        else:
            culture = rng.choices(CULTURES, cum_weights=_CULTURE_WEIGHTS)[0]
            contact = culture.person(rng)[0]
            prospect = culture.company(rng) if rng.random() < 0.6 else contact
            phone_e164, phone_raw = self.pool.take(culture.country(rng))
            created = self._ago(10 + rng.random() * 690)
            closed_at = None
        assigned_at = None if stage == "new" else created + timedelta(days=rng.randint(1, 5))
        steps = {"new": 0, "assigned": rng.randint(1, 2), "developing": rng.randint(2, 4),
                 "won": rng.randint(2, 5), "lost": rng.randint(2, 5),
                 "terminated": rng.randint(1, 3)}[stage]  # fmt: skip
        done = steps  # closed: every step done (a stopped one: some)
        if stage in ("assigned", "developing", "terminated"):
            done = rng.randint(int(stage == "developing"), steps if stage != "assigned" else 0)
        begin = assigned_at or created
        finish = closed_at if closed_at is not None else self.now - timedelta(hours=1)
        done_at = sorted(self._between(begin, finish) for _ in range(done))
        for index in range(steps):
            finished = index < done
            at = done_at[index] if finished else self.now + timedelta(days=7 * (index - done + 1))
            out["plan_steps"].append(
                (
                    self._id("plan_steps"),
                    oid,
                    at.date(),
                    PLAN_ACTIONS[index % len(PLAN_ACTIONS)],
                    rng.choice(PLAN_RESULTS) if finished else "",
                    at if finished else None,
                    staff.account_manager,
                    begin,
                )
            )
        if stage in ("lost", "terminated"):
            closed_at = self._between(done_at[-1] if done_at else begin, self.now)
        updated = closed_at or (done_at[-1] if done_at else begin)
        probability = STAGE_PROBABILITY.get(stage, rng.choice((30, 40, 50, 60, 70, 80)))
        out["opportunities"].append(
            (
                oid,
                rng.choice(OPPORTUNITY_TITLES),
                prospect,
                contact,
                phone_raw,
                phone_e164,
                rng.choice(OPPORTUNITY_SOURCES),
                "",
                rng.randint(10, 2000) * 10_000,
                probability,
                stage,
                staff.sales_manager,
                None if stage == "new" else staff.account_manager,
                assigned_at,
                customer_id,
                CLOSE_REASONS.get(stage, ""),
                closed_at,
                created,
                updated,
            )
        )


# --- loading ---------------------------------------------------------------------------------

COPY_TIMEOUT = 600.0  # seconds for one table's rows of one chunk


class Writer(Protocol):
    """Where a chunk's rows go: COPY on PostgreSQL, executemany on SQLite."""

    method: str

    async def write(self, table: str, rows: list[tuple[Any, ...]]) -> None: ...


class PostgresWriter(Writer):
    method = "COPY (asyncpg copy_records_to_table) in the caller's transaction"

    def __init__(self, driver: Any) -> None:
        self.driver = driver  # an asyncpg connection

    async def write(self, table: str, rows: list[tuple[Any, ...]]) -> None:
        await self.driver.copy_records_to_table(
            table, records=rows, columns=list(COLUMNS[table]), timeout=COPY_TIMEOUT
        )


def _sqlite_time(value: datetime) -> str:
    # As SQLAlchemy stores UtcDateTime on SQLite: naive UTC, microseconds always written.
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def sqlite_converter(table: str, columns: Sequence[str]) -> Callable[[tuple[Any, ...]], Any]:
    """A row as sqlite3 takes it: times and dates as the text SQLAlchemy writes for them."""
    types = Base.metadata.tables[table].c
    times = [i for i, c in enumerate(columns) if isinstance(types[c].type, UtcDateTime)]
    dates = [i for i, c in enumerate(columns) if type(types[c].type) is Date]

    def convert(row: tuple[Any, ...]) -> tuple[Any, ...]:
        if not times and not dates:
            return row
        values = list(row)
        for i in times:
            if values[i] is not None:
                values[i] = _sqlite_time(values[i])
        for i in dates:
            if values[i] is not None:
                values[i] = values[i].isoformat()
        return tuple(values)

    return convert


class SqliteWriter(Writer):
    method = "executemany per table and chunk, in the caller's transaction"

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def write(self, table: str, rows: list[tuple[Any, ...]]) -> None:
        columns = COLUMNS[table]
        convert = sqlite_converter(table, columns)
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        values = [convert(row) for row in rows]
        await self.conn.run_sync(lambda sync: sync.exec_driver_sql(sql, values))


@dataclass
class LoadReport:
    """What a load wrote (rows per table), which customers have the long history, and how
    long it took."""

    rows: Counter[str]
    heavy_customer_ids: tuple[int, ...]
    seconds: float = 0.0
    generate_seconds: float = 0.0  # waiting for rows not made yet (made while writing)
    write_seconds: float = 0.0
    method: str = ""
    fk_checks_during_load: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": dict(self.rows),
            "heavy_customer_ids": list(self.heavy_customer_ids),
            "seconds": round(self.seconds, 1),
            "waited_for_rows_seconds": round(self.generate_seconds, 1),
            "write_seconds": round(self.write_seconds, 1),
            "method": self.method,
            "fk_checks_during_load": self.fk_checks_during_load,
        }


async def read_codes(conn: AsyncConnection) -> Codes:
    """The active codes of the data dictionary, in its order."""
    rows = await conn.execute(
        text(
            "SELECT category, code, attributes FROM dictionary_entries WHERE is_active "
            "ORDER BY category, sort_order, code"
        )
    )
    found: dict[str, list[tuple[str, Any]]] = {}
    for category, code, attributes in rows:
        if isinstance(attributes, str):  # SQLite hands JSON back as text through text()
            attributes = json.loads(attributes)
        found.setdefault(category, []).append((code, attributes or {}))
    for needed in ("customer_level", "region"):
        if not found.get(needed):
            raise ValueError(f"the data dictionary has no active {needed}: nothing to draw from")

    def codes(category: str) -> tuple[str, ...]:
        return tuple(code for code, _ in found.get(category, []))

    def hours(attributes: dict[str, Any]) -> int | None:
        value = attributes.get("deadline_hours")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    return Codes(
        levels=tuple((code, LEVEL_WEIGHTS.get(code, 10)) for code in codes("customer_level")),
        regions=codes("region"),
        product_categories=codes("product_category"),
        request_types=tuple((c, hours(a)) for c, a in found.get("service_request_type", [])),
        departments=codes("department"),
        dispositions=codes("disposition"),
        churn_measures=codes("churn_measure"),
        churn_reasons=codes("churn_reason"),
    )


async def read_staff(conn: AsyncConnection) -> Staff:
    """The first active user of each role the rows name; the agents with their extensions."""
    rows = await conn.execute(
        text(
            "SELECT u.id, u.extension, r.name FROM users u "
            "JOIN user_roles ur ON ur.user_id = u.id JOIN roles r ON r.id = ur.role_id "
            "WHERE u.is_active ORDER BY u.id, r.name"
        )
    )
    first: dict[str, int] = {}
    agents: list[tuple[int | None, str]] = []
    for user_id, extension, role in rows:
        first.setdefault(role, user_id)
        if role in ("inbound_agent", "outbound_agent") and extension and len(agents) < 50:
            if (user_id, extension) not in agents:
                agents.append((user_id, extension))
    return Staff(
        account_manager=first.get("account_manager"),
        sales_manager=first.get("sales_manager"),
        service=first.get("service_staff"),
        agents=tuple(agents) or Staff().agents,
    )


async def _first_free_ids(conn: AsyncConnection) -> dict[str, int]:
    ids = {}
    for table in ID_TABLES:
        ids[table] = int(await conn.scalar(text(f"SELECT coalesce(max(id), 0) + 1 FROM {table}")))
    return ids


async def check_empty(conn: AsyncConnection) -> None:
    """Demo data goes into a CRM without customers (and without the demo's catalogue)."""
    customers = await conn.scalar(text("SELECT count(*) FROM customers"))
    if customers:
        raise Conflict(
            f"the database holds {customers:,} customers already: demo data is loaded into a "
            "CRM without customers (use an empty database)",
            field="customers",
        )
    taken = await conn.scalar(
        text(
            "SELECT (SELECT count(*) FROM warehouses WHERE code IN ('WH-NORTH', 'WH-SOUTH')) "
            "+ (SELECT count(*) FROM products WHERE code = 'P-10000')"
        )
    )
    if taken:
        raise Conflict(
            "the demo's catalogue (products P-10000 on, warehouses WH-NORTH and WH-SOUTH) "
            "exists already: demo data was loaded into this database before",
            field="code",
        )


async def load_demo_data(
    conn: AsyncConnection,
    plan: DemoPlan,
    *,
    progress: Callable[[str], None] | None = None,
    analyze: bool = True,
) -> LoadReport:
    """Write the plan's rows through ``conn`` (in its transaction; the caller commits). Raises
    Conflict when there are customers already."""
    started = time.perf_counter()
    await check_empty(conn)
    codes = await read_codes(conn)
    staff = await read_staff(conn)
    data = DemoData(plan, codes=codes, staff=staff, first_ids=await _first_free_ids(conn))
    report = LoadReport(Counter(), data.heavy_customer_ids)
    postgres = conn.dialect.name == "postgresql"
    if postgres:
        try:  # the rows are consistent by construction: skip the per-row FK triggers
            async with conn.begin_nested():
                await conn.execute(text("SET LOCAL session_replication_role = replica"))
            report.fk_checks_during_load = False
        except DBAPIError:  # not a superuser: the checks stay on
            report.fk_checks_during_load = True
        raw = await conn.get_raw_connection()
        writer: Writer = PostgresWriter(raw.driver_connection)
    else:
        writer = SqliteWriter(conn)
    report.method = writer.method
    # The next chunk is made on a thread while this one is written: the database's work on
    # a chunk (another process, or SQLite's C code) overlaps with making the next.
    chunks = data.chunks()
    upcoming = asyncio.ensure_future(asyncio.to_thread(next, chunks, None))
    try:
        while True:
            t0 = time.perf_counter()
            chunk = await upcoming
            t1 = time.perf_counter()
            report.generate_seconds += t1 - t0
            if chunk is None:
                break
            upcoming = asyncio.ensure_future(asyncio.to_thread(next, chunks, None))
            for table, rows in chunk.items():
                if rows:
                    await writer.write(table, rows)
                    report.rows[table] += len(rows)
            report.write_seconds += time.perf_counter() - t1
            if progress is not None:
                progress(f"{report.rows['customers']:,} of {plan.customers:,} customers loaded")
    finally:
        upcoming.cancel()  # a write failed: nobody waits for the next chunk
    if postgres:
        if not report.fk_checks_during_load:
            await conn.execute(text("SET LOCAL session_replication_role = DEFAULT"))
        for table in ID_TABLES:
            if report.rows[table]:
                await conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id)) "
                        f"FROM {table}"
                    )
                )
    if analyze:
        if postgres:
            await conn.execute(text(f"ANALYZE {', '.join(t for t in COLUMNS if report.rows[t])}"))
        else:
            await conn.execute(text("ANALYZE"))
    report.seconds = time.perf_counter() - started
    return report
