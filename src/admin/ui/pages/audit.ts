import type { AuditPage } from '../page-data.js';
import { each, html, type Html } from '../html.js';
import { layout } from './layout.js';
import { when } from './parts.js';
import type { View } from './view.js';

/** The audit log, newest first (what just happened is what a person on duty checks), with the check of what is shown. */
export function auditLogPage(view: View, page: AuditPage): Html {
  const { check } = page;
  const state =
    page.corruptAt !== null
      ? html`<p class="chain chain-broken" role="alert">${view.t('auditCorrupt', { n: page.corruptAt })}</p>`
      : check === null
        ? ''
        : check.ok
          ? html`<p class="chain chain-ok">${view.t('auditPageIntact', { from: page.oldest, to: page.newest })}</p>`
          : html`<p class="chain chain-broken" role="alert">${view.t('auditPageBroken', { seq: check.bad.seq, why: check.bad.why })}</p>`;
  const olderLink = page.oldest > 1 ? html`<a rel="next" href="/ui/audit?before=${page.oldest - 1}">${view.t('auditOlder')}</a>` : '';
  const newerLink =
    page.newest < page.total
      ? html`<a href="/ui/audit">${view.t('auditNewest')}</a>
          <a rel="prev" href="/ui/audit?before=${Math.min(page.total, page.newest + page.entries.length)}">${view.t('auditNewer')}</a> `
      : '';
  return layout(
    view,
    view.t('auditTitle'),
    html`<h1>${view.t('auditTitle')}</h1>
      <p class="hint">${view.t('auditIntro')}</p>
      <p class="downloads">
        ${view.t('auditDownload')}: <a href="/ui/audit.jsonl" download>JSONL</a> ·
        <a href="/ui/audit.csv" download>CSV</a>
      </p>
      ${state}
      <p class="hint">${view.t('auditVerifyWhole')}</p>
      ${
        page.entries.length === 0
          ? html`<p>${page.total === 0 ? view.t('auditEmpty') : ''}</p>`
          : html`<table class="audit">
              <thead>
                <tr>
                  <th class="num">#</th>
                  <th>${view.t('colAt')}</th>
                  <th>${view.t('colActor')}</th>
                  <th>${view.t('colAction')}</th>
                  <th>${view.t('auditTarget')}</th>
                  <th>${view.t('colNote')}</th>
                  <th>${view.t('auditHash')}</th>
                </tr>
              </thead>
              <tbody>
                ${each(
                  page.entries,
                  (e) =>
                    html`<tr data-seq="${e.seq}">
                      <td class="num">${e.seq}</td>
                      <td>${when(view, e.at)}</td>
                      <td class="actor">${e.actor}</td>
                      <td class="action" data-action="${e.action}">${view.t(`audit.action.${e.action}`)}</td>
                      <td class="target">
                        ${e.target && /^[0-9A-Z]{26}$/.test(e.target) ? html`<a href="/ui/messages/${e.target}">${e.target}</a>` : (e.target ?? '')}
                      </td>
                      <td>${e.note ?? ''}</td>
                      <td><code title="${e.hash}">${e.hash.slice(0, 12)}</code></td>
                    </tr>`,
                )}
              </tbody>
            </table>`
      }
      <p class="paging">${newerLink}${olderLink}</p>`,
  );
}
