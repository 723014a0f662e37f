// DESIGN.md "Content beyond the headers": policy.content and a rule's own
// content threshold. Split and bcc rewrite only headers: every copy would still
// carry the attachment or the pasted list, so they are not content actions.

import { z } from 'zod';

const positiveInt = z.number().int().positive();

export const CONTENT_ACTIONS = ['monitor', 'quarantine', 'reject'] as const;
export type ContentAction = (typeof CONTENT_ACTIONS)[number];

const contentAction = z.enum(CONTENT_ACTIONS, {
  error: 'expected monitor, quarantine or reject (split and bcc rewrite headers only: every copy would still carry the list)',
});

// Bounded work on hostile input (THREATS.md principle 8): past any of these the
// scan stops and the message is held with the bound as its reason, never passed.
export const contentLimits = z.strictObject({
  maxParts: positiveInt.max(100_000).default(500),
  maxDepth: positiveInt.max(100).default(10),
  // Decoded (and decompressed) bytes read over the whole message: the memory a scan may take.
  maxDecodedBytes: positiveInt.default(32 * 1024 * 1024),
  maxCells: positiveInt.default(1_000_000),
  maxScanMs: positiveInt.max(60_000).default(2000),
});

export const policyContent = z.strictObject({
  // More distinct external addresses than this in the content is a violation.
  maxAddresses: z.number().int().min(0),
  action: contentAction.default('quarantine'),
  limits: contentLimits.default(() => contentLimits.parse({})),
});

/** A rule's own content threshold and action; policy.content fills in what it leaves out. */
export const ruleContent = z.strictObject({
  maxAddresses: z.number().int().min(0).optional(),
  action: contentAction.optional(),
});

export type PolicyContentConfig = z.infer<typeof policyContent>;
export type ContentLimitsConfig = z.infer<typeof contentLimits>;
