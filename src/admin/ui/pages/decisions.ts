import { html, type Html } from '../html.js';
import { postForm } from './parts.js';
import type { View } from './view.js';

// The approve / release / discard forms, for one message or a whole campaign.
// Four-eyes is shown, not only enforced: the approver's name, and the release
// buttons disabled for the person who approved (the server refuses anyway).

export interface DecisionState {
  /** POST target prefix: /ui/messages/:id or /ui/campaigns/:key. */
  readonly base: string;
  /** Records the action applies to. */
  readonly count: number;
  readonly canApprove: boolean;
  readonly canRelease: boolean;
  readonly canDiscard: boolean;
  readonly approvers: readonly string[];
  readonly fourEyes: boolean;
}

export function decisions(view: View, state: DecisionState): Html {
  const me = view.session?.actor;
  const iApproved = me !== undefined && state.approvers.includes(me.name);
  const blockedByFourEyes = state.fourEyes && iApproved;
  const releaseDisabled = !state.canRelease || blockedByFourEyes;
  const n = { n: state.count };
  const approvedLine = html`<p class="approvers">
    ${view.t('approvedBy')}: ${state.approvers.length ? html`<strong>${state.approvers.join(', ')}</strong>` : view.t('notApproved')}
  </p>`;
  const fourEyesNote = blockedByFourEyes
    ? html`<p class="four-eyes" role="note">${view.t('fourEyesYou')}</p>`
    : state.fourEyes && !state.canRelease && state.canApprove
      ? html`<p class="four-eyes" role="note">${view.t('fourEyesFirst')}</p>`
      : '';
  const releaseButton = (as: 'split' | 'bcc' | 'original', label: string): Html =>
    html`<button type="submit" name="as" value="${as}" class="release release-${as}" ${releaseDisabled ? html` disabled` : ''}>${label}</button>`;
  const reasonField = (id: string, required: boolean): Html =>
    html`<label for="${id}">${required ? view.t('reasonRequired') : view.t('reason')}</label>
      <input id="${id}" name="reason" maxlength="1000" ${required ? html` required` : ''} />`;

  return html`<section class="decisions">
    <h2>${view.t('actions')}</h2>
    ${approvedLine}${fourEyesNote}
    <div class="buttons">
      ${state.canApprove ? postForm(view, `${state.base}/approve`, html`${reasonField('approve-reason', false)} <button type="submit" class="approve">${view.t('approve')}</button>`, { confirm: view.t('confirmApprove', n) }) : ''}
      ${postForm(
        view,
        `${state.base}/release`,
        html`${releaseButton('split', view.t('releaseSplit'))}
        ${releaseButton('bcc', view.t('releaseBcc'))}${me?.role === 'approver' ? html` ${releaseButton('original', view.t('releaseOriginal'))}` : ''}`,
        { confirm: view.t('confirmRelease', n) },
      )}
      ${state.canDiscard ? postForm(view, `${state.base}/discard`, html`${reasonField('discard-reason', true)} <button type="submit" class="discard">${view.t('discard')}</button>`, { confirm: view.t('confirmDiscard', n) }) : ''}
    </div>
  </section>`;
}
