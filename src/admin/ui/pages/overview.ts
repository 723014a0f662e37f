import type { LoadedConfig } from '../../../config/reload-plan.js';
import type { CampaignSummary } from '../../../review/campaigns.js';
import { RECORD_STATUSES } from '../../../store/record.js';
import { each, html, type Html } from '../html.js';
import type { OverviewData } from '../page-data.js';
import { layout } from './layout.js';
import { approverList, postForm, statusBadge, statusCounts, verdictCounts, verdictKeys, verdictLabel, when } from './parts.js';
import type { View } from './view.js';

/** The part that refreshes itself: console.js fetches /ui/overview/live and swaps it in. */
export function overviewLive(view: View, data: OverviewData, loaded?: LoadedConfig): Html {
  const oldest = data.oldestHeld;
  return html`${breakerSection(view, data.openBreakers)}
    <section class="counts">
      <h2>${view.t('countsByStatus')}</h2>
      <ul class="tiles">
        ${each(
          RECORD_STATUSES.filter((s) => s !== 'released' || data.statuses.released > 0),
          (s) =>
            html`<li class="tile tile-${s}">
              <a href="/ui/messages?status=${s}">${statusBadge(view, s)}<span class="big" data-status="${s}">${data.statuses[s]}</span></a>
            </li>`,
        )}
      </ul>
    </section>
    ${verdictSection(view, data.verdicts)}
    <section>
      <h2>${view.t('oldestHeld')}</h2>
      <p class="oldest">
        ${oldest ? html`<a href="/ui/messages/${oldest.id}">${when(view, oldest.receivedAt)}</a> · ${oldest.sender} · ${oldest.subject ?? view.t('noSubject')}` : view.t('noneHeld')}
      </p>
    </section>
    <section>
      <h2>${view.t('latestCampaigns')}</h2>
      ${data.latestHeldCampaigns.length === 0 ? html`<p>${view.t('noCampaigns')}</p>` : campaignTable(view, data.latestHeldCampaigns)}
    </section>
    ${loaded ? configFooter(view, loaded) : ''}`;
}

/** Which config runs, as /readyz says: after a reload the hash and the time change (the part refreshes itself). */
function configFooter(view: View, loaded: LoadedConfig): Html {
  return html`<footer class="hint config-loaded" data-config-hash="${loaded.hash}">
    ${view.t('configLoaded', { hash: loaded.hash })} ${when(view, new Date(loaded.loadedAt))}
  </footer>`;
}

/** Senders paused by policy.breaker, first on the page: their mail stops until someone resets it. Nothing when none. */
function breakerSection(view: View, breakers: OverviewData['openBreakers']): Html | string {
  if (breakers.length === 0) return '';
  return html`<section class="breakers" id="breakers">
    <h2>${view.t('breakersTitle')}</h2>
    <p class="hint">${view.t('breakersIntro')}</p>
    <table class="breakers">
      <thead>
        <tr>
          <th>${view.t('colSender')}</th>
          <th>${view.t('colBreakerSince')}</th>
          <th class="num">${view.t('colBreakerViolations')}</th>
          <th>${view.t('colBreakerAction')}</th>
          <th></th>
        </tr>
      </thead>
      <tbody>
        ${each(
          breakers,
          (b) =>
            html`<tr data-breaker="${b.id}">
              <td><a href="/ui/messages?sender=${encodeURIComponent(b.sender)}">${b.sender}</a></td>
              <td>${when(view, b.openedAt)}</td>
              <td class="num">${b.violations} <span class="hint">${view.t('breakerWindow', { seconds: b.windowSeconds })}</span></td>
              <td>${view.t(`breakerAction.${b.action}`)}</td>
              <td>
                ${postForm(
                  view,
                  `/ui/breakers/${b.id}/reset`,
                  html`<label>${view.t('breakerResetReason')} <input type="text" name="reason" maxlength="1000" /></label>
                    <button type="submit">${view.t('breakerReset')}</button>`,
                  { confirm: view.t('confirmBreakerReset', { sender: b.sender }) },
                )}
              </td>
            </tr>`,
        )}
      </tbody>
    </table>
  </section>`;
}

/** Verdict counts today and over the last 7 days (UTC days), with what they cover. */
function verdictSection(view: View, verdicts: OverviewData['verdicts']): Html {
  const { today, last7Days } = verdicts;
  return html`<section class="verdicts">
    <h2>${view.t('countsByVerdict')}</h2>
    <table class="verdicts">
      <thead>
        <tr>
          <th>${view.t('colVerdict')}</th>
          <th class="num">${view.t('today')}</th>
          <th class="num">${view.t('last7Days')}</th>
        </tr>
      </thead>
      <tbody>
        ${each(
          verdictKeys(today.verdicts, last7Days.verdicts),
          (k) =>
            html`<tr data-verdict="${k}">
              <th>${verdictLabel(view, k)}</th>
              <td class="num today">${today.verdicts[k] ?? 0}</td>
              <td class="num week">${last7Days.verdicts[k] ?? 0}</td>
            </tr>`,
        )}
        <tr class="total">
          <th>${view.t('totalMessages')}</th>
          <td class="num today">${today.messages}</td>
          <td class="num week">${last7Days.messages}</td>
        </tr>
      </tbody>
    </table>
    <p class="hint">${view.t('utcDays', { since: last7Days.since.slice(0, 10) })}</p>
    ${verdicts.complete ? '' : html`<p class="hint incomplete">${view.t('verdictsIncomplete')}</p>`}
    ${verdicts.truncated ? html`<p class="hint">${view.t('verdictsTruncated')}</p>` : ''}
  </section>`;
}

export function overviewPage(view: View, data: OverviewData, loaded?: LoadedConfig): Html {
  return layout(
    view,
    view.t('overviewTitle'),
    html`<h1>${view.t('overviewTitle')}</h1>
      <p class="hint">${view.t('liveNote')}</p>
      <div id="live" data-live="/ui/overview/live" data-interval="2000">${overviewLive(view, data, loaded)}</div>`,
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
        <th>${view.t('colVerdicts')}</th>
        <th>${view.t('approvedBy')}</th>
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
            <td class="verdicts">${verdictCounts(view, c.verdicts)}</td>
            <td class="approvers">${approverList(view, c.approvers)}</td>
            <td>${when(view, c.lastReceivedAt)}</td>
          </tr>`,
      )}
    </tbody>
  </table>`;
}
