import type { Session } from '../session.js';
import type { Language, Translate } from '../strings.js';

/** What every page renderer gets: the language, who is signed in, and the form token. */
export interface View {
  readonly lang: Language;
  readonly t: Translate;
  readonly session: Session | null;
  /** The CSRF token for this session's forms (null when signed out). */
  readonly csrf: string | null;
  /** The path and query of this page, for the language switch to come back to. */
  readonly here: string;
}
