import type { FastifyInstance } from 'fastify';
import { HttpError } from '../http-answers.js';
import { senderDiscardBody } from '../request-input.js';
import { discardMessage } from '../../review/review-actions.js';
import { senderRecords } from '../../review/sender-discard.js';
import { applyToRecords } from './campaign-bulk.js';
import { doneQuery } from './notices.js';
import type { UiContext } from './ui-context.js';

/**
 * "Discard everything waiting from this sender" on the messages page filtered
 * by sender: the same records and the same per-record discard as
 * POST /api/senders/discard (delayed first; history, audit and events of a
 * single discard each; the campaign stop rule), under the signed-in name.
 * Success goes back to the sender's messages with the count (303); a run where
 * nothing could be discarded shows the first refusal with its status.
 */
export function registerSenderActionRoutes(ui: FastifyInstance, context: UiContext): void {
  const { deps } = context;
  ui.post('/senders/discard', async (request, reply) => {
    // The form's fields without the CSRF token (checked already by the plugin's hook).
    const { csrf: _csrf, ...fields } = (request.body ?? {}) as Record<string, unknown>;
    const { sender, reason } = senderDiscardBody(fields);
    const actor = context.sessionOf(request).actor;
    const { records } = await senderRecords(deps.store, sender);
    if (records.length === 0) throw new HttpError(404, 'nothing from this envelope sender is waiting (held, approved, delayed or captured)');
    const outcome = await applyToRecords(records, (record) => discardMessage(deps, actor, record.id, reason), deps.logger, 'sender discard');
    deps.logger.info(
      { actor: actor.name, action: 'sender-discard', count: outcome.count, succeeded: outcome.succeeded, via: 'console' },
      'sender discard from the console',
    );
    if (outcome.succeeded === 0 && outcome.firstError) throw new HttpError(outcome.firstError.status, outcome.firstError.message);
    const back = new URLSearchParams({ sender });
    return reply.redirect(`/ui/messages?${back.toString()}&${doneQuery('discard', outcome)}`, 303);
  });
}
