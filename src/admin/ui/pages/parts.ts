import { ACTIONS } from '../../../config/schema.js';
import type { RecordStatus } from '../../../store/record.js';
import { each, html, type Html } from '../html.js';
import type { StringKey } from '../strings.js';
import type { View } from './view.js';

// Small pieces several pages use.

export function statusBadge(view: View, status: string): Html {
  return html`<span class="status status-${status}">${view.t(`status.${status}` as StringKey)}</span>`;
}

export function statusCounts(view: View, statuses: Partial<Record<RecordStatus, number>>): Html {
  const entries = Object.entries(statuses).filter(([, n]) => (n ?? 0) > 0);
  return each(entries, ([status, n]) => html`${statusBadge(view, status)} <span class="count">${n}</span> `);
}

/** Local time of the viewer's language, with the zone; the ISO value as a tooltip. */
export function when(view: View, iso: string | Date | null): Html {
  if (iso === null) return html`–`;
  const date = typeof iso === 'string' ? new Date(iso) : iso;
  const text = date.toLocaleString(view.lang === 'ja' ? 'ja-JP' : 'en-GB', { timeZoneName: 'short' });
  return html`<time datetime="${date.toISOString()}">${text}</time>`;
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

/** A POST form with the session's CSRF token; `confirm` makes console.js ask first (without JS it just submits). */
export function postForm(view: View, action: string, body: Html, options: { confirm?: string; className?: string } = {}): Html {
  return html`<form
    method="post"
    action="${action}"
    class="${options.className ?? 'inline'}"
    ${options.confirm ? html` data-confirm="${options.confirm}"` : ''}
  >
    <input type="hidden" name="csrf" value="${view.csrf ?? ''}" />${body}
  </form>`;
}

/** The verdict actions in the order the policy escalates; "none" (a record kept without a verdict) only when some have it. */
export function verdictKeys(...counts: readonly Readonly<Record<string, number>>[]): string[] {
  const keys = [...ACTIONS] as string[];
  for (const c of counts) for (const k of Object.keys(c)) if (!keys.includes(k) && (c[k] ?? 0) > 0) keys.push(k);
  return keys;
}

export function verdictLabel(view: View, action: string): string {
  return (VERDICT_LABELS as readonly string[]).includes(action) ? view.t(`verdict.${action as (typeof VERDICT_LABELS)[number]}`) : action;
}

/** Compact "Held 3 · Split 2" of the non-zero verdict counts (campaign tables). */
export function verdictCounts(view: View, counts: Readonly<Record<string, number>>): Html {
  const entries = verdictKeys(counts).filter((k) => (counts[k] ?? 0) > 0);
  return each(
    entries,
    (k) => html`<span class="verdict verdict-${k}" data-verdict="${k}">${verdictLabel(view, k)} <span class="count">${counts[k]}</span></span> `,
  );
}

const VERDICT_LABELS = [...ACTIONS, 'none'] as const;

/** "alice (12), bob (3)": who approved a campaign's approved records, or "not approved yet". */
export function approverList(view: View, approvers: readonly { readonly name: string; readonly count: number }[]): Html {
  if (approvers.length === 0) return html`<span class="none">${view.t('notApproved')}</span>`;
  return each(approvers, (a, i) => html`${i > 0 ? ', ' : ''}<strong>${a.name}</strong> (${a.count})`);
}
