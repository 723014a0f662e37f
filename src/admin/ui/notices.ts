import { html, type Html } from './html.js';
import { notice } from './pages/layout.js';
import type { View } from './pages/view.js';
import type { BulkOutcome } from './campaign-bulk.js';

// After a decision the browser is sent back (303) to the page with ?done=…&ok=…&n=…:
// only an action name and numbers travel in the URL, never text to show.

const DONE = new Set(['approve', 'release', 'discard']);

export function doneQuery(action: string, outcome: Pick<BulkOutcome, 'succeeded' | 'count'>): string {
  return `done=${action}&ok=${outcome.succeeded}&n=${outcome.count}`;
}

export function noticeFromQuery(view: View, query: Record<string, unknown>): Html | null {
  const action = query['done'];
  if (typeof action !== 'string' || !DONE.has(action)) return null;
  const num = (v: unknown): number => (typeof v === 'string' && /^\d{1,7}$/.test(v) ? Number(v) : 0);
  return notice('ok', view.t(`done.${action as 'approve' | 'release' | 'discard'}`, { ok: num(query['ok']), n: num(query['n']) }));
}

/** A campaign action where some records failed: shown on the page itself, not through the URL. */
export function bulkNotice(view: View, action: 'approve' | 'release' | 'discard', outcome: BulkOutcome): Html {
  const done = view.t(`done.${action}`, { ok: outcome.succeeded, n: outcome.count });
  const failed = view.t('done.failed', { failed: outcome.failed, error: outcome.firstError?.message ?? '' });
  return html`${notice(outcome.succeeded > 0 ? 'ok' : 'error', done)}${notice('error', failed)}`;
}
