import type { FastifyInstance } from 'fastify';
import { campaignRecords } from '../../review/campaigns.js';
import { mayReleaseAs, ReviewRefusedError } from '../../review/lifecycle.js';
import { approveMessage, discardMessage, releaseMessage } from '../../review/review-actions.js';
import { HttpError } from '../http-answers.js';
import { approveBody, campaignKeyParam, discardBody, messageId, releaseBody } from '../request-input.js';
import type { MessageRecord } from '../../store/record.js';
import { auditUi } from './audit-ui.js';
import { applyToRecords, type BulkOutcome } from './campaign-bulk.js';
import { bulkNotice, doneQuery } from './notices.js';
import { campaignData } from './page-data.js';
import { campaignPage } from './pages/campaign.js';
import { renderMessage } from './read-routes.js';
import type { UiContext } from './ui-context.js';

type Action = 'approve' | 'release' | 'discard';
type IdParams = { Params: { id: string }; Body: unknown };
type KeyParams = { Params: { key: string }; Body: unknown };

/** The form's fields without the CSRF token (checked already), for the API's own body checks (request-input.ts). */
function fields(body: unknown): Record<string, unknown> {
  const { csrf: _csrf, ...rest } = (body ?? {}) as Record<string, unknown>;
  return rest;
}

/**
 * Decisions, through exactly the review/ functions the API uses: roles,
 * four-eyes and states are theirs. A refusal becomes the error page with the
 * API's status (ui-plugin.ts error handler); success goes back to the page (303).
 */
export function registerActionRoutes(ui: FastifyInstance, context: UiContext): void {
  const { deps } = context;
  const { store, logger } = deps;

  const one = (action: Action, run: (id: string, body: Record<string, unknown>, actor: ReturnType<UiContext['sessionOf']>['actor']) => Promise<unknown>) => {
    ui.post<IdParams>(`/messages/:id/${action}`, async (request, reply) => {
      const id = messageId(request.params.id);
      const actor = context.sessionOf(request).actor;
      await run(id, fields(request.body), actor);
      logger.info({ id, actor: actor.name, action, via: 'console' }, `message ${action} from the console`);
      return reply.redirect(`/ui/messages/${id}?${doneQuery(action, { succeeded: 1, count: 1 })}`, 303);
    });
  };
  one('approve', (id, body, actor) => approveMessage(deps, actor, id, approveBody(body).reason));
  one('discard', (id, body, actor) => discardMessage(deps, actor, id, discardBody(body).reason));
  one('release', (id, body, actor) => {
    const { as, reason } = releaseBody(body);
    return releaseMessage(deps, actor, id, as, reason);
  });

  // Full addresses for an approver, recorded before they are shown; the answer is the page itself, never a URL to share.
  ui.post<IdParams>('/messages/:id/reveal', async (request, reply) => {
    const id = messageId(request.params.id);
    const actor = context.sessionOf(request).actor;
    if (actor.role !== 'approver') throw new HttpError(403, 'showing the full addresses needs a token with the approver role');
    if (!(await store.get(id))) throw new HttpError(404, 'no message with this id');
    await auditUi({ logger, store }, actor, 'reveal', id, null);
    return context.page(reply, 200, await renderMessage(context, request, id, true, null));
  });

  const bulk = (
    action: Action,
    prepare: (body: Record<string, unknown>, actor: ReturnType<UiContext['sessionOf']>['actor']) => (r: MessageRecord) => Promise<unknown>,
  ) => {
    ui.post<KeyParams>(`/campaigns/:key/${action}`, async (request, reply) => {
      const key = campaignKeyParam(request.params.key);
      const actor = context.sessionOf(request).actor;
      const apply = prepare(fields(request.body), actor);
      const records = await campaignRecords(store, key);
      if (records.length === 0) throw new HttpError(404, 'no campaign with this key has messages waiting for review');
      const outcome: BulkOutcome = await applyToRecords(records, apply, logger, action);
      logger.info(
        { campaign: key, actor: actor.name, action, count: outcome.count, succeeded: outcome.succeeded, via: 'console' },
        `campaign ${action} from the console`,
      );
      // A campaign whose every message was released or discarded is no longer listed: back to the list then.
      const gone = (await campaignRecords(store, key)).length === 0;
      if (outcome.failed === 0) return reply.redirect(`/ui/campaigns${gone ? '' : `/${key}`}?${doneQuery(action, outcome)}`, 303);
      // Nothing done: the first refusal, with its status, as the API would answer it alone.
      if (outcome.succeeded === 0 && outcome.firstError) throw new HttpError(outcome.firstError.status, outcome.firstError.message);
      const view = context.view(request);
      const data = await campaignData(store, key);
      if (!data) return reply.redirect(`/ui/campaigns?${doneQuery(action, outcome)}`, 303);
      return context.page(reply, 200, campaignPage(view, data, deps.fourEyes, bulkNotice(view, action, outcome)));
    });
  };
  bulk('approve', (body, actor) => {
    const { reason } = approveBody(body);
    return (r) => approveMessage(deps, actor, r.id, reason);
  });
  bulk('discard', (body, actor) => {
    const { reason } = discardBody(body);
    return (r) => discardMessage(deps, actor, r.id, reason);
  });
  bulk('release', (body, actor) => {
    const { as, reason } = releaseBody(body);
    const notPermitted = mayReleaseAs(actor, as);
    if (notPermitted) throw new ReviewRefusedError(notPermitted);
    return (r) => releaseMessage(deps, actor, r.id, as, reason);
  });
}
