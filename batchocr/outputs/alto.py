"""ALTO 4.4 XML: one ``Page`` per page, its lines as ``TextLine`` of one
``TextBlock``, each word a ``String`` with its position and ``WC``.
Supervisor side (the assembly thread).

Positions are in pixels (``MeasurementUnit`` ``pixel``) of the page as
recorded (see ``batchocr.outputs``); ``WC`` is the word confidence scaled to
0-1.  A failed page is a ``Page`` with an empty ``PrintSpace``.  Lines and
words without a box (a PDF page's own text layer) have no position.
``tests/schemas/`` holds the ALTO 4.4 schema the tests validate against.
"""

from __future__ import annotations

from itertools import chain
from typing import Any, BinaryIO

from batchocr.outputs import FileDocument, page_lines, page_size, software, union_box, write_parts, xml_attr

NAMESPACE = "http://www.loc.gov/standards/alto/ns-v4#"
SCHEMA_LOCATION = "http://www.loc.gov/standards/alto/v4/alto-4-4.xsd"

HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<alto xmlns="{ns}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
      xsi:schemaLocation="{ns} {schema}">
  <Description>
    <MeasurementUnit>pixel</MeasurementUnit>
    <sourceImageInformation>
      <fileName>{file}</fileName>
    </sourceImageInformation>
    <OCRProcessing ID="ocr_1">
      <ocrProcessingStep>
        <processingSoftware>
          <softwareName>{software}</softwareName>
        </processingSoftware>
      </ocrProcessingStep>
    </OCRProcessing>
  </Description>
  <Layout>
"""
TAIL = "  </Layout>\n</alto>\n"


class AltoFormat:
    name = "alto"
    ext = "xml"

    def write(self, doc: FileDocument, dest: BinaryIO) -> None:
        head = HEAD.format(ns=NAMESPACE, schema=SCHEMA_LOCATION, file=xml_attr(doc.path), software=xml_attr(software()))
        write_parts(dest, chain([head], map(page_xml, doc.pages()), [TAIL]))


def page_xml(record: dict[str, Any]) -> str:
    number = record["page"]
    width, height = page_size(record)
    parts = [
        f'    <Page ID="page_{number}" PHYSICAL_IMG_NR="{number}" WIDTH="{width}" HEIGHT="{height}" '
        f'PROCESSING="ocr_1">\n',
        f'      <PrintSpace HPOS="0" VPOS="0" WIDTH="{width}" HEIGHT="{height}">\n',
    ]
    lines = [line for line in page_lines(record) if line["words"]]  # a TextLine needs a String
    if lines:
        parts.append(f'        <TextBlock ID="block_{number}_1"{_position(union_box(lines))}>\n')
        for index, line in enumerate(lines, 1):
            parts.append(_line_xml(number, index, line))
        parts.append("        </TextBlock>\n")
    parts.append("      </PrintSpace>\n    </Page>\n")
    return "".join(parts)


def _line_xml(page: int, index: int, line: dict[str, Any]) -> str:
    strings = []
    for n, word in enumerate(line["words"], 1):
        confidence = word.get("confidence")
        wc = f' WC="{max(0.0, min(1.0, confidence / 100)):.2f}"' if confidence is not None else ""
        strings.append(
            f'<String ID="string_{page}_{index}_{n}"{_position(word.get("bbox"))} '
            f'CONTENT="{xml_attr(word["text"])}"{wc}/>'
        )
    body = "<SP/>".join(strings)
    return f'          <TextLine ID="line_{page}_{index}"{_position(line.get("bbox"))}>{body}</TextLine>\n'


def _position(bbox) -> str:
    if not bbox:
        return ""
    x0, y0, x1, y1 = (int(v) for v in bbox)
    return f' HPOS="{x0}" VPOS="{y0}" WIDTH="{x1 - x0}" HEIGHT="{y1 - y0}"'
