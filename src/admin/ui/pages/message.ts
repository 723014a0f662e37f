import type { MessageRecord } from '../../../store/record.js';
import type { MessagePreview } from '../../preview.js';
import { each, html, type Html } from '../html.js';
import type { AddressRow, CopyHead } from '../message-content.js';
import type { SanitisedHtml } from '../sanitise-html.js';
import { contentSection } from './content-section.js';
import { decisions } from './decisions.js';
import { layout } from './layout.js';
import { bytes, postForm, statusBadge, when } from './parts.js';
import type { View } from './view.js';

export interface MessagePageData {
  readonly record: MessageRecord;
  readonly preview: MessagePreview | null;
  readonly addresses: readonly AddressRow[];
  readonly revealed: boolean;
  readonly html: SanitisedHtml | null;
  readonly split: CopyHead;
  readonly bcc: CopyHead;
  readonly approver: string | null;
  readonly fourEyes: boolean;
}

const ADDRESSES_PER_HEADER = 200;

export function messagePage(view: View, data: MessagePageData, notice: Html | null): Html {
  const { record } = data;
  const status = record.status;
  return layout(
    view,
    `${view.t('messageTitle')}: ${record.subject ?? view.t('noSubject')}`,
    html`<h1 class="subject">${record.subject ?? view.t('noSubject')}</h1>
      <p>
        ${statusBadge(view, status)} <span class="id">${record.id}</span> · ${when(view, record.receivedAt)} ·
        ${status === 'delayed' && record.releaseAt ? html`<span class="leaves-at">${view.t('leavesAt')} ${when(view, record.releaseAt)}</span> ·` : ''}
        <a href="/ui/messages/${record.id}/raw">${view.t('downloadRaw')}</a>
      </p>
      ${decisions(view, {
        base: `/ui/messages/${record.id}`,
        count: 1,
        canApprove: status === 'held' || status === 'failed',
        canRelease: data.fourEyes ? status === 'approved' : status === 'held' || status === 'approved' || status === 'failed',
        // Delayed: leaves by itself at its time; until then it can only be stopped.
        canDiscard: status === 'held' || status === 'approved' || status === 'captured' || status === 'failed' || status === 'delayed',
        approvers: data.approver && status === 'approved' ? [data.approver] : [],
        fourEyes: data.fourEyes,
      })}
      <section>
        <h2>${view.t('envelope')}</h2>
        <dl class="facts">
          <dt>${view.t('colFrom')}</dt>
          <dd class="from">${data.preview?.from.join(', ') || record.from || ''}</dd>
          <dt>MAIL FROM</dt>
          <dd>${record.envelope.mailFrom}</dd>
          <dt>RCPT TO</dt>
          <dd>${record.envelope.rcptTo.length}</dd>
          <dt>${view.t('client')}</dt>
          <dd>${record.client.address}</dd>
          <dt>${view.t('authUser')}</dt>
          <dd>${record.client.authUser ?? '–'}</dd>
          <dt>${view.t('size')}</dt>
          <dd>${bytes(record.size)}</dd>
        </dl>
      </section>
      <section>
        <h2>${view.t('verdict')}</h2>
        ${
          record.verdict
            ? html`<dl class="facts">
                <dt>${view.t('rule')}</dt>
                <dd>${record.verdict.rule}</dd>
                <dt>${view.t('action')}</dt>
                <dd>${record.verdict.action}</dd>
                <dt>${view.t('reason')}</dt>
                <dd class="reason">${record.verdict.reason}</dd>
              </dl>`
            : html`<p>${view.t('noVerdict')}</p>`
        }
      </section>
      ${addressSection(view, data)} ${contentSection(view, record.analysis?.content)}
      <section>
        <h2>${view.t('history')}</h2>
        <table class="history">
          <thead>
            <tr>
              <th>${view.t('colAt')}</th>
              <th>${view.t('colActor')}</th>
              <th>${view.t('colAction')}</th>
              <th>${view.t('colNote')}</th>
            </tr>
          </thead>
          <tbody>
            ${each(
              record.history,
              (h) =>
                html`<tr>
                  <td>${when(view, h.at)}</td>
                  <td class="actor">${h.actor}</td>
                  <td class="action">${h.action}</td>
                  <td>${h.note ?? ''}${h.upstreamReply ? html`<br /><code>${h.upstreamReply}</code>` : ''}</td>
                </tr>`,
            )}
          </tbody>
        </table>
      </section>
      <section>
        <h2>${view.t('textPreview')}</h2>
        <pre class="text-preview">${data.preview?.text ?? ''}</pre>
      </section>
      <section>
        <h2>${view.t('htmlPreview')}</h2>
        ${htmlSection(view, record.id, data.html)}
      </section>
      <section>
        <h2>${view.t('attachments')}</h2>
        ${attachments(view, data.preview)}
      </section>
      <section>
        <h2>${view.t('asSent')}</h2>
        <h3>${data.split.ok ? view.t('asSentSplit', { n: data.split.copies }) : 'split'}</h3>
        ${copyBlock(view, data.split, 'split')}
        <h3>${data.bcc.ok ? view.t('asSentBcc') : 'bcc'}</h3>
        ${copyBlock(view, data.bcc, 'bcc')}
      </section>`,
    notice,
  );
}

function addressSection(view: View, data: MessagePageData): Html {
  const canReveal = view.session?.actor.role === 'approver' && !data.revealed && data.addresses.length > 0;
  return html`<section class="addresses">
    <h2>${view.t('visibleAddresses')}</h2>
    <p class="hint">${data.revealed ? view.t('revealedNote', { name: view.session?.actor.name ?? '' }) : view.t('maskedNote')}</p>
    ${
      data.addresses.length === 0
        ? html`<p>${view.t('noAddresses')}</p>`
        : html`<table class="addresses">
            <thead>
              <tr>
                <th>${view.t('colHeader')}</th>
                <th class="num">${view.t('colCount')}</th>
                <th>${view.t('colAddresses')}</th>
              </tr>
            </thead>
            <tbody>
              ${each(
                data.addresses,
                (row) =>
                  html`<tr>
                    <th scope="row">${row.header}</th>
                    <td class="num">${row.addresses.length}</td>
                    <td>
                      <ul class="address-list">
                        ${each(
                          row.addresses.slice(0, ADDRESSES_PER_HEADER),
                          (a) =>
                            html`<li${a.internal ? html` class="internal"` : ''}>${a.shown}${a.internal ? html` <small>(${view.t('internal')})</small>` : ''}</li>`,
                        )}
                      </ul>
                      ${row.addresses.length > ADDRESSES_PER_HEADER ? view.t('andMore', { n: row.addresses.length - ADDRESSES_PER_HEADER }) : ''}
                    </td>
                  </tr>`,
              )}
            </tbody>
          </table>`
    }
    ${canReveal ? postForm(view, `/ui/messages/${data.record.id}/reveal`, html`<button type="submit" class="reveal">${view.t('reveal')}</button>`) : ''}
  </section>`;
}

function htmlSection(view: View, id: string, part: SanitisedHtml | null): Html {
  if (part === null) return html`<p>${view.t('noHtml')}</p>`;
  if (part.failedClosed) return html`<p>${view.t('htmlNotShown')}</p>`;
  return html`${part.remoteImages > 0 ? html`<p class="blocked">${view.t('remoteImages', { n: part.remoteImages })}</p>` : ''}
    <iframe class="html-preview" sandbox src="/ui/messages/${id}/frame" title="${view.t('htmlPreview')}" referrerpolicy="no-referrer"></iframe>`;
}

function attachments(view: View, preview: MessagePreview | null): Html {
  const list = preview?.attachments ?? [];
  if (list.length === 0) return html`<p>${view.t('none')}</p>`;
  return html`<table class="attachments">
    <thead>
      <tr>
        <th>${view.t('colName')}</th>
        <th>${view.t('colType')}</th>
        <th class="num">${view.t('colSize')}</th>
      </tr>
    </thead>
    <tbody>
      ${each(
        list,
        (a) =>
          html`<tr>
            <td class="filename">${a.filename ?? '–'}</td>
            <td>${a.contentType}</td>
            <td class="num">${bytes(a.size)}</td>
          </tr>`,
      )}
    </tbody>
  </table>`;
}

function copyBlock(view: View, copy: CopyHead, form: string): Html {
  return copy.ok
    ? html`<pre class="copy-head copy-${form}">${copy.head}</pre>`
    : html`<p class="not-possible">${view.t('notPossible', { why: copy.reason })}</p>`;
}
