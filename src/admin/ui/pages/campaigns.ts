import type { CampaignSummary } from '../../../review/campaigns.js';
import { html, type Html } from '../html.js';
import { layout } from './layout.js';
import { campaignTable } from './overview.js';
import type { View } from './view.js';

export function campaignsPage(view: View, data: { campaigns: readonly CampaignSummary[]; truncated: boolean }, notice: Html | null = null): Html {
  return layout(
    view,
    view.t('campaignsTitle'),
    html`<h1>${view.t('campaignsTitle')}</h1>
      <p class="hint">${view.t('campaignsIntro')}</p>
      ${data.campaigns.length === 0 ? html`<p>${view.t('noCampaigns')}</p>` : campaignTable(view, data.campaigns)}
      ${data.truncated ? html`<p class="hint">${view.t('truncated')}</p>` : ''}`,
    notice,
  );
}
