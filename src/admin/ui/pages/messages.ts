import { RECORD_STATUSES, type MessageRecord } from '../../../store/record.js';
import { each, html, type Html } from '../html.js';
import type { MessageQuery } from '../page-data.js';
import type { StringKey } from '../strings.js';
import { layout } from './layout.js';
import { statusBadge, when } from './parts.js';
import type { View } from './view.js';

/** Filters the API does not have yet: shown, disabled, named as the API will name them. */
const LATER_FILTERS: readonly [string, StringKey][] = [
  ['action', 'filterAction'],
  ['rule', 'filterRule'],
  ['violation', 'filterViolation'],
  ['sender', 'filterSender'],
  ['q', 'filterText'],
];

export function messagesPage(view: View, query: MessageQuery, page: { records: readonly MessageRecord[]; nextCursor: string | null }): Html {
  const status = query.status;
  const statusParam = status ? `status=${status}&` : '';
  return layout(
    view,
    view.t('messagesTitle'),
    html`<h1>${view.t('messagesTitle')}</h1>
      <form method="get" action="/ui/messages" class="filters">
        <label for="status">${view.t('filterStatus')}</label>
        <select id="status" name="status">
          <option value="">${view.t('filterAny')}</option>
          ${each(RECORD_STATUSES, (s) => html`<option value="${s}" ${s === status ? html` selected` : ''}>${view.t(`status.${s}`)}</option>`)}
        </select>
        ${each(LATER_FILTERS, ([name, label]) => html`<label for="f-${name}">${view.t(label)}</label> <input id="f-${name}" name="${name}" disabled title="${view.t('filterLater')}" />`)}
        <button type="submit">${view.t('filterShow')}</button>
      </form>
      ${
        page.records.length === 0
          ? html`<p>${view.t('noMessages')}</p>`
          : html`<table class="messages">
              <thead>
                <tr>
                  <th>${view.t('colReceived')}</th>
                  <th>${view.t('colStatus')}</th>
                  <th>${view.t('colFrom')}</th>
                  <th>${view.t('colSubject')}</th>
                  <th>${view.t('colVerdict')}</th>
                  <th class="num">${view.t('colWorst')}</th>
                </tr>
              </thead>
              <tbody>
                ${each(
                  page.records,
                  (r) =>
                    html`<tr>
                      <td><a href="/ui/messages/${r.id}">${when(view, r.receivedAt)}</a></td>
                      <td>${statusBadge(view, r.status)}</td>
                      <td>${r.from ?? r.envelope.mailFrom}</td>
                      <td><a href="/ui/messages/${r.id}">${r.subject ?? view.t('noSubject')}</a></td>
                      <td>${r.verdict ? `${r.verdict.rule} → ${r.verdict.action}` : ''}</td>
                      <td class="num">${r.analysis?.exposedExternalCount ?? 0}</td>
                    </tr>`,
                )}
              </tbody>
            </table>`
      }
      <p class="paging">
        ${query.cursor ? html`<a href="/ui/messages?${statusParam}">${view.t('firstPage')}</a> ` : ''}${
          page.nextCursor ? html`<a rel="next" href="/ui/messages?${statusParam}cursor=${encodeURIComponent(page.nextCursor)}">${view.t('olderPage')}</a>` : ''
        }
      </p>`,
  );
}
