// The strings of the XML parts of an XLSX (ECMA-376 Part 1 §18.3 sheets,
// §18.4 shared strings) and an ODS (OpenDocument 1.3 §9.1 tables, §6 text),
// read with the linear scan. Only what a recipient could read as an address
// is kept: string cells, rich-text runs, formula string results, phonetic
// runs and mailto link targets. Numbers, styles and formulas are not.

import { attribute, scanXml, type XmlVisitor } from './spreadsheet-xml.js';

/** What the reader has left and where it puts what it reads; shared by all the parts of one spreadsheet. */
export interface PartSink {
  readonly texts: string[];
  /** Cell elements still allowed (the message's budget); a part stops when it reaches 0. */
  cellsLeft: number;
  /** Cell elements read in this spreadsheet. */
  cellsRead: number;
  /** Set when a cell element was met with no cells left. */
  cellsExhausted: boolean;
}

function push(sink: PartSink, text: string): void {
  if (text !== '') sink.texts.push(text);
}

/** Counts one cell element; false when the bound is reached (the scan then stops). */
function takeCell(sink: PartSink): boolean {
  if (sink.cellsLeft <= 0) {
    sink.cellsExhausted = true;
    return false;
  }
  sink.cellsLeft--;
  sink.cellsRead++;
  return true;
}

/**
 * xl/sharedStrings.xml: one text per `<si>`, its `<t>` and rich-text `<r><t>`
 * runs joined; a phonetic run (`<rPh>`, furigana) is a text of its own so it
 * cannot join the two halves of an address across it.
 */
export function readSharedStrings(xml: string, sink: PartSink): void {
  let item = '';
  let phonetic: string | null = null;
  let inT = false;
  const visitor: XmlVisitor = {
    get wantsText() {
      return inT;
    },
    open(local, _attributes, selfClosing) {
      if (local === 'si') item = '';
      else if (local === 'rPh') phonetic = '';
      else if (local === 't' && !selfClosing) inT = true;
      return true;
    },
    close(local) {
      if (local === 't') inT = false;
      else if (local === 'rPh') {
        push(sink, phonetic ?? '');
        phonetic = null;
      } else if (local === 'si') {
        push(sink, item);
        item = '';
      }
    },
    text(decoded) {
      if (phonetic !== null) phonetic += decoded;
      else item += decoded;
    },
  };
  scanXml(xml, visitor);
}

/**
 * A worksheet: every `<c>` counts against the cell bound; its text is kept
 * when it is an inline string (`<is>`, with runs) or a formula's string
 * result (`t="str"`, the `<v>`). Shared-string cells (`t="s"`) hold only an
 * index: their text was read from the shared strings.
 */
export function readWorksheet(xml: string, sink: PartSink): void {
  let cellType: string | null = null;
  let inline: string | null = null;
  let phonetic: string | null = null;
  let value: string | null = null;
  let inT = false;
  const visitor: XmlVisitor = {
    get wantsText() {
      return inT || value !== null;
    },
    open(local, attributes, selfClosing) {
      if (local === 'c') {
        if (!takeCell(sink)) return false;
        cellType = attribute(attributes, 't');
      } else if (local === 'is' && !selfClosing) inline = '';
      else if (local === 'rPh' && inline !== null) phonetic = '';
      else if (local === 't' && inline !== null && !selfClosing) inT = true;
      else if (local === 'v' && cellType === 'str' && !selfClosing) value = '';
      return true;
    },
    close(local) {
      if (local === 't') inT = false;
      else if (local === 'rPh') {
        push(sink, phonetic ?? '');
        phonetic = null;
      } else if (local === 'is') {
        push(sink, inline ?? '');
        inline = null;
      } else if (local === 'v' && value !== null) {
        push(sink, value);
        value = null;
      } else if (local === 'c') cellType = null;
    },
    text(decoded) {
      if (value !== null) value += decoded;
      else if (phonetic !== null) phonetic += decoded;
      else if (inline !== null) inline += decoded;
    },
  };
  scanXml(xml, visitor);
}

/** A worksheet's relationships: the targets of its hyperlinks that are mailto: links. */
export function readWorksheetRelationships(xml: string, sink: PartSink): void {
  scanXml(xml, {
    wantsText: false,
    open(local, attributes) {
      if (local === 'Relationship') pushMailto(sink, attribute(attributes, 'Target'));
      return true;
    },
    close() {},
    text() {},
  });
}

/**
 * content.xml of an ODS: every `<table:table-cell>` (and covered cell) counts
 * against the cell bound once, however many columns it repeats; the text of
 * each `<text:p>`/`<text:h>` (its spans joined, `<text:s>` and tabs as
 * whitespace), `office:string-value` attributes and mailto `xlink:href`s are kept.
 */
export function readOdsContent(xml: string, sink: PartSink): void {
  let paragraph: string | null = null;
  const visitor: XmlVisitor = {
    get wantsText() {
      return paragraph !== null;
    },
    open(local, attributes, selfClosing) {
      if (local === 'table-cell' || local === 'covered-table-cell') {
        if (!takeCell(sink)) return false;
        push(sink, attribute(attributes, 'string-value') ?? '');
      } else if (local === 'p' || local === 'h') {
        if (paragraph !== null) push(sink, paragraph);
        paragraph = selfClosing ? null : '';
      } else if (paragraph !== null && (local === 's' || local === 'tab' || local === 'line-break')) {
        paragraph += local === 'line-break' ? '\n' : local === 'tab' ? '\t' : ' ';
      }
      if (local === 'a') pushMailto(sink, attribute(attributes, 'href'));
      return true;
    },
    close(local) {
      if ((local === 'p' || local === 'h') && paragraph !== null) {
        push(sink, paragraph);
        paragraph = null;
      }
    },
    text(decoded) {
      if (paragraph !== null) paragraph += decoded;
    },
  };
  scanXml(xml, visitor);
}

function pushMailto(sink: PartSink, target: string | null): void {
  if (target === null || !/^\s*mailto:/i.test(target)) return;
  push(sink, percentDecoded(target.trim()));
}

/** mailto:taro%40example.com reads as the address it opens; a broken escape leaves the target as written. */
function percentDecoded(target: string): string {
  try {
    return decodeURIComponent(target);
  } catch {
    return target;
  }
}
