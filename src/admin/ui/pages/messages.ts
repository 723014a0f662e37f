import { ACTIONS } from '../../../config/schema.js';
import { RECORD_STATUSES } from '../../../store/record.js';
import { each, html, type Html } from '../html.js';
import type { MessageQuery, MessagesPage } from '../page-data.js';
import type { StringKey } from '../strings.js';
import { layout } from './layout.js';
import { postForm, statusBadge, verdictLabel, when } from './parts.js';
import type { View } from './view.js';

/** The query string of the filters in force (cursor aside): the paging links keep them. */
export function filterParams(query: MessageQuery): URLSearchParams {
  const params = new URLSearchParams();
  const set = (key: string, value: string | boolean | undefined) => {
    if (value !== undefined) params.set(key, String(value));
  };
  set('status', query.status);
  set('action', query.action);
  set('rule', query.rule);
  set('violation', query.violation);
  set('sender', query.sender);
  set('q', query.text);
  return params;
}

function filterForm(view: View, query: MessageQuery): Html {
  const option = (value: string, label: string, selected: boolean) => html`<option value="${value}" ${selected ? html` selected` : ''}>${label}</option>`;
  const text = (name: string, label: StringKey, value: string | undefined, size: number) =>
    html`<label for="f-${name}">${view.t(label)}</label> <input id="f-${name}" name="${name}" value="${value ?? ''}" maxlength="200" size="${size}" />`;
  const violation = query.violation === undefined ? '' : String(query.violation);
  return html`<form method="get" action="/ui/messages" class="filters">
    <label for="status">${view.t('filterStatus')}</label>
    <select id="status" name="status">
      ${option('', view.t('filterAny'), query.status === undefined)} ${each(RECORD_STATUSES, (s) => option(s, view.t(`status.${s}`), s === query.status))}
    </select>
    <label for="f-action">${view.t('filterAction')}</label>
    <select id="f-action" name="action">
      ${option('', view.t('filterAny'), query.action === undefined)} ${each(ACTIONS, (a) => option(a, verdictLabel(view, a), a === query.action))}
    </select>
    ${text('rule', 'filterRule', query.rule, 12)}
    <label for="f-violation">${view.t('filterViolation')}</label>
    <select id="f-violation" name="violation">
      ${option('', view.t('filterAny'), violation === '')}${option('true', view.t('filterYes'), violation === 'true')}${option('false', view.t('filterNo'), violation === 'false')}
    </select>
    ${text('sender', 'filterSender', query.sender, 20)} ${text('q', 'filterText', query.text, 20)}
    <button type="submit">${view.t('filterShow')}</button>
  </form>`;
}

/**
 * Filtered by one sender: stop everything still waiting from it (delayed,
 * held, approved, captured), e.g. a bulk send gone wrong under several subjects.
 */
function senderDiscardForm(view: View, sender: string): Html {
  return postForm(
    view,
    '/ui/senders/discard',
    html`<input type="hidden" name="sender" value="${sender}" />
      <label for="sender-discard-reason">${view.t('reasonRequired')}</label>
      <input id="sender-discard-reason" name="reason" maxlength="1000" required />
      <button type="submit" class="discard">${view.t('senderDiscard')}</button>`,
    { confirm: view.t('confirmSenderDiscard'), className: 'sender-discard' },
  );
}

export function messagesPage(view: View, query: MessageQuery, page: MessagesPage, notice: Html | null = null): Html {
  const filters = filterParams(query);
  const first = filters.toString();
  filters.set('cursor', page.nextCursor ?? '');
  // Fewer than a page with a cursor: the store stopped at its scan bound, not at the end.
  const stoppedAtBound = page.nextCursor !== null && page.records.length < query.limit;
  return layout(
    view,
    view.t('messagesTitle'),
    html`<h1>${view.t('messagesTitle')}</h1>
      ${notice ?? ''} ${filterForm(view, query)} ${query.sender ? senderDiscardForm(view, query.sender) : ''}
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
                      <td>
                        ${statusBadge(view, r.status)}${
                          r.status === 'delayed' && r.releaseAt ? html` <span class="leaves-at">${view.t('leavesAt')} ${when(view, r.releaseAt)}</span>` : ''
                        }
                      </td>
                      <td>${r.from ?? r.envelope.mailFrom}</td>
                      <td><a href="/ui/messages/${r.id}">${r.subject ?? view.t('noSubject')}</a></td>
                      <td>${r.verdict ? `${r.verdict.rule} → ${r.verdict.action}` : ''}</td>
                      <td class="num">
                        ${r.analysis?.exposedExternalCount ?? 0}${
                          r.analysis?.content?.externalCount
                            ? html` <small class="content-count" title="${view.t('contentFound')}">+${r.analysis.content.externalCount}</small>`
                            : ''
                        }
                      </td>
                    </tr>`,
                )}
              </tbody>
            </table>`
      }
      <p class="paging">
        ${query.cursor ? html`<a href="/ui/messages?${first}">${view.t('firstPage')}</a> ` : ''}${
          page.nextCursor ? html`<a rel="next" href="/ui/messages?${filters.toString()}">${view.t('olderPage')}</a>` : ''
        }
      </p>
      ${stoppedAtBound ? html`<p class="hint scan-bound">${view.t('searchedRecords', { n: page.scanned })}</p>` : ''}`,
  );
}
