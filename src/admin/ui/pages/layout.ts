import { html, type Html } from '../html.js';
import { LANGUAGES } from '../strings.js';
import type { View } from './view.js';
import { postForm } from './parts.js';

const LANGUAGE_NAMES = { en: 'English', ja: '日本語' } as const;

/** The page shell: navigation, who is signed in, the language switch, one stylesheet, one script. */
export function layout(view: View, title: string, content: Html, notice: Html | null = null): Html {
  const back = encodeURIComponent(view.here);
  const switcher = html`<nav class="lang" aria-label="${view.t('language')}">
    ${LANGUAGES.map((l) =>
      l === view.lang
        ? html`<strong lang="${l}">${LANGUAGE_NAMES[l]}</strong>`
        : html`<a lang="${l}" href="/ui/lang/${l}?back=${back}">${LANGUAGE_NAMES[l]}</a>`,
    )}
  </nav>`;
  const session = view.session;
  const who = session
    ? html`<div class="who">
        <span>${view.t('signedInAs', { name: session.actor.name, role: view.t(`role.${session.actor.role}`) })}</span>
        ${postForm(view, '/ui/logout', html`<button type="submit" class="link">${view.t('signOut')}</button>`)}
      </div>`
    : '';
  const nav = session
    ? html`<nav class="main">
        <a href="/ui/">${view.t('navOverview')}</a><a href="/ui/campaigns">${view.t('navCampaigns')}</a><a href="/ui/messages">${view.t('navMessages')}</a
        ><a href="/ui/report">${view.t('navReport')}</a><a href="/ui/audit">${view.t('navAudit')}</a>
      </nav>`
    : '';
  return html`<!doctype html>
    <html lang="${view.lang}">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${title} · mail-guard</title>
        <link rel="stylesheet" href="/ui/assets/console.css" />
        <script src="/ui/assets/console.js" defer></script>
      </head>
      <body>
        <header><a class="brand" href="/ui/">${view.t('appName')}</a>${nav}${who}${switcher}</header>
        <main>${notice ?? ''} ${content}</main>
      </body>
    </html> `;
}

export function notice(kind: 'ok' | 'error', text: string, detail: string | null = null): Html {
  return html`<div class="notice notice-${kind}" role="${kind === 'error' ? 'alert' : 'status'}">
    <p>${text}</p>
    ${detail ? html`<p class="detail">${detail}</p>` : ''}
  </div>`;
}
