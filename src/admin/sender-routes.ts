import type { FastifyInstance } from 'fastify';
import type { AdminRouteContext } from './route-context.js';
import { runOverCampaign } from './campaign-run.js';
import { HttpError, send } from './http-answers.js';
import { senderDiscardBody } from './request-input.js';
import { senderRecords } from '../review/sender-discard.js';
import { discardMessage } from '../review/review-actions.js';

/**
 * POST /api/senders/discard {"sender", "reason"}: discards everything still
 * waiting from one envelope sender (delayed first), each record exactly as its
 * own discard would be (history, audit, events), under the campaign stop rule
 * (campaign-run.ts): the first store failure stops the run, the rest are
 * reported as not attempted and stay as they were.
 */
export function registerSenderRoutes(api: FastifyInstance, { deps, actorOf }: AdminRouteContext): void {
  const { store, logger } = deps;

  api.post('/senders/discard', async (request, reply) => {
    const { sender, reason } = senderDiscardBody(request.body);
    const actor = actorOf(request);
    const { records, truncated } = await senderRecords(store, sender);
    if (records.length === 0) throw new HttpError(404, 'nothing from this envelope sender is waiting (held, approved, delayed or captured)');
    const steps = await runOverCampaign(
      records,
      (record) => discardMessage(deps, actor, record.id, reason),
      (record, err) => logger.error({ id: record.id, err }, 'sender discard failed on a record'),
    );
    const results = steps.map((step) => {
      if ('done' in step) return { id: step.record.id, status: 200, recordStatus: step.done.status };
      if ('failed' in step) return { id: step.record.id, status: step.failed.status, error: step.failed.body.error };
      return {
        id: step.record.id,
        status: 424,
        error: `not attempted: an earlier message failed with ${step.notAttempted.status}: ${step.notAttempted.body.error}`,
      };
    });
    const succeeded = results.filter((r) => r.status === 200).length;
    // No address in the log: the count and who did it.
    logger.info({ actor: actor.name, action: 'sender-discard', count: records.length, succeeded }, 'sender discard');
    return send(reply, 200, { sender, action: 'discard', count: records.length, succeeded, failed: records.length - succeeded, truncated, results });
  });
}
