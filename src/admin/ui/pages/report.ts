import type { Report } from '../../../review/report.js';
import { each, html, type Html } from '../html.js';
import { layout } from './layout.js';
import { verdictKeys, verdictLabel, when } from './parts.js';
import type { View } from './view.js';

/** The rehearsal report (GET /api/report): per campaign, what the policy did or would have done, and why. */
export function reportPage(view: View, report: Report, since: string): Html {
  const keys = verdictKeys(report.totals.verdicts, ...report.campaigns.map((c) => c.verdicts));
  const cells = (counts: Readonly<Record<string, number>>) => each(keys, (k) => html`<td class="num" data-verdict="${k}">${counts[k] ?? 0}</td>`);
  return layout(
    view,
    view.t('reportTitle'),
    html`<h1>${view.t('reportTitle')}</h1>
      <p class="hint">${view.t('reportIntro')}</p>
      <form method="get" action="/ui/report" class="filters">
        <label for="since">${view.t('reportSince')}</label>
        <input id="since" name="since" value="${since}" placeholder="2026-11-29" size="26" maxlength="40" />
        <button type="submit">${view.t('filterShow')}</button>
      </form>
      <p class="report-mode ${report.complete ? 'complete' : 'incomplete'}">
        ${report.complete ? view.t('reportComplete', { n: report.scanned }) : view.t('verdictsIncomplete')}
      </p>
      ${report.truncated ? html`<p class="hint">${view.t('verdictsTruncated')}</p>` : ''}
      ${
        report.campaigns.length === 0
          ? html`<p>${view.t('noMessages')}</p>`
          : html`<table class="report">
              <thead>
                <tr>
                  <th>${view.t('colSender')}</th>
                  <th>${view.t('colSubject')}</th>
                  <th class="num">${view.t('colCount')}</th>
                  ${each(keys, (k) => html`<th class="num">${verdictLabel(view, k)}</th>`)}
                  <th>${view.t('reportReasons')}</th>
                  <th>${view.t('colLast')}</th>
                </tr>
              </thead>
              <tbody>
                ${each(
                  report.campaigns,
                  (c) =>
                    html`<tr data-campaign="${c.key}">
                      <td><a href="/ui/messages?sender=${encodeURIComponent(c.sender)}">${c.sender}</a></td>
                      <td>${c.subject ?? view.t('noSubject')}</td>
                      <td class="num messages">${c.messages}</td>
                      ${cells(c.verdicts)}
                      <td>
                        <ul class="reasons">
                          ${each(c.reasons, (r) => html`<li><span class="verdict">${verdictLabel(view, r.action)}</span> ${r.count} × ${r.reason}</li>`)}
                          ${c.reasonsOmitted > 0 ? html`<li class="hint">${view.t('andMore', { n: c.reasonsOmitted })}</li>` : ''}
                          ${c.failedCopies > 0 ? html`<li class="hint">${view.t('reportFailedCopies', { n: c.failedCopies })}</li>` : ''}
                        </ul>
                      </td>
                      <td>${when(view, c.lastReceivedAt)}</td>
                    </tr>`,
                )}
                <tr class="total">
                  <th colspan="2">${view.t('reportTotal')}</th>
                  <td class="num messages">${report.totals.messages}</td>
                  ${cells(report.totals.verdicts)}
                  <td>${report.totals.failedCopies > 0 ? view.t('reportFailedCopies', { n: report.totals.failedCopies }) : ''}</td>
                  <td></td>
                </tr>
              </tbody>
            </table>`
      }`,
  );
}
