// DESIGN.md "Content beyond the headers": what the content scan's facts mean
// for one rule. A count over the rule's content threshold is a violation with
// the rule's content action; a bound that stopped the scan holds the message
// whatever the threshold, because its counts are only lower bounds.

import type { ContentAction } from '../config/content-schema.js';
import type { ContentBoundKind, ContentLocation, ContentReport } from '../analysis/content/content-report.js';
import { replies, type SmtpReply } from '../reply/replies.js';
import { strongerAction } from './action-precedence.js';
import type { PolicyAction } from '../config/schema.js';
import type { ContentFinding, ContentPlaceKind } from './verdict.js';

/** A rule's effective content threshold: its own content over policy.content. */
export interface ContentThreshold {
  readonly maxAddresses: number;
  readonly action: ContentAction;
}

export interface ContentVerdict {
  readonly action: PolicyAction;
  /** True when the count broke the threshold; a bound alone holds without being a violation. */
  readonly violation: boolean;
  readonly reason: string;
  /** For a content reject: the reply the mailer gets. */
  readonly rejectReply?: SmtpReply;
  readonly finding: Omit<ContentFinding, 'headerViolation'>;
}

/** The config key that names each bound, for a reason an operator can act on. */
export const BOUND_KEYS: Record<ContentBoundKind, string> = {
  parts: 'maxParts',
  depth: 'maxDepth',
  'decoded-bytes': 'maxDecodedBytes',
  cells: 'maxCells',
  time: 'maxScanMs',
};

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

// A filename is the sender's text: in a reason (log, store) it is shortened, and
// one that holds an address is not repeated at all (the record masks it).
// eslint-disable-next-line no-control-regex -- control characters are what is removed
const CONTROLS = /[\x00-\x1f\x7f]+/g;
function shownFilename(filename: string | null): string | null {
  if (filename === null || filename.includes('@') || filename.includes('\uff20')) return null;
  const clean = filename.replace(CONTROLS, ' ').trim();
  if (clean === '') return null;
  return clean.length > 80 ? `${clean.slice(0, 79)}…` : clean;
}

/** Where a location is, as a reviewer reads it: "the attachment members.csv", "the forwarded message (part 2)", "the body". */
export function describePlace(location: ContentLocation): string {
  switch (location.carrier) {
    case 'forwarded-headers':
      return `the forwarded message (part ${location.part})`;
    case 'body-text':
    case 'body-html':
      return 'the body';
    case 'text-attachment':
    case 'spreadsheet': {
      const name = shownFilename(location.filename);
      return name === null ? `the attachment (part ${location.part}, ${location.contentType})` : `the attachment ${name}`;
    }
  }
}

/** What the sender is told: the kind of place only, never a filename or a rule. */
function kindOfPlace(location: ContentLocation): ContentPlaceKind {
  switch (location.carrier) {
    case 'forwarded-headers':
      return 'forwarded';
    case 'body-text':
    case 'body-html':
      return 'body';
    case 'text-attachment':
    case 'spreadsheet':
      return 'attachment';
  }
}

const PLACE_IN_REPLY: Record<ContentPlaceKind, string> = { forwarded: 'a forwarded message', body: 'the message text', attachment: 'an attachment' };

function overReason(locations: readonly ContentLocation[], total: number, threshold: ContentThreshold): string {
  // The biggest place first: that is the list a reviewer is looking for.
  const ordered = [...locations].sort((a, b) => b.externalCount - a.externalCount);
  const first = ordered[0];
  const limit = `> content.maxAddresses ${threshold.maxAddresses}`;
  if (!first) return `${plural(total, 'external address', 'external addresses')} in the content ${limit}`;
  const head = `${describePlace(first)} lists ${plural(first.externalCount, 'external address', 'external addresses')}`;
  if (ordered.length === 1) return `${head} ${limit}`;
  return `${head} (+${plural(ordered.length - 1, 'more place', 'more places')}; ${total} distinct in all) ${limit}`;
}

export function boundReason(kind: ContentBoundKind, limit: number): string {
  return `content scan stopped at policy.content.limits.${BOUND_KEYS[kind]} (${limit})`;
}

/** null: the content asks for nothing (not scanned, within the threshold, or no threshold for this rule). */
export function contentVerdict(report: ContentReport | null, threshold: ContentThreshold | null): ContentVerdict | null {
  if (report === null || !report.scanned || threshold === null) return null;
  const over = report.externalCount > threshold.maxAddresses;
  if (!over && report.bound === null) return null;
  const reasons: string[] = [];
  let action: PolicyAction = 'pass';
  if (over) {
    reasons.push(overReason(report.locations, report.externalCount, threshold));
    action = threshold.action;
  }
  if (report.bound !== null) {
    reasons.push(boundReason(report.bound.kind, report.bound.limit));
    action = strongerAction(action, 'quarantine');
  }
  const places = [...new Set(report.locations.map(kindOfPlace))];
  return {
    action,
    violation: over,
    reason: reasons.join('; '),
    ...(action === 'reject'
      ? {
          rejectReply: replies.contentAddresses(
            report.externalCount,
            places.map((p) => PLACE_IN_REPLY[p]),
          ),
        }
      : {}),
    finding: { externalCount: report.externalCount, places, violation: over, bound: report.bound !== null },
  };
}

/**
 * The header verdict and the content verdict, combined by action precedence:
 * the stricter action wins and both reasons are kept. A header reject keeps its
 * own reply (it came first and names the headers to fix).
 */
export function combineWithContent<V extends { action: PolicyAction; violation: boolean; reason: string; rejectReply?: SmtpReply; content?: ContentFinding }>(
  header: V,
  content: ContentVerdict | null,
): V {
  if (content === null) return header;
  const action = strongerAction(header.action, content.action);
  const reason = header.violation || header.action !== 'pass' ? `${header.reason}; ${content.reason}` : content.reason;
  const rejectReply = action !== 'reject' ? undefined : header.action === 'reject' ? header.rejectReply : content.rejectReply;
  const { rejectReply: _dropped, ...rest } = header;
  void _dropped;
  return {
    ...rest,
    action,
    violation: header.violation || content.violation,
    reason,
    ...(rejectReply ? { rejectReply } : {}),
    content: { ...content.finding, headerViolation: header.violation },
  } as V;
}
