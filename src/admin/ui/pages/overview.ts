import type { CampaignSummary } from '../../../review/campaigns.js';
import { RECORD_STATUSES } from '../../../store/record.js';
import { each, html, type Html } from '../html.js';
import type { OverviewData } from '../page-data.js';
import { layout } from './layout.js';
import { statusBadge, statusCounts, when } from './parts.js';
import type { View } from './view.js';

/** The part that refreshes itself: console.js fetches /ui/overview/live and swaps it in. */
export function overviewLive(view: View, data: OverviewData): Html {
  return html`<section class="counts">
      <h2>${view.t('countsByStatus')}</h2>
      <ul class="tiles">
        ${each(
          RECORD_STATUSES.filter((s) => s !== 'released' || data.counts.released > 0),
          (s) =>
            html`<li class="tile tile-${s}">
              <a href="/ui/messages?status=${s}">${statusBadge(view, s)}<span class="big" data-status="${s}">${data.counts[s]}</span></a>
            </li>`,
        )}
      </ul>
    </section>
    <section>
      <h2>${view.t('oldestHeld')}</h2>
      <p class="oldest">${data.oldestHeld ? when(view, data.oldestHeld) : view.t('noneHeld')}</p>
    </section>
    <section>
      <h2>${view.t('latestCampaigns')}</h2>
      ${data.latestCampaigns.length === 0 ? html`<p>${view.t('noCampaigns')}</p>` : campaignTable(view, data.latestCampaigns)}
      ${data.truncated ? html`<p class="hint">${view.t('truncated')}</p>` : ''}
    </section>`;
}

export function overviewPage(view: View, data: OverviewData): Html {
  return layout(
    view,
    view.t('overviewTitle'),
    html`<h1>${view.t('overviewTitle')}</h1>
      <p class="hint">${view.t('liveNote')}</p>
      <div id="live" data-live="/ui/overview/live" data-interval="2000">${overviewLive(view, data)}</div>`,
  );
}

export function campaignTable(view: View, campaigns: readonly CampaignSummary[]): Html {
  return html`<table class="campaigns">
    <thead>
      <tr>
        <th>${view.t('colSender')}</th>
        <th>${view.t('colSubject')}</th>
        <th class="num">${view.t('colCount')}</th>
        <th class="num" title="${view.t('worstHelp')}">${view.t('colWorst')}</th>
        <th>${view.t('colStatuses')}</th>
        <th>${view.t('colLast')}</th>
      </tr>
    </thead>
    <tbody>
      ${each(
        campaigns,
        (c) =>
          html`<tr>
            <td>${c.sender}</td>
            <td><a href="/ui/campaigns/${c.key}">${c.subject ?? view.t('noSubject')}</a></td>
            <td class="num">${c.count}</td>
            <td class="num exposure">${c.worstExposure}</td>
            <td>${statusCounts(view, c.statuses)}</td>
            <td>${when(view, c.lastReceivedAt)}</td>
          </tr>`,
      )}
    </tbody>
  </table>`;
}
