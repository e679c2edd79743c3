#!/usr/bin/env python3
"""Deterministic generator of realistic sample document pages with ground truth.

Renders English text pages (letters, memos, reports, meeting minutes,
notices, price lists, a two-column newsletter) as grayscale "scans" and
writes the exact text of every page beside the image.

Usage::

    # regenerate the shipped set in samples/ (byte-for-byte deterministic;
    # the PDFs need pikepdf, from the test extra)
    python samples/generate.py --out samples

    # N varied pages for benchmarks (mix of formats, layouts, 200/300 dpi)
    python samples/generate.py --out /tmp/bench --count 60 --seed 7

or from Python: ``generate_shipped(out_dir)`` and
``generate_pages(out_dir, count, seed) -> list[Path]``.

Ground-truth convention
-----------------------
* Every image ``NAME.EXT`` has a UTF-8 ground-truth file ``NAME.txt`` with the
  same stem in the same directory (``letter.png`` -> ``letter.txt``).
* The text is plain ASCII, one rendered line per text line, a blank line
  between blocks (paragraphs, headings, list items), ending with a newline.
* A multi-page file (``report.tiff``) has ONE ``.txt`` holding the pages in
  order, separated by a single form feed character (``"\\f"``, U+000C), with
  no trailing form feed: ``text.split("\\f")`` gives one string per page.
* Two-column pages: the heading, then the whole left column, then the whole
  right column (natural reading order).
* Running text is never hyphenated at line ends, so whitespace-normalised
  comparison (collapse all whitespace runs, including newlines and form
  feeds, to one space) is fair regardless of line breaking.
* ``manifest.json`` lists every image: ``{"file": relative path with "/",
  "pages": n, "kind": "clean" | "two-column" | "rotated" | "noisy",
  "format": "png" | "jpeg" | "tiff" | "bmp" | "webp" | "jp2" | "pdf", "dpi": n,
  "ground_truth": relative path of the .txt}``, plus ``"angle"`` (degrees
  counter-clockwise) for pages turned or skewed on purpose.  Kinds added for
  issue 12: "turned" (90/180/270), "skewed" (+-2-6 degrees), "degraded"
  (a crooked noisy copy).  Added for issue 11: format "jp2" (JPEG 2000,
  lossless, no resolution stored), and PDFs (format "pdf"): kind
  "scanned-pdf" (shipped pages as a scanner writes a PDF, one image per
  page and no text layer; ``"sources"`` lists the shipped images, one per
  PDF page, in order, so each PDF page can be compared with its image; the
  ground truth is theirs, joined by form feeds) and kind "text-pdf" (a
  born-digital PDF whose text layer is exactly its ground truth; ``"dpi"``
  is null: it has no pixels).

Fonts
-----
DejaVu Sans and DejaVu Serif (regular and bold) from the Debian package
``fonts-dejavu-core`` (``apt-get install fonts-dejavu-core``; free license,
Bitstream Vera derivative), looked up in /usr/share/fonts/truetype/dejavu or
the directory named by the ``BATCHOCR_FONT_DIR`` environment variable, and
Pillow's bundled default TrueType font (Aileron Regular, SIL Open Font
License, embedded in Pillow >= 10.1) via ``ImageFont.load_default(size=...)``.

Determinism
-----------
All randomness comes from ``random.Random`` instances with fixed seeds (no
numpy, no Pillow noise effects, which use the C library's ``rand()``).  The
output is byte-for-byte identical for the same Pillow build (its bundled
FreeType, zlib, libjpeg, libtiff, libwebp) and the same font files; another
Pillow or font version may change pixels (and therefore bytes) slightly.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import statistics
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

try:
    from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont
except ImportError:  # pragma: no cover
    sys.exit("samples/generate.py needs Pillow >= 10.1 (pip install Pillow)")

__all__ = ["generate_shipped", "generate_pages", "SHIPPED", "FontMissingError"]

# --------------------------------------------------------------------------
# Fonts
# --------------------------------------------------------------------------

FONT_PACKAGE = "fonts-dejavu-core"
FONT_DIRS = (
    "/usr/share/fonts/truetype/dejavu",
    "/usr/share/fonts/dejavu",  # other distributions
    "/usr/share/fonts/TTF",
)
FONT_FILES = {
    ("sans", False): "DejaVuSans.ttf",
    ("sans", True): "DejaVuSans-Bold.ttf",
    ("serif", False): "DejaVuSerif.ttf",
    ("serif", True): "DejaVuSerif-Bold.ttf",
}
FAMILIES = ("serif", "sans", "aileron")


class FontMissingError(RuntimeError):
    """A required font file is not installed."""


def _font_path(filename: str) -> str:
    dirs = list(FONT_DIRS)
    if os.environ.get("BATCHOCR_FONT_DIR"):
        dirs.insert(0, os.environ["BATCHOCR_FONT_DIR"])
    for d in dirs:
        p = os.path.join(d, filename)
        if os.path.isfile(p):
            return p
    raise FontMissingError(
        f"font {filename} not found in {', '.join(dirs)}; install the Debian "
        f"package {FONT_PACKAGE!r} (sudo apt-get install -y {FONT_PACKAGE}) "
        "or set BATCHOCR_FONT_DIR to a directory holding the DejaVu fonts"
    )


_FONT_CACHE: dict[tuple[str, bool, int], ImageFont.FreeTypeFont] = {}


def get_font(family: str, bold: bool, px: int) -> ImageFont.FreeTypeFont:
    key = (family, bold, px)
    font = _FONT_CACHE.get(key)
    if font is None:
        if family == "aileron":  # Pillow's embedded font, regular only
            font = ImageFont.load_default(size=px)
            if not isinstance(font, ImageFont.FreeTypeFont):
                raise FontMissingError(
                    "Pillow was built without FreeType; need Pillow >= 10.1 with FreeType"
                )
        else:
            font = ImageFont.truetype(_font_path(FONT_FILES[(family, bold)]), px)
        _FONT_CACHE[key] = font
    return font


def check_fonts() -> None:
    """Raise FontMissingError (naming the apt package) if a font is missing."""
    for name in FONT_FILES.values():
        _font_path(name)


# --------------------------------------------------------------------------
# Text: original prose built from word banks and sentence templates
# --------------------------------------------------------------------------

FIRST = [
    "Margaret", "Thomas", "Helen", "Samuel", "Ruth", "Daniel", "Clara",
    "Walter", "Irene", "Oscar", "Naomi", "Victor", "Edith", "Felix", "Louise",
    "Arthur", "Grace", "Howard", "Martha", "Leonard", "Alice", "Peter",
    "Judith", "Raymond", "Agnes", "Bernard", "Rosa", "Gordon",
]
LAST = [
    "Whitfield", "Okafor", "Lindqvist", "Harrow", "Castellano", "Brennan",
    "Adeyemi", "Fairbanks", "Moreau", "Kowalski", "Pemberton", "Nakamura",
    "Sutherland", "Abernathy", "Halvorsen", "Greaves", "Tennant", "Marsh",
    "Holloway", "Ramsden", "Quigley", "Dunmore", "Ellison", "Carver",
]
TOWNS = [
    "Millbrook", "Ashford Falls", "Cedar Hollow", "Port Elsworth",
    "Greyhaven", "Riverton", "Oakridge", "Stonebridge", "Westmere",
    "Larkfield", "Hollins Bay", "North Amberly", "Fenwick", "Marlow Green",
]
STREETS = [
    "Maple Avenue", "Harbor Road", "Quarry Lane", "Elm Street",
    "Station Road", "Willow Court", "Mill Street", "Chapel Row",
    "Orchard Drive", "Bridge Street", "Kingsley Place", "Foundry Lane",
]
ORGS = [
    "Northfield Supply Company", "Larkfield Printing Works",
    "Harrow and Sons Hardware", "Bluewater Freight Company",
    "Cedar Hollow Water Board", "Amberly Textile Cooperative",
    "Stonebridge Surveying Office", "Westmere Community Library",
    "Riverton Rowing Club", "Greyhaven Historical Society",
    "Oakridge Parish Council", "Port Elsworth Harbor Trust",
]
ITEMS = [
    ("copper pipe fittings", 0.85, 6.40), ("reams of bond paper", 3.10, 9.75),
    ("boxes of wood screws", 2.25, 7.90), ("gallons of exterior paint", 14.0, 38.5),
    ("spools of fencing wire", 11.5, 42.0), ("cases of lamp oil", 18.0, 55.0),
    ("replacement window panes", 6.75, 29.0), ("bags of cement", 5.40, 12.8),
    ("drafting pencils", 0.35, 1.90), ("storage crates", 4.50, 16.0),
    ("canvas tarpaulins", 12.0, 48.0), ("brass door hinges", 1.20, 6.50),
    ("rolls of roofing felt", 9.80, 31.0), ("sets of garden shears", 8.25, 24.0),
    ("packets of seed potatoes", 1.10, 4.80), ("coils of rope", 7.40, 22.5),
    ("ledger books", 3.60, 11.2), ("oak floor boards", 2.90, 8.70),
]
MONTHS = [
    "January", "February", "March", "April", "May", "June", "July",
    "August", "September", "October", "November", "December",
]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
QUARTERS = ["first", "second", "third", "fourth"]
ROLES = [
    "Office Manager", "Chief Engineer", "Treasurer", "Secretary",
    "Head Librarian", "Operations Director", "Site Supervisor",
    "Accounts Clerk", "Committee Chair", "Harbor Master",
]
SUBJECTS = [
    "Changes to the delivery schedule", "Annual maintenance of the pumps",
    "Use of the east meeting room", "Revised opening hours",
    "Budget for the coming year", "Storage of records and ledgers",
    "Safety inspection of the loading dock", "Parking during the repairs",
    "Training sessions for new staff", "Collection of overdue accounts",
]

LETTER_SENTENCES = [
    "Thank you for your letter of {date}, which reached our office on {weekday} morning.",
    "I am writing to confirm the arrangements we discussed during your visit to {town} last month.",
    "As requested, I have enclosed a copy of the revised schedule together with the signed agreement.",
    "The delivery of {qty} {item} is now expected on {date}, a delay of {small} days from the original estimate.",
    "We regret any inconvenience this may cause and will cover the additional freight charges ourselves.",
    "Please let me know by {date} whether the proposed terms are acceptable to your committee.",
    "Our records show a balance of {money} outstanding on account number {acct}.",
    "If the payment has already been sent, kindly disregard this reminder.",
    "The meeting room on the second floor will be available from {time} until {time2}.",
    "Mr. {last} has agreed to present the findings, and copies will be distributed beforehand.",
    "I would be grateful if you could forward this letter to the appropriate department.",
    "Should you have any questions, you may reach me at {phone} during ordinary office hours.",
    "With the summer season approaching, we expect demand to rise by roughly {pct} percent.",
    "Our workshop at {num} {street} will remain open throughout the repairs to the main building.",
    "The samples you sent were examined carefully, and all but {small} of them met the standard.",
    "We have decided to extend the trial period until the end of {month}.",
    "Your application has been received and will be considered at the next board meeting.",
    "I enclose a check for {money} in full settlement of invoice {acct}.",
    "Several members have asked whether the annual dinner will again be held at the old mill.",
    "It was a pleasure to meet you and your colleagues, and I hope we can work together again soon.",
    "The surveyors will arrive at {time} on {date} and expect to finish within {small} hours.",
    "Please note that our new telephone number is {phone}.",
]
REPORT_SENTENCES = [
    "During the {quarter} quarter, total output rose to {big} units, an increase of {pct}% over the same period last year.",
    "Operating costs remained close to the budgeted figure of {money}.",
    "The survey covered {n} households in {town} and the surrounding districts.",
    "Of the responses received, {pct}% rated the service as good or excellent.",
    "Water consumption peaked on {date} at {big} liters per day.",
    "The committee notes that the figures for {year} are provisional and may be revised.",
    "Staff numbers were unchanged at {n}, although two positions remain vacant.",
    "Repairs to the north wall were completed in {month} at a cost of {money}.",
    "Rainfall was well below average for most of the season, which reduced the demand for drainage work.",
    "The new ledger system has shortened the monthly closing of accounts from {small} days to two.",
    "A sample of {n} invoices was checked by hand, and no significant errors were found.",
    "Average waiting time at the counter fell from {small} minutes to just under four.",
    "The warehouse at {town} handled {big} parcels, most of them in the weeks before the holidays.",
    "Income from rents and fees reached {money}, slightly ahead of the forecast.",
    "Energy use per square meter declined for the third year in a row.",
    "Further details are given in the tables attached to this report.",
    "These results should be read with caution, since the sample in {town} was small.",
    "The board approved the purchase of {small} new delivery vans at its meeting on {date}.",
    "Visitor numbers at the reading room rose to {big}, the highest figure since {year0}.",
    "Maintenance requests were answered within {small} working days on average.",
]
LIST_ITEMS = [
    "Replace the pump valves at the {town} station before the end of {month}.",
    "Review the insurance policy for the warehouse on {street}.",
    "Publish the revised timetable no later than {date}.",
    "Hire {small} seasonal workers for the harvest period.",
    "Reduce paper use in the main office by {pct} percent.",
    "Inspect all fire doors and record the results in the safety log.",
    "Move the older records to the archive room on the ground floor.",
    "Set aside {money} for unexpected repairs.",
    "Agree a new contract with {org} by {date}.",
    "Train two more staff members to operate the loading crane.",
    "Repaint the railings along {street} before the autumn storms.",
    "Report the final figures to the council at the {month} meeting.",
    "Order {qty} {item} for the spring season.",
    "Check the water meters in {town} and correct any faulty readings.",
]
MINUTES_ITEMS = [
    "The minutes of the previous meeting were read, approved and signed.",
    "The treasurer reported a balance of {money} in the general account.",
    "{first} {last} raised the question of parking near the hall; the matter was referred to the next meeting.",
    "It was agreed that the spring fair will be held on {date}, weather permitting.",
    "The secretary read a letter from {org} offering the loan of {small} tables.",
    "Members voted {n} to {small} in favor of raising the annual subscription to {money}.",
    "The chair thanked the volunteers who repaired the roof of the boat house.",
    "A working group of three members will prepare a plan for the garden by {month}.",
    "No other business was raised, and the meeting closed at {time}.",
    "The next meeting will take place on {date} at {time} in the library annex.",
    "Apologies were received from {first} {last} and {first2} {last2}.",
    "The report on the condition of the footbridge was noted with concern.",
]
GENERAL_SENTENCES = [
    "The river at {town} rose quickly after the storm, and the lower fields were under water for several days.",
    "Most of the old warehouses along the harbor have been converted into workshops and small offices.",
    "A short walk from the station leads to the market square, where traders gather every {weekday}.",
    "The library keeps a collection of maps and parish records going back more than two hundred years.",
    "In the early morning the valley is often filled with mist, which clears by about nine o'clock.",
    "The stone bridge was widened in {year0} to allow two carts to pass each other safely.",
    "Local farmers grow barley, potatoes and apples, and many families keep bees.",
    "Visitors are asked to keep to the marked paths and to close every gate behind them.",
    "The clock on the town hall has been repaired and now keeps good time again.",
    "A new bus route connects {town} with the coast three times a day.",
    "The old mill wheel turned for the last time in {year0}, but the building still stands.",
    "Every summer the rowing club holds a regatta on the long straight below the weir.",
    "The school has raised enough money to replace the roof of its gymnasium.",
    "Heavy snow in {month} closed the mountain road for nearly a week.",
    "Volunteers planted {n} young trees along the northern edge of the common.",
    "The museum is open from {time} to {time2} every day except {weekday}.",
    "Fresh bread, cheese and honey can be bought at the farm shop on {street}.",
    "Plans for a second footbridge were approved after a long public consultation.",
    "The lighthouse keeper kept a careful record of the weather for over forty years.",
    "Much of the timber used in the old houses came from the forest to the west.",
    "Residents have complained about the noise from the quarry, which now works on Saturdays.",
    "An exhibition of photographs from the last century will open at the town hall on {date}.",
    "The ferry to the island runs twice a day in summer and once a day in winter.",
    "Children from the village school spent a morning counting birds in the marsh.",
    "The footpath along the canal has been resurfaced between the lock and the old brewery.",
    "A small orchestra gives concerts in the church hall on the first {weekday} of each month.",
    "The market hall was built in {year0} from brick made in the kilns south of the river.",
    "Parking on {street} will be restricted while the drains are replaced.",
    "The allotment society has {n} members and a waiting list of more than twenty names.",
    "Records kept by the harbor office show that the winter of {year0} was the coldest in memory.",
]
HEADINGS_REPORT = [
    "Annual Report of the {org}", "Quarterly Operations Summary",
    "Report on Water Supply in {town}", "Survey of Local Services, {year}",
    "Review of Maintenance Work, {year}", "Findings of the Audit Committee",
]
HEADINGS_NOTICE = [
    "Notice to Residents of {town}", "Public Notice", "Changes to Opening Hours",
    "A Short History of {town}", "Guide for New Members", "Road Closure on {street}",
]
HEADINGS_NEWS = [
    "The {town} Gazette", "News from {town}", "Community Newsletter",
    "The {town} Courier", "Harbor Trust Bulletin",
]
SECTION_TITLES = [
    "Summary", "Background", "Finances", "Operations", "Staff", "Premises",
    "Recommendations", "Outlook", "Method", "Results", "Conclusions",
]


class TextMaker:
    """Fills sentence templates from the word banks with a seeded RNG."""

    def __init__(self, rng: random.Random):
        self.r = rng
        self.year = rng.randint(2015, 2025)
        self.used: set[str] = set()

    def date(self) -> str:
        r = self.r
        m = r.randrange(12)
        d = r.randint(1, 28)
        style = r.random()
        if style < 0.6:
            return f"{MONTHS[m]} {d}, {self.year}"
        if style < 0.85:
            return f"{d} {MONTHS[m]} {self.year}"
        return f"{self.year}-{m + 1:02d}-{d:02d}"

    def money(self) -> str:
        v = self.r.choice([self.r.randint(12, 950), self.r.randint(1000, 48000)])
        cents = self.r.choice([0, 0, self.r.randint(1, 99)])
        return f"${v:,}.{cents:02d}"

    def time(self) -> str:
        h = self.r.randint(8, 11)
        return f"{h}:{self.r.choice(['00', '15', '30', '45'])} a.m."

    def time2(self) -> str:
        h = self.r.randint(1, 6)
        return f"{h}:{self.r.choice(['00', '30'])} p.m."

    def fill(self, template: str) -> str:
        r = self.r
        item = r.choice(ITEMS)
        values = {
            "date": self.date(), "weekday": r.choice(WEEKDAYS),
            "town": r.choice(TOWNS), "street": r.choice(STREETS),
            "qty": str(r.choice([12, 20, 24, 36, 40, 48, 60, 75, 120, 150, 200])),
            "item": item[0], "small": str(r.randint(2, 9)),
            "money": self.money(), "acct": f"{r.randint(10, 99)}-{r.randint(1000, 9999)}",
            "time": self.time(), "time2": self.time2(),
            "last": r.choice(LAST), "first": r.choice(FIRST),
            "last2": r.choice(LAST), "first2": r.choice(FIRST),
            "phone": f"({r.randint(200, 989)}) 555-{r.randint(1000, 9999)}",
            "pct": str(r.choice([r.randint(3, 40), round(r.uniform(1, 30), 1)])),
            "num": str(r.randint(2, 240)), "month": r.choice(MONTHS),
            "quarter": r.choice(QUARTERS), "big": f"{r.randint(1200, 98000):,}",
            "n": str(r.randint(14, 480)), "year": str(self.year),
            "year0": str(r.randint(1851, 1978)), "org": r.choice(ORGS),
        }
        # "... at 9:30 a.m." at a sentence end must not get a second period
        return template.format(**values).replace(".m..", ".m.")

    def sentences(self, pool: list[str], k: int) -> list[str]:
        """k filled templates from pool, avoiding templates already used in
        this document until the pool runs out."""
        pool = list(dict.fromkeys(pool))
        k = min(k, len(pool))
        fresh = [t for t in pool if t not in self.used]
        if len(fresh) < k:
            self.used.difference_update(pool)
            fresh = pool
        chosen = self.r.sample(fresh, k)
        self.used.update(chosen)
        return [self.fill(t) for t in chosen]

    def paragraph(self, pools: list[list[str]], lo: int = 3, hi: int = 5) -> str:
        pool = [t for p in pools for t in p]
        return " ".join(self.sentences(pool, self.r.randint(lo, hi)))

    def name(self) -> str:
        return f"{self.r.choice(FIRST)} {self.r.choice(LAST)}"


# Blocks: (kind, text).  kinds: title, heading, line, para, item, sign
Block = tuple[str, str]


def _words(blocks: list[Block]) -> int:
    return sum(len(t.split()) for _, t in blocks)


def _fill_paras(tm: TextMaker, blocks: list[Block], pools, target: int,
                tail: list[Block] | None = None, lo: int = 3, hi: int = 5) -> list[Block]:
    tail = tail or []
    while _words(blocks) + _words(tail) < target:
        blocks.append(("para", tm.paragraph(pools, lo, hi)))
    return blocks + tail


def doc_letter(tm: TextMaker, target: int) -> list[Block]:
    r = tm.r
    org = r.choice(ORGS)
    town = r.choice(TOWNS)
    sender = tm.name()
    blocks: list[Block] = [
        ("title", org),
        ("line", f"{r.randint(2, 240)} {r.choice(STREETS)}, {town}"),
        ("line", tm.date()),
        ("line", f"{r.choice(['Mr.', 'Mrs.', 'Ms.', 'Dr.'])} {tm.name()}\n"
                 f"{r.randint(2, 240)} {r.choice(STREETS)}\n{r.choice(TOWNS)}"),
        ("line", f"Dear {r.choice(['Mr.', 'Mrs.', 'Ms.', 'Dr.'])} {r.choice(LAST)},"),
    ]
    tail: list[Block] = [("line", f"{r.choice(['Yours sincerely,', 'With kind regards,', 'Sincerely,'])}\n\n{sender}\n{r.choice(ROLES)}")]
    return _fill_paras(tm, blocks, [LETTER_SENTENCES, GENERAL_SENTENCES[:8]], target, tail)


def doc_memo(tm: TextMaker, target: int) -> list[Block]:
    r = tm.r
    blocks: list[Block] = [
        ("title", "MEMORANDUM"),
        ("line", f"To: {r.choice(['All department heads', 'Office staff', 'Members of the board', 'Warehouse team'])}\n"
                 f"From: {tm.name()}, {r.choice(ROLES)}\n"
                 f"Date: {tm.date()}\n"
                 f"Subject: {r.choice(SUBJECTS)}"),
    ]
    blocks = _fill_paras(tm, blocks, [LETTER_SENTENCES, REPORT_SENTENCES], target - 40)
    blocks.append(("para", tm.paragraph([LETTER_SENTENCES], 1, 2)))
    return blocks


def doc_report(tm: TextMaker, target: int, title: str | None = None) -> list[Block]:
    r = tm.r
    blocks: list[Block] = [("title", title or tm.fill(r.choice(HEADINGS_REPORT)))]
    sections = r.sample(SECTION_TITLES, 4)
    n = 1
    while _words(blocks) < target:
        blocks.append(("heading", f"{n}. {sections[(n - 1) % 4]}"))
        blocks.append(("para", tm.paragraph([REPORT_SENTENCES], 3, 5)))
        if n == 2 or (n > 2 and r.random() < 0.5):
            for i, it in enumerate(tm.sentences(LIST_ITEMS, r.randint(3, 5)), 1):
                blocks.append(("item", f"({chr(96 + i)})\t{it}"))
        n += 1
    return blocks


def doc_minutes(tm: TextMaker, target: int) -> list[Block]:
    r = tm.r
    org = r.choice(ORGS)
    present = ", ".join(tm.name() for _ in range(r.randint(4, 7)))
    blocks: list[Block] = [
        ("title", f"Minutes of the {org}"),
        ("line", f"Meeting held on {tm.date()} at {tm.time()}"),
        ("para", f"Present: {present}."),
    ]
    items = tm.sentences(MINUTES_ITEMS, len(MINUTES_ITEMS))
    for it in items:
        if _words(blocks) >= target:
            break
        # unnumbered: tesseract often splits a column of "1." "2." labels
        # off as a separate block, which would make a "clean" page unfair
        blocks.append(("item", it))
    blocks.append(("line", f"Signed: {tm.name()}, {r.choice(['Chair', 'Secretary'])}"))
    return blocks


def doc_notice(tm: TextMaker, target: int) -> list[Block]:
    r = tm.r
    blocks: list[Block] = [("title", tm.fill(r.choice(HEADINGS_NOTICE)))]
    return _fill_paras(tm, blocks, [GENERAL_SENTENCES], target)


def doc_pricelist(tm: TextMaker, target: int) -> list[Block]:
    r = tm.r
    org = r.choice(ORGS)
    blocks: list[Block] = [
        ("title", f"{org}: Price List"),
        ("line", f"Valid from {tm.date()}. All prices include delivery within {r.choice(TOWNS)}."),
    ]
    items = r.sample(ITEMS, len(ITEMS))
    for i, (name, lo, hi) in enumerate(items, 1):
        if _words(blocks) >= target - 30:
            break
        price = round(r.uniform(lo, hi), 2)
        qty = r.choice([10, 25, 50, 100])
        # no "1." labels: a column of numbers is segmented as a separate block
        blocks.append(("item", f"{name[0].upper() + name[1:]}: ${price:.2f} each, "
                               f"or ${price * qty * 0.9:,.2f} for {qty} (10% discount)."))
    blocks.append(("para", tm.paragraph([LETTER_SENTENCES], 2, 2)))
    return blocks


def doc_news(tm: TextMaker, target: int) -> list[Block]:
    r = tm.r
    blocks: list[Block] = [("title", tm.fill(r.choice(HEADINGS_NEWS)))]
    heads = r.sample(["Repairs at {town}", "Spring Fair", "Library News", "From the Council",
                      "Harbor Report", "Weather Notes", "Club News", "Letters", "Roads",
                      "Around {town}", "Notes from the Archive", "Gardens"], 12)
    while _words(blocks) < target:
        blocks.append(("heading", tm.fill(heads[(len(blocks) // 2) % len(heads)])))
        blocks.append(("para", tm.paragraph([GENERAL_SENTENCES, MINUTES_ITEMS], 3, 4)))
    return blocks


DOCS = {
    "letter": doc_letter, "memo": doc_memo, "report": doc_report,
    "minutes": doc_minutes, "notice": doc_notice, "pricelist": doc_pricelist,
    "news": doc_news,
}

# --------------------------------------------------------------------------
# Layout and rendering
# --------------------------------------------------------------------------

PAPER = {"letter": (8.5, 11.0), "a4": (8.2677, 11.6929), "a5": (5.8268, 8.2677)}


@dataclass
class Style:
    dpi: int = 200
    paper: str = "letter"
    family: str = "serif"
    size_pt: float = 11.0
    spacing: float = 1.45  # line height / font size
    margin_in: float = 1.0
    columns: int = 1
    justify: bool = False
    indent_first: bool = False  # first-line indent instead of block spacing
    title_center: bool = True
    ink: int = 28
    background: int = 250
    footer: str | None = None

    @property
    def size(self) -> tuple[int, int]:
        w, h = PAPER[self.paper]
        return round(w * self.dpi), round(h * self.dpi)

    def px(self, pt: float) -> int:
        return max(8, round(pt * self.dpi / 72))


@dataclass
class _Line:
    words: list[str]
    font: ImageFont.FreeTypeFont
    x: int
    width: int  # available width (for justification / centring)
    justify: bool = False
    center: bool = False
    gap_before: int = 0
    height: int = 0
    new_block: bool = False

    @property
    def text(self) -> str:
        return " ".join(self.words)


def _wrap(words: list[str], font, width: int, first_width: int | None = None) -> list[list[str]]:
    lines: list[list[str]] = []
    cur: list[str] = []
    limit = first_width if first_width is not None else width
    for w in words:
        trial = " ".join(cur + [w])
        if cur and font.getlength(trial) > limit:
            lines.append(cur)
            cur = [w]
            limit = width
        else:
            cur.append(w)
    if cur:
        lines.append(cur)
    return lines


def _layout(blocks: list[Block], st: Style, col_x: int, col_w: int) -> list[_Line]:
    """Turn blocks into a flat list of lines (positions x only; y later)."""
    body = get_font(st.family, False, st.px(st.size_pt))
    lh = round(st.px(st.size_pt) * st.spacing)
    out: list[_Line] = []
    for kind, text in blocks:
        gap = lh // 2 if not st.indent_first or kind != "para" else 0
        if kind == "title":
            f = get_font(st.family, True, st.px(st.size_pt * 1.6))
            h = round(st.px(st.size_pt * 1.6) * 1.3)
            for i, ws in enumerate(_wrap(text.split(), f, col_w)):
                out.append(_Line(ws, f, col_x, col_w, center=st.title_center,
                                 gap_before=0 if i else lh, height=h, new_block=i == 0))
            continue
        if kind == "heading":
            f = get_font(st.family, True, st.px(st.size_pt * 1.15))
            for i, ws in enumerate(_wrap(text.split(), f, col_w)):
                out.append(_Line(ws, f, col_x, col_w, gap_before=0 if i else lh * 3 // 4,
                                 height=lh, new_block=i == 0))
            continue
        if kind == "line":  # explicit line breaks, no wrapping; "" = blank line
            first = True
            for raw in text.split("\n"):
                if not raw:
                    out.append(_Line([], body, col_x, col_w, height=lh))
                    continue
                for ws in _wrap(raw.split(), body, col_w):
                    out.append(_Line(ws, body, col_x, col_w, gap_before=gap if first else 0,
                                     height=lh, new_block=first))
                    first = False
            continue
        if kind == "item":
            # label inline on the first line, continuation lines indented
            label, _, rest = text.rpartition("\t")
            # no hanging indent under a label: with one, tesseract takes the
            # column of "1." "2." ... for a separate text column
            hang = 0 if label else round(st.px(st.size_pt) * 1.5)
            words = ([label] if label else []) + rest.split()
            lines = _wrap(words, body, col_w - hang, col_w)
            for i, ws in enumerate(lines):
                x = col_x + (hang if i else 0)
                out.append(_Line(ws, body, x, col_w - (hang if i else 0),
                                 # never justified: a stretched gap after "1."
                                 # turns the labels into a separate column
                                 justify=False,
                                 gap_before=gap // 2 if i == 0 else 0, height=lh,
                                 new_block=i == 0))
            continue
        # para
        indent = round(st.px(st.size_pt) * 2) if st.indent_first else 0
        lines = _wrap(text.split(), body, col_w, col_w - indent)
        for i, ws in enumerate(lines):
            x = col_x + (indent if i == 0 else 0)
            w = col_w - (indent if i == 0 else 0)
            out.append(_Line(ws, body, x, w, justify=st.justify and i < len(lines) - 1,
                             gap_before=gap if i == 0 else 0, height=lh, new_block=i == 0))
    if out:
        out[0].gap_before = 0
    return out


def _draw_line(draw: ImageDraw.ImageDraw, ln: _Line, y: int, ink: int) -> None:
    if not ln.words:
        return
    text = ln.text
    if ln.center:
        x = ln.x + (ln.width - ln.font.getlength(text)) / 2
        draw.text((round(x), y), text, font=ln.font, fill=ink)
    elif ln.justify and len(ln.words) > 1:
        widths = [ln.font.getlength(w) for w in ln.words]
        space = (ln.width - sum(widths)) / (len(ln.words) - 1)
        space = min(space, ln.font.getlength(" ") * 2.2)
        x = float(ln.x)
        for w, wd in zip(ln.words, widths):
            draw.text((round(x), y), w, font=ln.font, fill=ink)
            x += wd + space
    else:
        draw.text((ln.x, y), text, font=ln.font, fill=ink)


def _gt(lines: list[_Line]) -> str:
    parts: list[str] = []
    for ln in lines:
        t = ln.text
        if ln.new_block and parts:
            parts.append("")
        if t:
            parts.append(t)
    return "\n".join(parts)


def render_page(blocks: list[Block], st: Style, rng: random.Random) -> tuple[Image.Image, str]:
    """Render blocks on one page (truncating what does not fit).

    Returns a grayscale image and its ground-truth text."""
    W, H = st.size
    img = Image.new("L", (W, H), st.background)
    draw = ImageDraw.Draw(img)
    m = round(st.margin_in * st.dpi)
    # a scanner never places the page exactly: small random offset
    ox = rng.randint(-st.dpi // 20, st.dpi // 20)
    oy = rng.randint(-st.dpi // 20, st.dpi // 20)
    left, top, right, bottom = m + ox, m + oy, W - m + ox, H - m + oy
    if st.footer:
        bottom -= st.px(st.size_pt) * 3
    full_w = right - left
    texts: list[str] = []

    if st.columns == 1:
        columns = [(left, full_w)]
        body = blocks
        y0 = top
    else:
        head = [b for b in blocks[:1] if b[0] == "title"]
        body = blocks[len(head):]
        y = top
        if head:
            placed = []
            for ln in _layout(head, st, left, full_w):
                y += ln.gap_before
                _draw_line(draw, ln, y, st.ink)
                placed.append(ln)
                y += ln.height
            texts.append(_gt(placed))
            # a rule under the masthead, as in newsletters
            y += st.px(st.size_pt) // 2
            draw.line([(left, y), (right, y)], fill=st.ink, width=max(2, st.dpi // 100))
            y += st.px(st.size_pt)
        y0 = y
        gutter = round(st.dpi * 0.45)
        col_w = (full_w - gutter) // 2
        columns = [(left, col_w), (left + col_w + gutter, col_w)]

    # Place lines column by column (x, y), then draw.
    lines = _layout(body, st, 0, columns[0][1])
    placed_at: list[tuple[int, _Line, int, int]] = []  # (column, line, x, y)
    i = 0
    for c, (cx, _) in enumerate(columns):
        y = y0
        first = True
        while i < len(lines):
            ln = lines[i]
            g = 0 if first else ln.gap_before
            if y + g + ln.height > bottom:
                break
            y += g
            placed_at.append((c, ln, cx + ln.x, y))
            y += ln.height
            first = False
            i += 1
    # Never cut a block (paragraph, list item) at the foot of the page:
    # drop the unfinished block entirely.
    if i < len(lines):
        keep = len(placed_at)
        while keep and not lines[keep].new_block:
            keep -= 1
        if keep:
            placed_at = placed_at[:keep]
    for c in range(len(columns)):
        col_lines = []
        for cc, ln, x, y in placed_at:
            if cc == c:
                ln.x = x
                _draw_line(draw, ln, y, st.ink)
                col_lines.append(ln)
        if col_lines:
            texts.append(_gt(col_lines))
    if st.footer:
        f = get_font(st.family, False, st.px(st.size_pt * 0.9))
        ln = _Line(st.footer.split(), f, left, full_w, center=True)
        _draw_line(draw, ln, H - m + oy - st.px(st.size_pt), st.ink)
        texts.append(st.footer)
    return img, "\n\n".join(t for t in texts if t)


# --------------------------------------------------------------------------
# "Scanner" effects (all deterministic)
# --------------------------------------------------------------------------

def _gauss_lut(sigma: float) -> list[int]:
    """Map a uniform byte to a Gaussian offset around 128 (inverse CDF)."""
    nd = statistics.NormalDist(0, sigma)
    return [max(0, min(255, 128 + round(nd.inv_cdf((u + 0.5) / 256)))) for u in range(256)]


def add_noise(img: Image.Image, rng: random.Random, sigma: float) -> Image.Image:
    noise = Image.frombytes("L", img.size, rng.randbytes(img.size[0] * img.size[1]))
    noise = noise.point(_gauss_lut(sigma))
    return ImageChops.add(img, noise, scale=1.0, offset=-128)


def add_specks(img: Image.Image, rng: random.Random, ink: int) -> Image.Image:
    """Sparse dust: a pixel is a speck where two uniform bytes are both 0."""
    n = img.size[0] * img.size[1]
    a = Image.frombytes("L", img.size, rng.randbytes(n))
    b = Image.frombytes("L", img.size, rng.randbytes(n))
    mask = ImageChops.lighter(a, b).point(lambda v: 255 if v == 0 else 0)
    mask = mask.filter(ImageFilter.MaxFilter(3)).filter(ImageFilter.GaussianBlur(0.7))
    dark = Image.new("L", img.size, ink)
    return Image.composite(dark, img, mask)


def shade(img: Image.Image, rng: random.Random, depth: int) -> Image.Image:
    """Uneven illumination: a smooth horizontal+vertical gradient."""
    w, h = img.size
    g = Image.linear_gradient("L").resize((w, h), Image.Resampling.BILINEAR)
    if rng.random() < 0.5:
        g = g.transpose(Image.Transpose.ROTATE_90).resize((w, h))
    g = g.point(lambda v: 255 - depth * v // 255)
    return ImageChops.multiply(img, g)


def scan_clean(img: Image.Image, st: Style) -> Image.Image:
    """Light optical softening of a clean scan."""
    return img.filter(ImageFilter.GaussianBlur(0.35 * st.dpi / 200))


def scan_rotated(img: Image.Image, st: Style, angle: float) -> Image.Image:
    img = img.rotate(angle, resample=Image.Resampling.BICUBIC, expand=False,
                     fillcolor=st.background)
    return img.filter(ImageFilter.GaussianBlur(0.35 * st.dpi / 200))


def scan_turned(img: Image.Image, st: Style, angle: float) -> Image.Image:
    """A page fed sideways or upside down: a quarter turn (90, 180 or 270
    degrees counter-clockwise), exact, so the page is the same pixels turned."""
    turns = {90: Image.Transpose.ROTATE_90, 180: Image.Transpose.ROTATE_180,
             270: Image.Transpose.ROTATE_270}
    return scan_clean(img, st).transpose(turns[round(angle) % 360])


def scan_degraded(img: Image.Image, st: Style, rng: random.Random, angle: float,
                  severity: float) -> Image.Image:
    """A tired photocopy fed crooked: skew by ``angle`` first (the copy was
    crooked on the glass), then the cheap scanner's damage."""
    img = img.rotate(angle, resample=Image.Resampling.BICUBIC, fillcolor=st.background)
    return scan_noisy(img, st, rng, severity)


def scan_noisy(img: Image.Image, st: Style, rng: random.Random,
               severity: float = 1.0) -> Image.Image:
    """Cheap scanner: slight skew, uneven light, low optical resolution,
    blur, sensor noise and dust (JPEG artifacts come from saving).
    ``severity`` 0..1 scales the damage (1.0 is the shipped noisy page)."""
    sv = max(0.0, min(1.0, severity))
    img = img.rotate(rng.uniform(-0.8, 0.8), resample=Image.Resampling.BILINEAR,
                     fillcolor=st.background)
    img = shade(img, rng, rng.randint(round(10 + 20 * sv), round(15 + 35 * sv)))
    w, h = img.size
    f = rng.uniform(0.85 - 0.3 * sv, 0.9 - 0.25 * sv)
    img = img.resize((round(w * f), round(h * f)), Image.Resampling.BOX)
    img = img.resize((w, h), Image.Resampling.BILINEAR)
    img = img.filter(ImageFilter.GaussianBlur((0.4 + 0.4 * sv) * st.dpi / 200))
    img = add_noise(img, rng, rng.uniform(6 + 10 * sv, 8 + 14 * sv))
    img = add_specks(img, rng, st.ink + 20)
    return img


# --------------------------------------------------------------------------
# Saving
# --------------------------------------------------------------------------

def _exif_dpi(dpi: int) -> bytes:
    exif = Image.Exif()
    exif[0x011A] = float(dpi)  # XResolution
    exif[0x011B] = float(dpi)  # YResolution
    exif[0x0128] = 2  # ResolutionUnit: inch
    return exif.tobytes()


def save_image(pages: list[Image.Image], path: Path, fmt: str, dpi: int,
               jpeg_quality: int = 80) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    d = (dpi, dpi)
    if fmt == "png":
        pages[0].save(path, "PNG", optimize=True, dpi=d)
    elif fmt == "jpeg":
        pages[0].save(path, "JPEG", quality=jpeg_quality, optimize=True, dpi=d)
    elif fmt == "tiff":
        bw = [p.point(lambda v: 255 if v >= 150 else 0).convert("1") for p in pages]
        bw[0].save(path, "TIFF", save_all=True, append_images=bw[1:],
                   compression="group4", dpi=d)
    elif fmt == "tiff-lzw":
        pages[0].save(path, "TIFF", save_all=True, append_images=pages[1:],
                      compression="tiff_lzw", dpi=d)
    elif fmt == "bmp":  # 1-bit: an 8-bit grayscale BMP of a page is ~4 MB
        pages[0].point(lambda v: 255 if v >= 150 else 0).convert("1").save(path, "BMP", dpi=d)
    elif fmt == "webp":
        pages[0].save(path, "WEBP", lossless=True, quality=100, method=4, exif=_exif_dpi(dpi))
    elif fmt == "jp2":  # lossless, as archival masters are; Pillow writes no resolution box
        pages[0].save(path, "JPEG2000", irreversible=False)
    else:
        raise ValueError(f"unknown format {fmt!r}")


EXT = {"png": ".png", "jpeg": ".jpg", "tiff": ".tiff", "tiff-lzw": ".tif",
       "bmp": ".bmp", "webp": ".webp", "jp2": ".jp2"}


# --------------------------------------------------------------------------
# Page specifications
# --------------------------------------------------------------------------

@dataclass
class Spec:
    file: str  # relative path, "/" separated, with extension
    kind: str  # clean | two-column | rotated | noisy | turned | skewed | degraded
    fmt: str
    doc: str
    seed: int
    style: Style
    pages: int = 1
    words: tuple[int, int] = (220, 330)
    angle: float = 0.0  # degrees counter-clockwise (PIL's sense); negative = clockwise
    jpeg_quality: int = 80
    severity: float = 0.9  # noisy pages only


_A5 = Style(dpi=200, paper="a5", family="serif", size_pt=11, margin_in=0.7)
_A5_TIRED = Style(dpi=200, paper="a5", family="serif", size_pt=11, margin_in=0.7, ink=45,
                  background=232)

SHIPPED: list[Spec] = [
    Spec("letter.png", "clean", "png", "letter", 101,
         Style(dpi=200, paper="letter", family="serif", size_pt=11)),
    Spec("memo.png", "clean", "png", "memo", 102,
         Style(dpi=300, paper="a4", family="sans", size_pt=10.5, justify=True),
         words=(250, 320)),
    Spec("quarterly-report.png", "clean", "png", "report", 103,
         Style(dpi=200, paper="letter", family="serif", size_pt=11, justify=True,
               title_center=False), words=(300, 380)),
    Spec("meeting minutes.png", "clean", "png", "minutes", 104,
         Style(dpi=200, paper="letter", family="aileron", size_pt=12, spacing=1.5)),
    Spec("notice.jpg", "clean", "jpeg", "notice", 105,
         Style(dpi=200, paper="letter", family="sans", size_pt=11, indent_first=True),
         jpeg_quality=82),
    Spec("report.tiff", "clean", "tiff", "report", 106,
         Style(dpi=300, paper="a4", family="serif", size_pt=11, justify=True,
               title_center=False), pages=3, words=(230, 320)),
    Spec("two-column.png", "two-column", "png", "news", 107,
         Style(dpi=200, paper="letter", family="serif", size_pt=10.5, columns=2,
               margin_in=0.8, justify=True), words=(340, 400)),
    Spec("rotated.png", "rotated", "png", "letter", 108,
         Style(dpi=200, paper="letter", family="sans", size_pt=11), angle=2.5),
    Spec("noisy-scan.jpg", "noisy", "jpeg", "memo", 109,
         Style(dpi=200, paper="letter", family="serif", size_pt=12, ink=45,
               background=232), jpeg_quality=30),
    Spec("price-list.bmp", "clean", "bmp", "pricelist", 110,
         Style(dpi=200, paper="letter", family="sans", size_pt=11)),
    Spec("archive/2019/old-letter.png", "clean", "png", "letter", 111,
         Style(dpi=200, paper="letter", family="serif", size_pt=12, indent_first=True,
               ink=40, background=244)),
    Spec("archive/2019/circular.webp", "clean", "webp", "notice", 112,
         Style(dpi=200, paper="letter", family="serif", size_pt=11, justify=True)),
    # Pages as archives hold them (issue 12): turned a quarter or half turn,
    # fed crooked, tired copies.  A5 and short, to keep the suite quick.
    *[Spec(f"accuracy/turned-{angle}.png", "turned", "png", doc, seed, _A5, words=(90, 120),
           angle=angle)
      for angle, doc, seed in ((90, "letter", 201), (180, "memo", 202), (270, "notice", 203))],
    *[Spec(f"accuracy/skewed-{'cw' if angle < 0 else 'ccw'}{abs(angle):g}.png", "skewed", "png",
           doc, seed, _A5, words=(90, 120), angle=angle)
      for angle, doc, seed in ((-2, "report", 204), (-4, "letter", 205), (3, "memo", 206),
                               (-6, "notice", 207), (5.5, "letter", 208))],
    Spec("accuracy/degraded-1.jpg", "degraded", "jpeg", "letter", 209,
         _A5_TIRED, words=(90, 120), angle=-3, jpeg_quality=35, severity=0.8),
    Spec("accuracy/degraded-2.jpg", "degraded", "jpeg", "memo", 210,
         _A5_TIRED, words=(90, 120), angle=1.5, jpeg_quality=30, severity=0.9),
    # A JPEG 2000 master, as archives keep them (issue 11).  A5 and short.
    Spec("archive/2019/minutes.jp2", "clean", "jp2", "minutes", 113,
         Style(dpi=200, paper="a5", family="sans", size_pt=11, margin_in=0.7), words=(90, 120)),
]


def build_page(spec: Spec, out_dir: Path) -> tuple[Path, str, int]:
    """Render, degrade and save one Spec; write its .txt.  Returns
    (image path, ground truth, pages)."""
    rng = random.Random(spec.seed)
    tm = TextMaker(rng)
    st = spec.style
    images: list[Image.Image] = []
    truths: list[str] = []
    title = None
    for p in range(spec.pages):
        target = rng.randint(*spec.words)
        if spec.pages > 1:
            st = Style(**{**st.__dict__, "footer": f"Page {p + 1} of {spec.pages}"})
        if spec.doc == "report" and spec.pages > 1:
            if title is None:
                title = tm.fill(rng.choice(HEADINGS_REPORT))
            blocks = doc_report(tm, target, title if p == 0 else f"{title} (continued)")
        else:
            blocks = DOCS[spec.doc](tm, target)
        img, gt = render_page(blocks, st, rng)
        if spec.kind in ("rotated", "skewed"):
            img = scan_rotated(img, st, spec.angle)
        elif spec.kind == "turned":
            img = scan_turned(img, st, spec.angle)
        elif spec.kind == "degraded":
            img = scan_degraded(img, st, rng, spec.angle, spec.severity)
        elif spec.kind == "noisy":
            img = scan_noisy(img, st, rng, spec.severity)
        else:
            img = scan_clean(img, st)
        images.append(img)
        truths.append(gt.strip("\n"))
    path = out_dir / spec.file
    save_image(images, path, spec.fmt, st.dpi, spec.jpeg_quality)
    text = "\f".join(truths) + "\n"
    path.with_suffix(".txt").write_text(text, encoding="utf-8", newline="\n")
    return path, text, spec.pages


def _manifest_entry(spec: Spec) -> dict:
    return {
        "file": spec.file, "pages": spec.pages, "kind": spec.kind,
        "format": "tiff" if spec.fmt.startswith("tiff") else spec.fmt,
        "dpi": spec.style.dpi,
        "ground_truth": spec.file.rsplit(".", 1)[0] + ".txt",
        # degrees counter-clockwise the page was turned or skewed (absent: 0)
        **({"angle": spec.angle} if spec.angle else {}),
    }


def _write_manifest(out_dir: Path, entries: list[dict]) -> None:
    (out_dir / "manifest.json").write_text(json.dumps(entries, indent=2) + "\n",
                                           encoding="utf-8", newline="\n")


# --------------------------------------------------------------------------
# PDFs (issue 11): a scan saved as PDF, and a PDF with real text
# --------------------------------------------------------------------------

@dataclass
class ScannedPdf:
    """Shipped pages put in one PDF as a scanner writes it: one image per
    page, no text layer (see ``write_scanned_pdf``)."""

    file: str
    sources: tuple[str, ...]  # shipped single-page images, one PDF page each, in order


@dataclass
class TextPdf:
    """A born-digital PDF: every line is real text (Helvetica 11 pt, the
    layout ``render_page`` gives DejaVu Sans, which is wider, so every line
    fits), and there are no images."""

    file: str
    docs: tuple[str, ...]  # the kind of document on each page
    seed: int


_TEXT_PDF_STYLE = Style(dpi=200, paper="a5", family="sans", size_pt=11, margin_in=0.7)

SHIPPED_PDFS: list[ScannedPdf | TextPdf] = [
    # a crooked page, a page fed upside down and a tired copy, as batch scans come
    ScannedPdf("pdf/scanned.pdf", ("accuracy/skewed-ccw3.png", "accuracy/turned-180.png",
                                   "accuracy/degraded-2.jpg")),
    TextPdf("pdf/text-layer.pdf", ("memo", "pricelist"), 301),
]


def write_scanned_pdf(path: Path, pages: Iterable[tuple[Image.Image, int]]) -> None:
    """Write ``(image, dpi)`` pages as a scanner writes a PDF: each page one
    image at its scan resolution (grey as JPEG, 1-bit as CCITT Group 4: what
    Pillow's PDF writer does) and nothing else.  ``pages`` may be a
    generator: one page's pixels are in memory at a time.  Pillow writes each page (it
    gives all pages of one save the same resolution), pikepdf joins them.
    No dates, and an /ID made from the content: the bytes are reproducible."""
    import pikepdf  # the test extra: only the PDF samples need it

    path.parent.mkdir(parents=True, exist_ok=True)
    singles = []
    merged = pikepdf.new()
    for image, dpi in pages:
        one = io.BytesIO()
        image.save(one, "PDF", resolution=dpi, title=None, creationDate=None, modDate=None)
        singles.append(pikepdf.open(one))
        merged.pages.extend(singles[-1].pages)
    merged.save(path, deterministic_id=True)
    for single in singles:
        single.close()


def build_scanned_pdf(spec: ScannedPdf, out_dir: Path) -> dict:
    """The PDF of already written shipped pages (their stored pixels), its
    ground truth, and its manifest entry."""
    shipped = {s.file: s for s in SHIPPED}
    pages = []
    for name in spec.sources:
        if shipped[name].pages != 1:
            raise ValueError(f"{name}: a source must be a single page")
        with Image.open(out_dir / name) as img:
            pages.append((img.copy() if img.mode in ("1", "L") else img.convert("L"),
                          shipped[name].style.dpi))
    write_scanned_pdf(out_dir / spec.file, pages)
    truths = [(out_dir / name).with_suffix(".txt").read_text(encoding="utf-8").strip("\n")
              for name in spec.sources]
    truth_file = spec.file.rsplit(".", 1)[0] + ".txt"
    (out_dir / truth_file).write_text("\f".join(truths) + "\n", encoding="utf-8", newline="\n")
    dpis = sorted({dpi for _, dpi in pages})
    return {"file": spec.file, "pages": len(pages), "kind": "scanned-pdf", "format": "pdf",
            "dpi": dpis[0] if len(dpis) == 1 else None, "ground_truth": truth_file,
            "sources": list(spec.sources)}


def build_text_pdf(spec: TextPdf, out_dir: Path) -> dict:
    """The born-digital PDF, its ground truth (the text drawn, line by line)
    and its manifest entry."""
    import pikepdf  # the test extra: only the PDF samples need it
    from pikepdf import Dictionary, Name, Operator, String

    st = _TEXT_PDF_STYLE
    rng = random.Random(spec.seed)
    tm = TextMaker(rng)
    width_pt, height_pt = (round(v * 72, 2) for v in PAPER[st.paper])
    margin, leading = st.margin_in * 72, st.size_pt * st.spacing
    pdf = pikepdf.new()
    font = pdf.make_indirect(Dictionary(Type=Name.Font, Subtype=Name.Type1, BaseFont=Name.Helvetica,
                                        Encoding=Name.WinAnsiEncoding))
    truths = []
    for doc in spec.docs:
        _, gt = render_page(DOCS[doc](tm, rng.randint(90, 120)), st, rng)
        truth = gt.strip("\n")
        if not truth.isascii():  # WinAnsiEncoding and the ground truth agree on ASCII only
            raise ValueError(f"{spec.file}: non-ASCII text")
        ops: list = [([], Operator("BT")), ([Name.F1, st.size_pt], Operator("Tf"))]
        y = height_pt - margin - st.size_pt
        for line in truth.split("\n"):
            if line:  # one text object per line, where the line's baseline is
                ops += [([1, 0, 0, 1, margin, round(y, 2)], Operator("Tm")), ([String(line)], Operator("Tj"))]
            y -= leading if line else leading / 2  # a blank line: the gap between blocks
        ops.append(([], Operator("ET")))
        pdf.pages.append(pikepdf.Page(Dictionary(
            Type=Name.Page, MediaBox=[0, 0, width_pt, height_pt],
            Resources=Dictionary(Font=Dictionary(F1=font)),
            Contents=pdf.make_stream(pikepdf.unparse_content_stream(ops)))))
        truths.append(truth)
    path = out_dir / spec.file
    path.parent.mkdir(parents=True, exist_ok=True)
    pdf.save(path, deterministic_id=True)
    truth_file = spec.file.rsplit(".", 1)[0] + ".txt"
    (out_dir / truth_file).write_text("\f".join(truths) + "\n", encoding="utf-8", newline="\n")
    return {"file": spec.file, "pages": len(spec.docs), "kind": "text-pdf", "format": "pdf",
            "dpi": None, "ground_truth": truth_file}


def generate_shipped(out_dir: str | os.PathLike) -> list[Path]:
    """Write the shipped sample set (images, PDFs, .txt, manifest.json) to out_dir."""
    check_fonts()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [build_page(s, out)[0] for s in SHIPPED]
    entries = [_manifest_entry(s) for s in SHIPPED]
    for pdf in SHIPPED_PDFS:  # after the pages: a scanned PDF is made of them
        entries.append(build_scanned_pdf(pdf, out) if isinstance(pdf, ScannedPdf) else build_text_pdf(pdf, out))
        paths.append(out / pdf.file)
    _write_manifest(out, entries)
    return paths


def _random_spec(i: int, rng: random.Random, remaining: int) -> Spec:
    kind_roll = rng.random()
    dpi = rng.choice([200, 300])
    paper = "letter" if dpi == 200 or rng.random() < 0.3 else "a4"
    family = rng.choice(FAMILIES)
    st = Style(dpi=dpi, paper=paper, family=family,
               size_pt=rng.choice([10.5, 11, 11, 12]),
               spacing=rng.choice([1.35, 1.45, 1.55]),
               margin_in=rng.choice([0.8, 1.0, 1.2]),
               justify=rng.random() < 0.4, indent_first=rng.random() < 0.25,
               title_center=rng.random() < 0.6,
               ink=rng.randint(15, 45), background=rng.randint(240, 252))
    doc = rng.choice(["letter", "memo", "report", "minutes", "notice", "pricelist"])
    seed = rng.randrange(1 << 30)
    name = f"page-{i:04d}"
    if kind_roll < 0.10 and remaining >= 2:
        pages = min(remaining, rng.randint(2, 3))
        fmt = rng.choice(["tiff", "tiff-lzw"])
        return Spec(name + EXT[fmt], "clean", fmt, "report", seed,
                    Style(**{**st.__dict__, "justify": True}), pages=pages, words=(150, 400))
    if kind_roll < 0.25:
        st.columns, st.margin_in, st.justify = 2, 0.8, True
        return Spec(f"{name}.png", "two-column", "png", "news", seed, st, words=(250, 400))
    if kind_roll < 0.37:
        fmt = rng.choice(["png", "jpeg"])
        # tesseract 5 drops whole lines on pages skewed clockwise by 2 degrees
        # or more, so clockwise skew stays small
        angle = rng.uniform(1.0, 3.0) if rng.random() < 0.6 else -rng.uniform(0.5, 1.5)
        return Spec(name + EXT[fmt], "rotated", fmt, doc, seed, st,
                    words=(150, 400), angle=angle)
    if kind_roll < 0.50:
        st.ink, st.background = rng.randint(35, 60), rng.randint(222, 238)
        return Spec(f"{name}.jpg", "noisy", "jpeg", doc, seed, st, words=(150, 400),
                    jpeg_quality=rng.randint(30, 50), severity=rng.uniform(0.3, 0.85))
    fmt = rng.choices(["png", "jpeg", "webp", "bmp"], [55, 30, 10, 5])[0]
    return Spec(f"{name}{EXT[fmt]}", "clean", fmt, doc, seed, st, words=(150, 400),
                jpeg_quality=rng.randint(75, 90))


def generate_pages(out_dir: str | os.PathLike, count: int, seed: int = 1) -> list[Path]:
    """Generate ``count`` pages (multi-page TIFFs count each page) of mixed
    kinds, formats and resolutions into out_dir, with .txt ground truth and
    a manifest.json.  Returns the image paths (a TIFF may hold 2-3 pages)."""
    check_fonts()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    specs: list[Spec] = []
    paths: list[Path] = []
    done = 0
    i = 1
    while done < count:
        spec = _random_spec(i, rng, count - done)
        specs.append(spec)
        path, _, pages = build_page(spec, out)
        if spec.file != path.relative_to(out).as_posix():  # pragma: no cover
            raise AssertionError(spec.file)
        paths.append(path)
        done += pages
        i += 1
    _write_manifest(out, [_manifest_entry(s) for s in specs])
    return paths


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--count", type=int, default=None,
                    help="generate this many varied pages instead of the shipped set")
    ap.add_argument("--seed", type=int, default=1, help="seed for --count (default 1)")
    args = ap.parse_args(argv)
    try:
        if args.count is None:
            paths = generate_shipped(args.out)
        else:
            if args.count < 1:
                ap.error("--count must be >= 1")
            paths = generate_pages(args.out, args.count, args.seed)
    except FontMissingError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {len(paths)} image files to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
