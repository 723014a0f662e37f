import createDOMPurify, { type Config, type WindowLike } from 'dompurify';
import * as linkedom from 'linkedom';

// A held message's HTML, made safe to look at: DOMPurify on linkedom with a
// strict profile, plus what DOMPurify keeps but a quarantine must not (links
// that navigate, srcset, background, CSS url() and @import, remote images),
// then checked once more on the result, failing closed. The page shows it in a
// sandboxed iframe under a CSP that allows no script and no remote request
// (frame-document.ts): the sanitiser and the sandbox each hold without the other.

/** A small grey "image not loaded" box (img-src allows data: in the frame). */
export const IMAGE_PLACEHOLDER =
  'data:image/svg+xml;base64,' +
  Buffer.from(
    '<svg xmlns="http://www.w3.org/2000/svg" width="120" height="40"><rect width="120" height="40" fill="#eee" stroke="#999"/><text x="60" y="25" font-size="12" text-anchor="middle" fill="#555">image blocked</text></svg>',
  ).toString('base64');

export interface SanitisedHtml {
  /** The body's markup, safe for the frame document; '' when failing closed. */
  readonly html: string;
  /** http(s) and protocol-relative images replaced by the placeholder. */
  readonly remoteImages: number;
  /** The check after sanitising found something: nothing is shown. */
  readonly failedClosed: boolean;
}

// linkedom's types are written against the DOM lib, which this program does not load: the little used here, typed here.
interface LinkedomElement {
  readonly localName: string;
  readonly attributes: Iterable<{ readonly name: string; readonly value: string }>;
}
interface LinkedomDocument {
  querySelectorAll(selector: string): Iterable<LinkedomElement>;
}
interface LinkedomWindow {
  readonly document: LinkedomDocument;
  readonly Element: { readonly prototype: object };
  readonly DOMParser: unknown;
  readonly HTMLTemplateElement: unknown;
}
const parseHTML = linkedom.parseHTML as unknown as (markup: string) => LinkedomWindow;
const NodeFilter = linkedom.NodeFilter as unknown;

const blank = (): LinkedomWindow => parseHTML('<!doctype html><html><head></head><body></body></html>');

/**
 * DOMPurify 3.5 reads nodeType, nodeName, ownerDocument and parentNode through
 * getters on Node.prototype and Element.prototype; linkedom keeps them as own
 * properties, and without getters to find DOMPurify silently sanitises nothing.
 * These shims give it the getters; the tests check that it really removes things.
 */
function linkedomWindow(): WindowLike {
  const window = blank();
  Object.defineProperty(window.document, 'implementation', { value: { createHTMLDocument: () => blank().document } });
  function NodeShim(): void {}
  for (const p of ['nodeType', 'nodeName', 'ownerDocument'] as const) {
    Object.defineProperty(NodeShim.prototype, p, {
      get(this: Record<string, unknown>) {
        return this[p];
      },
    });
  }
  function ElementShim(): void {}
  ElementShim.prototype = Object.create(window.Element.prototype) as object;
  Object.defineProperty(ElementShim.prototype, 'parentNode', {
    get(this: { parentNode: unknown }) {
      return this.parentNode;
    },
  });
  return {
    document: window.document,
    Element: ElementShim,
    Node: NodeShim,
    NodeFilter,
    DOMParser: window.DOMParser,
    HTMLTemplateElement: window.HTMLTemplateElement,
  } as unknown as WindowLike;
}

const purify = createDOMPurify(linkedomWindow());

const FORBID_TAGS = [
  'style',
  'form',
  'input',
  'button',
  'select',
  'textarea',
  'option',
  'meta',
  'base',
  'link',
  'video',
  'audio',
  'source',
  'track',
  'picture',
];
const FORBID_ATTR = ['srcset', 'sizes', 'background', 'action', 'formaction', 'ping', 'poster', 'lowsrc', 'dynsrc', 'xlink:href', 'usemap'];
const CONFIG: Config = { USE_PROFILES: { html: true }, FORBID_TAGS, FORBID_ATTR, ALLOW_DATA_ATTR: false, ALLOW_ARIA_ATTR: false };

/** Inline CSS without anything that loads: no url(), no @import, no image-set, no escapes that could spell them. */
export function scrubCss(css: string): string {
  const text = css.replace(/\/\*[\s\S]*?(\*\/|$)/g, '');
  if (/[\\]/.test(text)) return '';
  return text
    .replace(/@import[^;]*;?/gi, '')
    .replace(/url\s*\([^)]*\)?/gi, 'none')
    .replace(/(-webkit-)?image-set\s*\(/gi, 'none(')
    .replace(/expression\s*\(/gi, 'none(');
}

/** What the hook uses of a linkedom element (the program has no DOM lib). */
interface HookElement {
  readonly nodeName: string;
  getAttribute(name: string): string | null;
  setAttribute(name: string, value: string): void;
  removeAttribute(name: string): void;
}

let remoteImages = 0;

purify.addHook('afterSanitizeAttributes', (node) => {
  const element = node as unknown as HookElement;
  if (typeof element.getAttribute !== 'function') return;
  const style = element.getAttribute('style');
  if (style !== null) {
    const scrubbed = scrubCss(style);
    if (scrubbed.trim() === '') element.removeAttribute('style');
    else element.setAttribute('style', scrubbed);
  }
  if (element.nodeName === 'A' || element.nodeName === 'AREA') {
    // A link in a quarantined message must not be followed from the console: its target stays readable as a tooltip.
    const href = element.getAttribute('href');
    element.removeAttribute('href');
    element.removeAttribute('target');
    if (href) element.setAttribute('title', href);
  }
  if (element.nodeName === 'IMG') {
    const src = (element.getAttribute('src') ?? '').trim();
    if (!/^data:image\/(png|gif|jpe?g|webp);base64,[a-z0-9+/=\s]*$/i.test(src)) {
      if (/^(https?:)?\/\//i.test(src)) remoteImages++;
      element.setAttribute('src', IMAGE_PLACEHOLDER);
    }
  }
});

export function sanitiseHtml(dirty: string): SanitisedHtml {
  remoteImages = 0;
  // linkedom builds html/body only for a whole document, so the part is parsed as
  // one; a full document's own <html>/<head> is dropped by DOMPurify with the rest.
  const body = /<body[\s>]/i.test(dirty) ? dirty : `<!doctype html><html><head></head><body>${dirty}</body></html>`;
  const wrapped = /<html[\s>]/i.test(body) ? body : `<!doctype html><html><head></head>${body}</html>`;
  const clean = purify.sanitize(wrapped, CONFIG);
  const counted = remoteImages;
  const problem = findUnsafe(clean);
  if (problem) return { html: '', remoteImages: counted, failedClosed: true };
  return { html: clean, remoteImages: counted, failedClosed: false };
}

const UNSAFE_TAGS = new Set([
  'script',
  'style',
  'iframe',
  'frame',
  'frameset',
  'object',
  'embed',
  'applet',
  'form',
  'input',
  'button',
  'textarea',
  'select',
  'meta',
  'base',
  'link',
  'svg',
  'math',
  'template',
  'noscript',
  'video',
  'audio',
  'source',
  'portal',
]);
const URL_ATTRS = new Set([
  'href',
  'src',
  'action',
  'formaction',
  'srcset',
  'background',
  'poster',
  'xlink:href',
  'data',
  'ping',
  'cite',
  'longdesc',
  'usemap',
]);

/** The independent second look: what the output must never hold, whoever produced it. */
export function findUnsafe(markup: string): string | null {
  const { document } = parseHTML(`<!doctype html><html><head></head><body>${markup}</body></html>`);
  for (const element of document.querySelectorAll('*')) {
    const tag = element.localName.toLowerCase();
    if (UNSAFE_TAGS.has(tag)) return `<${tag}>`;
    for (const attribute of element.attributes) {
      const name = attribute.name.toLowerCase();
      const value = attribute.value;
      if (name.startsWith('on')) return `${name}=`;
      if (name === 'style' && scrubCss(value) !== value) return 'style with url()';
      if (URL_ATTRS.has(name) && !(tag === 'img' && name === 'src' && value.startsWith('data:image/'))) return `${name}=`;
      if (/j\s*a\s*v\s*a\s*s\s*c\s*r\s*i\s*p\s*t\s*:/i.test(stripControls(value))) return 'javascript: URL';
    }
  }
  return null;
}

/** Browsers skip control characters inside a URL scheme (`jav\tascript:`). */
function stripControls(text: string): string {
  let out = '';
  for (const c of text) if (c.charCodeAt(0) > 0x1f) out += c;
  return out;
}
