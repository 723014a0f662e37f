import type { ContentBoundKind } from '../../../analysis/content/content-report.js';
import { BOUND_KEYS } from '../../../policy/content-verdict.js';
import type { RecordContent } from '../../../store/record.js';
import { each, html, type Html } from '../html.js';
import type { StringKey } from '../strings.js';
import type { View } from './view.js';

// DESIGN.md "Content beyond the headers" as a reviewer sees it: where the
// content scan found external addresses, what it did not open, and the bound
// that stopped it. The addresses are stored masked (unless log.showAddresses),
// so revealing the header addresses does not change them.

const carrierKey = (carrier: string): StringKey | null =>
  ['forwarded-headers', 'body-text', 'body-html', 'text-attachment', 'spreadsheet'].includes(carrier) ? (`carrier.${carrier}` as StringKey) : null;
const whyKey = (why: string): StringKey | null => (['archive', 'encrypted', 'unreadable'].includes(why) ? (`why.${why}` as StringKey) : null);

/** Nothing for a record the scan did not run on (or older than it). */
export function contentSection(view: View, content: RecordContent | undefined): Html | '' {
  if (content === undefined) return '';
  const carrier = (c: string) => {
    const key = carrierKey(c);
    return key ? view.t(key) : c;
  };
  const why = (w: string) => {
    const key = whyKey(w);
    return key ? view.t(key) : w;
  };
  const boundKey = content.bound ? (BOUND_KEYS[content.bound.kind as ContentBoundKind] ?? content.bound.kind) : null;
  return html`<section class="content-found">
    <h2>${view.t('contentFound')}</h2>
    <p class="hint">${view.t('contentNote', { n: content.externalCount })}</p>
    ${content.bound ? html`<p class="blocked content-bound">${view.t('contentBound', { key: boundKey ?? '', limit: content.bound.limit })}</p>` : ''}
    ${
      content.locations.length === 0
        ? html`<p>${view.t('contentNone')}</p>`
        : html`<table class="content-places">
            <thead>
              <tr>
                <th>${view.t('colPart')}</th>
                <th>${view.t('colName')}</th>
                <th>${view.t('colType')}</th>
                <th>${view.t('colReadAs')}</th>
                <th class="num">${view.t('colAddressCount')}</th>
                <th>${view.t('colAddresses')}</th>
              </tr>
            </thead>
            <tbody>
              ${each(
                content.locations,
                (l) =>
                  html`<tr>
                    <td class="part">${l.part}</td>
                    <td class="filename">${l.filename ?? '–'}</td>
                    <td class="type">${l.contentType}</td>
                    <td class="carrier">${carrier(l.carrier)}</td>
                    <td class="num count">${l.externalCount}</td>
                    <td>
                      <ul class="address-list">
                        ${each(l.addresses, (a) => html`<li>${a}</li>`)}
                      </ul>
                      ${l.externalCount > l.addresses.length ? view.t('andMore', { n: l.externalCount - l.addresses.length }) : ''}
                    </td>
                  </tr>`,
              )}
            </tbody>
          </table>`
    }
    ${
      content.uninspected.length === 0
        ? ''
        : html`<h3>${view.t('contentUninspected')}</h3>
            <table class="content-uninspected">
              <thead>
                <tr>
                  <th>${view.t('colPart')}</th>
                  <th>${view.t('colName')}</th>
                  <th>${view.t('colType')}</th>
                  <th>${view.t('colWhy')}</th>
                </tr>
              </thead>
              <tbody>
                ${each(
                  content.uninspected,
                  (u) =>
                    html`<tr>
                      <td class="part">${u.part}</td>
                      <td class="filename">${u.filename ?? '–'}</td>
                      <td class="type">${u.contentType}</td>
                      <td class="why">${why(u.why)}</td>
                    </tr>`,
                )}
              </tbody>
            </table>`
    }
  </section>`;
}
