import { en, type StringKey } from './strings-en.js';
import { ja } from './strings-ja.js';

// Every word the console shows, in one table per language (strings-en.ts,
// strings-ja.ts, the same keys). The Japanese is written for an operator on
// duty (承認, 送信, 破棄, 保留), not translated word by word. `{name}` placeholders are filled by t(); the values are escaped by
// the html template like any other text.

export const LANGUAGES = ['en', 'ja'] as const;
export type Language = (typeof LANGUAGES)[number];

export type { StringKey } from './strings-en.js';

export const STRINGS: Readonly<Record<Language, Readonly<Record<StringKey, string>>>> = { en, ja };

export type Translate = (key: StringKey, params?: Readonly<Record<string, string | number>>) => string;

export function translator(language: Language): Translate {
  const table = STRINGS[language];
  return (key, params = {}) => table[key].replace(/\{(\w+)\}/g, (whole, name: string) => (name in params ? String(params[name]) : whole));
}

export function isLanguage(value: unknown): value is Language {
  return value === 'en' || value === 'ja';
}

/** The cookie's choice, else the first of Accept-Language's languages we have (by q), else English. */
export function chooseLanguage(cookie: string | undefined, acceptLanguage: string | undefined): Language {
  if (isLanguage(cookie)) return cookie;
  const ranked = (acceptLanguage ?? '')
    .split(',')
    .map((part, index) => {
      const [tag = '', ...params] = part.trim().split(';');
      const q = params.map((p) => /^\s*q=([0-9.]+)\s*$/.exec(p)?.[1]).find((v) => v !== undefined);
      return { primary: tag.trim().toLowerCase().split('-')[0]!, q: q === undefined ? 1 : Number(q), index };
    })
    .filter((l) => l.q > 0)
    .sort((a, b) => b.q - a.q || a.index - b.index);
  return ranked.map((l) => l.primary).find(isLanguage) ?? 'en';
}
