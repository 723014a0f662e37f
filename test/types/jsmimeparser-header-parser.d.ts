// The reference reader in test/unit/analysis/reader-differential.test.ts imports
// jsmime's header parser module directly (the package's own index.d.ts only
// types parseMail, which exposes five headers). Only what that test calls.
// The module has a default export only: `import * as` gives { default }.
declare module '@protontech/jsmimeparser/lib/headerParser' {
  export interface JsmimeMailbox {
    readonly name: string;
    readonly email: string;
  }
  export interface JsmimeGroup {
    readonly name: string;
    readonly group: readonly JsmimeMailbox[];
  }
  interface HeaderParser {
    /** `doRFC2047`: decode encoded words in names (jsmime also decodes UTF-7 there). */
    parseAddressingHeader(header: string, doRFC2047: boolean): (JsmimeMailbox | JsmimeGroup)[];
    decodeRFC2047Words(headerValue: string): string;
  }
  const headerParser: HeaderParser;
  export default headerParser;
}
