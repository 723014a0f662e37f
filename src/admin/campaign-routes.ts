import type { FastifyInstance } from 'fastify';
import type { MessageRecord } from '../store/record.js';
import type { AdminActor } from './auth.js';
import type { AdminRouteContext } from './route-context.js';
import { campaignRecords, listCampaigns } from '../review/campaigns.js';
import { runOverCampaign } from './campaign-run.js';
import { HttpError, send } from './http-answers.js';
import { approveBody, campaignKeyParam, discardBody, releaseBody } from './request-input.js';
import { mayReleaseAs, ReviewRefusedError } from '../review/lifecycle.js';
import { approveMessage, discardMessage, releaseMessage } from '../review/review-actions.js';

type KeyParams = { Params: { key: string }; Body: unknown };

/** One record's result inside a bulk action: the status and body it would have got alone. */
export interface CampaignItemResult {
  readonly id: string;
  readonly status: number;
  readonly recordStatus?: string;
  readonly upstreamReply?: string;
  readonly error?: string;
}

/**
 * Bulk review of one campaign. Each record goes through exactly the rules of its
 * single-message route (roles, four-eyes, states), one after the other, and the
 * answer lists every record's result. A bulk action stops at the first upstream
 * or store failure: the rest would most likely fail the same way, and a person
 * should look before 800 more attempts; those records are reported as not
 * attempted and stay as they were.
 */
export function registerCampaignRoutes(api: FastifyInstance, { deps, actorOf }: AdminRouteContext): void {
  const { store, logger } = deps;

  api.get('/campaigns', async (_request, reply) => {
    const { campaigns, truncated } = await listCampaigns(store);
    return send(reply, 200, { campaigns, truncated });
  });

  const bulk = (
    action: 'approve' | 'discard' | 'release',
    /** Checks the body (and anything refused for every record alike) before a record is touched. */
    perRecord: (body: unknown, actor: AdminActor) => (record: MessageRecord) => Promise<CampaignItemResult>,
  ): void => {
    api.post<KeyParams>(`/campaigns/:key/${action}`, async (request, reply) => {
      const key = campaignKeyParam(request.params.key);
      const actor = actorOf(request);
      const apply = perRecord(request.body, actor);
      const records = await campaignRecords(store, key);
      if (records.length === 0) throw new HttpError(404, 'no campaign with this key has messages waiting for review');

      const steps = await runOverCampaign(records, apply, (record, err) => logger.error({ id: record.id, err }, `campaign ${action} failed on a record`));
      const results: CampaignItemResult[] = steps.map((step) => {
        if ('done' in step) return step.done;
        if ('failed' in step) return { id: step.record.id, status: step.failed.status, error: step.failed.body.error, ...upstreamReplyOf(step.failed.body) };
        const by = step.notAttempted;
        return { id: step.record.id, status: 424, error: `not attempted: an earlier message failed with ${by.status}: ${by.body.error}` };
      });
      const succeeded = results.filter((r) => r.status === 200).length;
      logger.info({ campaign: key, actor: actor.name, action, count: records.length, succeeded }, `campaign ${action}`);
      return send(reply, 200, { key, action, count: records.length, succeeded, failed: records.length - succeeded, results });
    });
  };

  bulk('approve', (body, actor) => {
    const { reason } = approveBody(body);
    return async (record) => {
      const approved = await approveMessage(deps, actor, record.id, reason);
      return { id: record.id, status: 200, recordStatus: approved.status };
    };
  });

  bulk('discard', (body, actor) => {
    const { reason } = discardBody(body);
    return async (record) => {
      const discarded = await discardMessage(deps, actor, record.id, reason);
      return { id: record.id, status: 200, recordStatus: discarded.status };
    };
  });

  bulk('release', (body, actor) => {
    const { as, reason } = releaseBody(body);
    const notPermitted = mayReleaseAs(actor, as);
    if (notPermitted) throw new ReviewRefusedError(notPermitted);
    return async (record) => {
      const released = await releaseMessage(deps, actor, record.id, as, reason);
      return { id: record.id, status: 200, recordStatus: released.record.status, upstreamReply: released.upstreamReply };
    };
  });
}

function upstreamReplyOf(body: Readonly<Record<string, unknown>>): { upstreamReply?: string } {
  return typeof body['upstreamReply'] === 'string' ? { upstreamReply: body['upstreamReply'] } : {};
}
