import { expect } from 'vitest';

// Signing in to the reviewer console over real HTTP, and reading its pages, as a browser without JavaScript would.

export const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

/** POST /ui/login with the token; the session cookie plus the language cookie. */
export async function signIn(base: string, token: string, lang = 'en'): Promise<string> {
  const response = await fetch(`${base}/ui/login`, { method: 'POST', headers: FORM, body: `token=${encodeURIComponent(token)}`, redirect: 'manual' });
  expect(response.status).toBe(303);
  return `${(response.headers.get('set-cookie') ?? '').split(';')[0]!}; mg_lang=${lang}`;
}

/** A console page's HTML; it must answer 200. */
export async function page(base: string, cookie: string, path: string): Promise<string> {
  const response = await fetch(`${base}${path}`, { headers: { cookie }, redirect: 'manual' });
  expect(response.status, path).toBe(200);
  return response.text();
}
