import { each, html, type Html } from '../html.js';
import type { CampaignDetail } from '../page-data.js';
import { decisions } from './decisions.js';
import { layout } from './layout.js';
import { approverList, statusBadge, statusCounts, verdictCounts, when } from './parts.js';
import type { View } from './view.js';

const RECORDS_SHOWN = 100;

export function campaignPage(view: View, data: CampaignDetail, fourEyes: boolean, notice: Html | null): Html {
  const { summary, records } = data;
  const held = summary.statuses.held ?? 0;
  const approved = summary.statuses.approved ?? 0;
  return layout(
    view,
    `${view.t('campaignTitle')}: ${summary.subject ?? view.t('noSubject')}`,
    html`<h1>${summary.subject ?? view.t('noSubject')}</h1>
      <dl class="facts">
        <dt>${view.t('colSender')}</dt>
        <dd>${summary.sender}</dd>
        <dt>${view.t('colCount')}</dt>
        <dd class="count">${summary.count}</dd>
        <dt title="${view.t('worstHelp')}">${view.t('colWorst')}</dt>
        <dd class="exposure">${summary.worstExposure}</dd>
        <dt>${view.t('colStatuses')}</dt>
        <dd>${statusCounts(view, summary.statuses)}</dd>
        <dt>${view.t('colVerdicts')}</dt>
        <dd class="verdicts">${verdictCounts(view, summary.verdicts)}</dd>
        <dt>${view.t('approvedBy')}</dt>
        <dd class="approvers">${approverList(view, summary.approvers)}</dd>
        <dt>${view.t('colLast')}</dt>
        <dd>${when(view, summary.lastReceivedAt)}</dd>
      </dl>
      ${decisions(view, {
        base: `/ui/campaigns/${summary.key}`,
        count: summary.count,
        canApprove: held > 0,
        canRelease: fourEyes ? approved > 0 : held + approved > 0,
        canDiscard: summary.count > 0,
        approvers: summary.approvers.map((a) => a.name),
        fourEyes,
      })}
      <section>
        <h2>${view.t('messagesTitle')}</h2>
        <table class="messages">
          <thead>
            <tr>
              <th>${view.t('colReceived')}</th>
              <th>${view.t('colStatus')}</th>
              <th>RCPT TO</th>
              <th class="num">${view.t('colWorst')}</th>
            </tr>
          </thead>
          <tbody>
            ${each(
              records.slice(0, RECORDS_SHOWN),
              (r) =>
                html`<tr>
                  <td><a href="/ui/messages/${r.id}">${when(view, r.receivedAt)}</a></td>
                  <td>${statusBadge(view, r.status)}</td>
                  <td>${r.envelope.rcptTo.length}</td>
                  <td class="num">${r.analysis?.exposedExternalCount ?? 0}</td>
                </tr>`,
            )}
          </tbody>
        </table>
        ${records.length > RECORDS_SHOWN ? html`<p class="hint">${view.t('andMore', { n: records.length - RECORDS_SHOWN })}</p>` : ''}
      </section>`,
    notice,
  );
}
