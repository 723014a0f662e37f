// The document inside the preview iframe: the sanitised body and nothing else.
// Its own CSP: no script at all, images only from data: (the placeholders), the
// message's inline styles, and `sandbox` so that even a document opened on its
// own runs nothing and has no origin; only the console may frame it.

export const FRAME_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; sandbox; frame-ancestors 'self'; base-uri 'none'; form-action 'none'";

export function frameDocument(body: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"><meta name="referrer" content="no-referrer"></head><body>${body}</body></html>`;
}
