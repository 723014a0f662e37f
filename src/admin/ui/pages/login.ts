import { html, type Html } from '../html.js';
import { layout, notice } from './layout.js';
import type { View } from './view.js';

export function loginPage(view: View, problem: string | null): Html {
  return layout(
    view,
    view.t('signIn'),
    html`<section class="login">
      <h1>${view.t('signIn')}</h1>
      <p>${view.t('loginIntro')}</p>
      <form method="post" action="/ui/login">
        <label for="token">${view.t('tokenLabel')}</label>
        <input id="token" name="token" type="password" autocomplete="off" required autofocus />
        <button type="submit">${view.t('signIn')}</button>
      </form>
    </section>`,
    problem ? notice('error', problem) : null,
  );
}

export function errorPage(view: View, status: number, detail: string | null): Html {
  const key = `error.${status}` as const satisfies string;
  const title = key in ERROR_KEYS ? view.t(key as keyof typeof ERROR_KEYS) : view.t('error.500');
  return layout(view, title, html`<p><a href="/ui/">${view.t('back')}</a></p>`, notice('error', title, detail));
}

const ERROR_KEYS = {
  'error.400': 1,
  'error.401': 1,
  'error.403': 1,
  'error.404': 1,
  'error.409': 1,
  'error.415': 1,
  'error.429': 1,
  'error.502': 1,
  'error.503': 1,
  'error.500': 1,
} as const;
