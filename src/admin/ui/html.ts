// The one way the console writes HTML: a tagged template that escapes every
// interpolation unless it is already Html (another template's output). There is
// no "raw" escape hatch for strings: markup from a message (subject, names,
// file names) can only ever become text. The sanitised preview frame is the one
// document not built here (sanitise-html.ts serialises its own DOM).

const ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'`]/g, (c) => ESCAPES[c]!);
}

/** Markup this module produced: safe to insert as it is. */
export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

export type Interpolation = Html | string | number | boolean | null | undefined | readonly Interpolation[];

function render(value: Interpolation): string {
  if (value === null || value === undefined || value === false) return '';
  if (value instanceof Html) return value.value;
  if (Array.isArray(value)) return value.map(render).join('');
  return escapeHtml(String(value));
}

/** html`<p>${text}</p>`: every interpolation is escaped (attributes must be quoted with "). */
export function html(strings: TemplateStringsArray, ...values: readonly Interpolation[]): Html {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]) + strings[i + 1]!;
  return new Html(out);
}

/** Html for a list, joined with nothing. */
export function each<T>(items: readonly T[], item: (value: T, index: number) => Html): Html {
  return new Html(items.map((v, i) => item(v, i).value).join(''));
}
