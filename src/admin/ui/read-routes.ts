import type { FastifyInstance, FastifyRequest } from 'fastify';
import { approvedBy } from '../../review/lifecycle.js';
import { rawForReviewer } from '../../review/review-actions.js';
import { HttpError } from '../http-answers.js';
import { campaignKeyParam, listParams, messageId } from '../request-input.js';
import { frameDocument, FRAME_CSP } from './frame-document.js';
import type { Html } from './html.js';
import { addressesByHeader, copyHead, htmlPart, textPreview } from './message-content.js';
import { noticeFromQuery } from './notices.js';
import { campaignData, campaignsData, messageData, messagesData, overviewData, type MessageQuery } from './page-data.js';
import { campaignPage } from './pages/campaign.js';
import { campaignsPage } from './pages/campaigns.js';
import { messagePage } from './pages/message.js';
import { messagesPage } from './pages/messages.js';
import { overviewLive, overviewPage } from './pages/overview.js';
import type { UiContext } from './ui-context.js';

type Query = { Querystring: Record<string, unknown> };
const PAGE_SIZE = 50;

/** The pages that only read. */
export function registerReadRoutes(ui: FastifyInstance, context: UiContext): void {
  const { deps } = context;
  const { store } = deps;

  // No upstream: rehearsal mode, every message is captured with its verdict (as GET /api/overview says).
  const rehearsal = deps.relay === null;

  ui.get('/', async (request, reply) =>
    context.page(reply, 200, overviewPage(context.view(request), await overviewData(store, rehearsal), deps.loadedConfig?.())),
  );
  ui.get('/overview/live', async (request, reply) =>
    context.page(reply, 200, overviewLive(context.view(request), await overviewData(store, rehearsal), deps.loadedConfig?.())),
  );
  ui.get<Query>('/campaigns', async (request, reply) => {
    const view = context.view(request);
    return context.page(reply, 200, campaignsPage(view, await campaignsData(store), noticeFromQuery(view, request.query)));
  });

  ui.get<{ Params: { key: string } } & Query>('/campaigns/:key', async (request, reply) => {
    const data = await campaignData(store, campaignKeyParam(request.params.key));
    if (!data) throw new HttpError(404, 'no campaign with this key has messages waiting for review');
    const view = context.view(request);
    return context.page(reply, 200, campaignPage(view, data, deps.fourEyes, noticeFromQuery(view, request.query)));
  });

  ui.get<Query>('/messages', async (request, reply) => {
    const query = messageQuery(request.query);
    const page = await messagesData(store, query).catch((err: unknown) => {
      throw err instanceof RangeError ? new HttpError(400, 'the page link is out of date; start from the newest messages') : err;
    });
    const view = context.view(request);
    return context.page(reply, 200, messagesPage(view, query, page, noticeFromQuery(view, request.query)));
  });

  ui.get<{ Params: { id: string } } & Query>('/messages/:id', async (request, reply) => {
    const view = context.view(request);
    return context.page(reply, 200, await renderMessage(context, request, messageId(request.params.id), false, noticeFromQuery(view, request.query)));
  });

  ui.get<{ Params: { id: string } }>('/messages/:id/frame', async (request, reply) => {
    const found = await messageData(store, messageId(request.params.id));
    if (!found) throw new HttpError(404, 'no message with this id');
    const part = await htmlPart(found.raw, deps.mask).catch(() => null);
    const body = part && !part.failedClosed ? part.html : '';
    return reply
      .code(200)
      .header('content-security-policy', FRAME_CSP)
      .header('x-frame-options', 'SAMEORIGIN')
      .type('text/html; charset=utf-8')
      .send(frameDocument(body));
  });

  // As GET /api/messages/:id/raw: review/ records the download in the history before a byte goes out.
  ui.get<{ Params: { id: string } }>('/messages/:id/raw', async (request, reply) => {
    const id = messageId(request.params.id);
    const actor = context.sessionOf(request).actor;
    const raw = await rawForReviewer(store, actor, id);
    deps.logger.info({ id, actor: actor.name, action: 'view-raw' }, 'raw message downloaded from the console');
    return reply
      .code(200)
      .header('content-type', 'message/rfc822')
      .header('content-disposition', `attachment; filename="${id}.eml"`)
      .header('content-security-policy', "default-src 'none'; sandbox")
      .send(raw);
  });
}

/** The message page; `reveal` shows the full addresses (the caller has checked the role and audited it). */
export async function renderMessage(context: UiContext, request: FastifyRequest, id: string, reveal: boolean, notice: Html | null): Promise<Html> {
  const { deps } = context;
  const found = await messageData(deps.store, id);
  if (!found) throw new HttpError(404, 'no message with this id');
  const { record, raw } = found;
  const [preview, html] = await Promise.all([
    textPreview(raw, reveal ? (a) => a : deps.mask),
    htmlPart(raw, deps.mask).catch(() => ({ html: '', remoteImages: 0, failedClosed: true })),
  ]);
  return messagePage(
    context.view(request),
    {
      record,
      preview,
      addresses: addressesByHeader(deps.analyse, deps.maxHeaderBytes, record, raw, reveal),
      revealed: reveal,
      html,
      split: copyHead(deps.analyse, deps.maxHeaderBytes, record, raw, 'split'),
      bcc: copyHead(deps.analyse, deps.maxHeaderBytes, record, raw, 'bcc'),
      approver: approvedBy(record),
      fourEyes: deps.fourEyes,
    },
    notice,
  );
}

/**
 * The filter form's query, checked as GET /api/messages checks it (unknown
 * parameters refused, an empty field meaning no filter). The page size is the
 * console's own, so a `limit` in the address is dropped rather than obeyed.
 */
function messageQuery(query: Record<string, unknown>): MessageQuery {
  // done/ok/n: the notice after a decision (notices.ts), not a filter.
  const { limit: _pageSize, done: _done, ok: _ok, n: _n, ...filters } = query;
  return listParams({ ...filters, limit: String(PAGE_SIZE) });
}
