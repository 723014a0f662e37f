// The spreadsheet reader on the committed fixtures (test/fixtures/content/
// make-spreadsheets.mjs says what is in them) and on broken, encrypted and
// hostile variants of them.
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { strToU8, unzipSync, zipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { readSpreadsheetText, type SpreadsheetBudget, type SpreadsheetText } from '../../../../src/analysis/content/spreadsheet-text.js';
import { decodeXmlEntities } from '../../../../src/analysis/content/spreadsheet-xml.js';

const fixture = (name: string): Uint8Array => new Uint8Array(readFileSync(new URL(`../../../fixtures/content/${name}`, import.meta.url)));
const XLSX = fixture('members.xlsx');
const ODS = fixture('members.ods');

/** The base64 attachment of a fixture message, decoded. */
function attachment(eml: string): Uint8Array {
  const text = new TextDecoder().decode(fixture(eml));
  const start = text.indexOf('\r\n\r\n', text.indexOf('Content-Transfer-Encoding: base64')) + 4;
  return new Uint8Array(Buffer.from(text.slice(start, text.indexOf('--', start)), 'base64'));
}

const EXTERNAL = ['partner.example.com', 'client.example.net', 'vendor.example.org'];
const MEMBERS = Array.from({ length: 40 }, (_, n) => `member${n + 1}@${(n + 1) % 4 === 0 ? 'example.co.jp' : EXTERNAL[(n + 1) % 3]}`);
const addressesIn = (texts: readonly string[]): string[] => [...new Set(texts.join('\n').match(/[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+/g) ?? [])].sort();

const plenty = (): SpreadsheetBudget => ({ cells: 1_000_000, decodedBytes: 32 * 1024 * 1024 });

function texts(result: SpreadsheetText): readonly string[] {
  if (result.ok || result.why === 'bound') return result.texts;
  throw new Error(`expected texts, got ${result.why}`);
}

function zip(files: Record<string, string>, level: 0 | 6 = 6): Uint8Array {
  return zipSync(Object.fromEntries(Object.entries(files).map(([name, content]) => [name, [strToU8(content), { level }]])));
}

describe('XLSX', () => {
  it('reads every string of the members list: shared strings, rich text, an inline string, a formula result, a mailto link', () => {
    const budget = plenty();
    const result = readSpreadsheetText(XLSX, 'xlsx', budget);
    expect(result).toMatchObject({ ok: true, cells: 123 });
    const all = texts(result);
    // 84 shared strings and one phonetic run, one inline string, one formula result, one hyperlink.
    expect(all).toHaveLength(88);
    expect(addressesIn(all)).toEqual([...MEMBERS].sort());
    expect(all).toContain('member5@vendor.example.org'); // two rich-text runs, joined
    expect(all).toContain('member7@client.example.net'); // &#64;
    expect(all).toContain('Tanaka & Sons');
    expect(all).toContain('山田太郎');
    expect(all).toContain('ヤマダタロウ'); // the phonetic run, on its own
    expect(all).toContain('member39@partner.example.com');
    expect(all).toContain('member40@example.co.jp');
    expect(all).toContain('mailto:member2@vendor.example.org');
    // The cells read and every byte inflated (sharedStrings 3013, sheet1 4851, its rels 331) come off the budget.
    expect(budget).toEqual({ cells: 1_000_000 - 123, decodedBytes: 32 * 1024 * 1024 - (3013 + 4851 + 331) });
  });

  it('is the same file inside members-xlsx.eml', () => {
    expect(Buffer.from(attachment('members-xlsx.eml')).equals(XLSX)).toBe(true);
  });

  it('reads stored (uncompressed) entries like deflated ones', () => {
    const files = unzipSync(XLSX);
    const stored = zipSync(Object.fromEntries(Object.entries(files).map(([name, data]) => [name, [data, { level: 0 }]])));
    expect(readSpreadsheetText(stored, 'xlsx', plenty())).toEqual(readSpreadsheetText(XLSX, 'xlsx', plenty()));
  });

  it('matches elements by local name: the prefixed x: output of the OpenXML SDK, CDATA, comments', () => {
    const ns = 'xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main"';
    const file = zip({
      'xl/workbook.xml': `<x:workbook ${ns}/>`,
      'xl/worksheets/sheet1.xml':
        `<x:worksheet ${ns}><x:sheetData><x:row r="1"><x:c r="A1" t="inlineStr"><x:is><x:t>a@one.example.com</x:t></x:is></x:c>` +
        '<!-- <x:c t="inlineStr"><x:is><x:t>not@counted.example.com</x:t></x:is></x:c> -->' +
        `<x:c r="B1" t='inlineStr'><x:is><x:t><![CDATA[b@two.example.com]]></x:t></x:is></x:c><x:c r="C1"><x:v>42</x:v></x:c></x:row></x:sheetData></x:worksheet>`,
    });
    expect(readSpreadsheetText(file, 'xlsx', plenty())).toEqual({ ok: true, texts: ['a@one.example.com', 'b@two.example.com'], cells: 3 });
  });

  it('finds the parts by name without [Content_Types].xml, sheets in number order', () => {
    const sheet = (address: string) => `<worksheet><sheetData><row><c t="inlineStr"><is><t>${address}</t></is></c></row></sheetData></worksheet>`;
    const file = zip({ 'xl/worksheets/sheet10.xml': sheet('ten@example.com'), 'xl/worksheets/sheet2.xml': sheet('two@example.com') });
    expect(texts(readSpreadsheetText(file, 'xlsx', plenty()))).toEqual(['two@example.com', 'ten@example.com']);
  });
});

describe('ODS', () => {
  it('reads every string of the members list once per cell element, not per repeated column', () => {
    const budget = plenty();
    const result = readSpreadsheetText(ODS, 'ods', budget);
    // 41 rows of 3 cells and a repeated filler cell, and the repeated filler row's one cell.
    expect(result).toMatchObject({ ok: true, cells: 165 });
    const all = texts(result);
    // A text:p per cell, an office:string-value, a mailto text:a.
    expect(all).toHaveLength(125);
    expect(addressesIn(all)).toEqual([...MEMBERS].sort());
    expect(all).toContain('member5@vendor.example.org'); // a text:span inside the text:p
    expect(all).toContain('member7@client.example.net'); // &#x40;
    expect(all.filter((text) => text === 'member11@vendor.example.org')).toHaveLength(2); // the text:p and office:string-value
    expect(all).toContain('mailto:member2@vendor.example.org');
    expect(budget.cells).toBe(1_000_000 - 165);
  });

  it('is the same file inside members-ods.eml', () => {
    expect(Buffer.from(attachment('members-ods.eml')).equals(ODS)).toBe(true);
  });

  it('reads a ZIP by what it holds, whatever kind its name claimed', () => {
    expect(readSpreadsheetText(ODS, 'xlsx', plenty())).toEqual(readSpreadsheetText(ODS, 'ods', plenty()));
    expect(readSpreadsheetText(XLSX, 'ods', plenty())).toEqual(readSpreadsheetText(XLSX, 'xlsx', plenty()));
  });

  it('joins text:s and tabs as whitespace inside a paragraph', () => {
    const file = zip({
      'content.xml':
        '<office:document-content><table:table-cell><text:p>a<text:s text:c="3"/>b<text:tab/>c</text:p></table:table-cell></office:document-content>',
    });
    expect(readSpreadsheetText(file, 'ods', plenty())).toEqual({ ok: true, texts: ['a b\tc'], cells: 1 });
  });
});

describe('bounds', () => {
  it('stops at the cell bound with what it read, and spends the whole cell budget', () => {
    const budget = { ...plenty(), cells: 50 };
    const result = readSpreadsheetText(XLSX, 'xlsx', budget);
    expect(result).toMatchObject({ ok: false, why: 'bound', bound: 'cells' });
    // The shared strings (85 texts) came first; 50 cells of the sheet hold no inline string or formula result.
    expect(texts(result)).toHaveLength(85);
    expect(budget.cells).toBe(0);
  });

  it('stops an ODS at the cell bound', () => {
    const budget = { ...plenty(), cells: 10 };
    const result = readSpreadsheetText(ODS, 'ods', budget);
    expect(result).toMatchObject({ ok: false, why: 'bound', bound: 'cells' });
    // The header row's 3 cells and filler, the first member's, and two cells of the second: its address is a mailto link.
    expect(texts(result)).toEqual([
      'Name',
      'Email',
      'Company',
      'Member 1',
      'member1@client.example.net',
      'Tanaka & Sons',
      'Member 2',
      'mailto:member2@vendor.example.org',
      'member2@vendor.example.org',
    ]);
    expect(budget.cells).toBe(0);
  });

  it('stops before a part whose declared size is past the decoded-bytes left, keeping the parts read before it', () => {
    const budget = { ...plenty(), decodedBytes: 5000 };
    const result = readSpreadsheetText(XLSX, 'xlsx', budget);
    expect(result).toMatchObject({ ok: false, why: 'bound', bound: 'decoded-bytes' });
    expect(texts(result)).toHaveLength(85);
    expect(budget.decodedBytes).toBe(5000 - 3013);
  });

  it('stops a zip bomb by its declared size before inflating anything', () => {
    const budget = plenty();
    const result = readSpreadsheetText(fixture('bomb-declared.xlsx'), 'xlsx', budget);
    expect(result).toEqual({ ok: false, why: 'bound', bound: 'decoded-bytes', texts: [] });
    expect(budget.decodedBytes).toBe(32 * 1024 * 1024);
  });

  it('stops a zip bomb that lies about its size once the real output passes the budget', () => {
    const budget = { ...plenty(), decodedBytes: 4 * 1024 * 1024 };
    const result = readSpreadsheetText(attachment('zip-bomb-xlsx.eml'), 'xlsx', budget);
    expect(result).toEqual({ ok: false, why: 'bound', bound: 'decoded-bytes', texts: [] });
    expect(budget.decodedBytes).toBe(0);
    expect(Buffer.from(attachment('zip-bomb-xlsx.eml')).equals(fixture('bomb-lying.xlsx'))).toBe(true);
  });
});

describe('encrypted and unreadable', () => {
  const encrypted = attachment('encrypted-xlsx.eml');

  it('flags an encrypted Office file (a compound file with EncryptionInfo)', () => {
    expect(readSpreadsheetText(encrypted, 'xlsx', plenty())).toEqual({ ok: false, why: 'encrypted' });
  });

  it('calls a compound file without EncryptionInfo (a legacy .xls) unreadable', () => {
    const xls = encrypted.slice();
    const name = new Uint8Array(Buffer.from('Workbook\0', 'utf16le'));
    // The directory is sector 1 (bytes 1024..1535); its second entry named EncryptionInfo.
    xls.fill(0, 1024 + 128, 1024 + 128 + 64);
    xls.set(name, 1024 + 128);
    xls[1024 + 128 + 64] = name.length;
    expect(readSpreadsheetText(xls, 'xlsx', plenty())).toEqual({ ok: false, why: 'unreadable' });
  });

  it('flags a ZIP entry with the encryption bit', () => {
    const file = XLSX.slice();
    const central = Buffer.from(file).indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
    file[central + 8] = (file[central + 8] ?? 0) | 1;
    expect(readSpreadsheetText(file, 'xlsx', plenty())).toEqual({ ok: false, why: 'encrypted' });
  });

  it('calls bytes that are not a ZIP, and a ZIP with no sheet in it, unreadable', () => {
    for (const bytes of [new Uint8Array(0), strToU8('Name,Email\nTaro,taro@example.com\n'), zip({ 'word/document.xml': '<w:document/>' })]) {
      expect(readSpreadsheetText(bytes, 'xlsx', plenty())).toEqual({ ok: false, why: 'unreadable' });
    }
  });

  it('calls every truncation of a ZIP unreadable', () => {
    for (let length = 0; length < XLSX.length; length++) {
      expect(readSpreadsheetText(XLSX.subarray(0, length), 'xlsx', plenty())).toEqual({ ok: false, why: 'unreadable' });
    }
  });

  it('calls a part with broken DEFLATE data unreadable', () => {
    const file = XLSX.slice();
    const local = Buffer.from(file).indexOf(Buffer.from('xl/sharedStrings.xml'));
    file.fill(0xff, local + 30, local + 80);
    expect(readSpreadsheetText(file, 'xlsx', plenty())).toEqual({ ok: false, why: 'unreadable' });
  });

  it('never throws, whatever the bytes are changed to', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(XLSX.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }), (changes) => {
        const file = XLSX.slice();
        for (const [at, value] of changes) file[at] = value;
        const budget = plenty();
        const result = readSpreadsheetText(file, 'xlsx', budget);
        expect(['boolean']).toContain(typeof result.ok);
        expect(budget.decodedBytes).toBeGreaterThanOrEqual(0);
      }),
      { numRuns: 300 },
    );
  });
});

describe('XML entities', () => {
  it('decodes the five predefined entities and numeric references, and leaves anything else as written', () => {
    expect(decodeXmlEntities('a&amp;b&lt;&gt;&quot;&apos;')).toBe('a&b<>"\'');
    expect(decodeXmlEntities('taro&#64;example.com taro&#x40;example.com taro&#X40;example.com')).toBe('taro@example.com taro@example.com taro@example.com');
    expect(decodeXmlEntities('&nbsp; &amp &#xZZ; &#;')).toBe('&nbsp; &amp &#xZZ; &#;');
    expect(decodeXmlEntities('&#0;&#xD800;&#x110000;')).toBe('\ufffd\ufffd\ufffd');
    expect(decodeXmlEntities('&#x1F600;')).toBe('😀');
  });
});
