"""hOCR 1.2 (XHTML): one ``ocr_page`` per page, ``ocr_line`` per line,
``ocrx_word`` per word with its box and confidence.  Supervisor side (the
assembly thread).

Properties follow the hOCR spec (kba.github.io/hocr-spec/1.2): ``bbox x0 y0
x1 y1`` in the page's pixels (see ``batchocr.outputs``), ``x_wconf`` the
word's confidence 0-100, ``ppageno`` the physical page number counted from
0 (as tesseract writes it), ``image`` the input file.  The lines of a page
sit in one ``ocr_carea``/``ocr_par`` (engines do not all report blocks and
paragraphs).  A failed page is an ``ocr_page`` without content.  Lines and
words without a box (a PDF page's own text layer) carry no ``bbox``.
"""

from __future__ import annotations

import os
from itertools import chain
from typing import Any, BinaryIO

from batchocr.outputs import FileDocument, page_lines, page_size, software, union_box, write_parts, xml_attr, xml_text

HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"
    "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">
<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">
 <head>
  <title>{title}</title>
  <meta http-equiv="Content-Type" content="text/html;charset=utf-8"/>
  <meta name="ocr-system" content="{system}"/>
  <meta name="ocr-capabilities" content="ocr_page ocr_carea ocr_par ocr_line ocrx_word"/>
  <meta name="ocr-number-of-pages" content="{pages}"/>
 </head>
 <body>
"""
TAIL = " </body>\n</html>\n"


class HocrFormat:
    name = "hocr"
    ext = "hocr"

    def write(self, doc: FileDocument, dest: BinaryIO) -> None:
        title = xml_text(os.path.basename(doc.rel))
        head = HEAD.format(title=title, system=xml_attr(software()), pages=doc.page_count)
        write_parts(dest, chain([head], (page_html(doc, record) for record in doc.pages()), [TAIL]))


def page_html(doc: FileDocument, record: dict[str, Any]) -> str:
    number = record["page"]
    width, height = page_size(record)
    title = f'image "{doc.path}"; bbox 0 0 {width} {height}; ppageno {number - 1}'
    parts = [f'  <div class="ocr_page" id="page_{number}" title="{xml_attr(title)}">\n']
    lines = page_lines(record)
    if lines:
        parts.append(f'   <div class="ocr_carea" id="block_{number}_1"{_title(union_box(lines))}>\n')
        parts.append(f'    <p class="ocr_par" id="par_{number}_1"{_title(union_box(lines))}>\n')
        for index, line in enumerate(lines, 1):
            parts.append(_line_html(number, index, line))
        parts.append("    </p>\n   </div>\n")
    parts.append("  </div>\n")
    return "".join(parts)


def _line_html(page: int, index: int, line: dict[str, Any]) -> str:
    words = [
        f'<span class="ocrx_word" id="word_{page}_{index}_{n}"{_title(word.get("bbox"), word.get("confidence"))}>'
        f"{xml_text(word['text'])}</span>"
        for n, word in enumerate(line["words"], 1)
    ]
    return f'     <span class="ocr_line" id="line_{page}_{index}"{_title(line.get("bbox"))}>{" ".join(words)}</span>\n'


def _title(bbox, confidence: float | None = None) -> str:
    props = []
    if bbox:
        props.append("bbox {} {} {} {}".format(*(int(v) for v in bbox)))
    if confidence is not None:
        props.append(f"x_wconf {round(confidence)}")
    return f' title="{"; ".join(props)}"' if props else ""
