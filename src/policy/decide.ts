import type { PolicyAction, PolicyConfig } from '../config/schema.js';
import type { MessageAnalysis } from '../analysis/analyse.js';
import type { Finding } from '../analysis/findings.js';
import type { ContentReport } from '../analysis/content/content-report.js';
import { replies, type SmtpReply } from '../reply/replies.js';
import { strongerAction } from './action-precedence.js';
import { compileRuleMatcher, type RuleFacts } from './rule-matcher.js';
import { combineWithContent, contentVerdict, type ContentThreshold } from './content-verdict.js';
import type { Verdict } from './verdict.js';

/** What decide() reads of an analysis: its findings, who can see whom, and what the content scan found (null: it did not run). */
export type Judged = Pick<MessageAnalysis, 'findings' | 'exposure'> & { readonly content: ContentReport | null };
export type Decide = (analysis: Judged, facts: RuleFacts) => Verdict;

/** A finding that makes the message unreadable or unsafe to forward, as a refusal; null for none. */
function refusalFor(finding: Finding): { reply: SmtpReply; reason: string } | null {
  switch (finding.kind) {
    case 'nul-byte':
      return { reply: replies.nulByte(), reason: 'NUL byte in the message' };
    case 'malformed':
      return { reply: replies.malformed(finding.why), reason: `malformed header: ${finding.why}` };
    case 'header-too-big':
      return { reply: replies.headerTooBig(finding.maxBytes), reason: `header block over ${finding.maxBytes} bytes` };
    case 'address-budget':
      return null; // judged with the rule below: it is an exposure no rule may pass
  }
}

interface CompiledRule {
  readonly name: string;
  readonly matches: (facts: RuleFacts) => boolean;
  readonly maxVisibleExternal: number;
  readonly maxVisibleExternalDomains: number | null;
  readonly action: PolicyAction;
  readonly delaySeconds: number;
  /** null: content is not judged for this rule (neither it nor policy.content sets a threshold). */
  readonly content: ContentThreshold | null;
}

/** A rule's content threshold over policy.content's; policy.content's alone for the default. */
export function contentThresholdFor(policy: PolicyConfig, rule: PolicyConfig['rules'][number] | null): ContentThreshold | null {
  const own = rule?.content;
  const maxAddresses = own?.maxAddresses ?? policy.content?.maxAddresses;
  if (maxAddresses === undefined) return null;
  return { maxAddresses, action: own?.action ?? policy.content?.action ?? 'quarantine' };
}

/**
 * Builds the pure policy decision: rules in config order, first match wins,
 * and the policy's own thresholds and action when none matches. Independent
 * checks (address bound, split fan-out) combine by action precedence. Every
 * finding of analysis becomes a verdict here and nowhere else.
 */
export function createDecide(policy: PolicyConfig): Decide {
  const rules: CompiledRule[] = policy.rules.map((rule) => ({
    name: rule.name,
    matches: compileRuleMatcher(rule),
    maxVisibleExternal: rule.maxVisibleExternal ?? policy.maxVisibleExternal,
    maxVisibleExternalDomains: rule.maxVisibleExternalDomains === undefined ? policy.maxVisibleExternalDomains : rule.maxVisibleExternalDomains,
    action: rule.action ?? policy.action,
    delaySeconds: rule.delaySeconds ?? policy.delaySeconds,
    content: contentThresholdFor(policy, rule),
  }));
  const fallback: CompiledRule = {
    name: 'default',
    matches: () => true,
    maxVisibleExternal: policy.maxVisibleExternal,
    maxVisibleExternalDomains: policy.maxVisibleExternalDomains,
    action: policy.action,
    delaySeconds: policy.delaySeconds,
    content: contentThresholdFor(policy, null),
  };

  return (judged, facts) => {
    const rule = rules.find((r) => r.matches(facts)) ?? fallback;
    return withDelay(verdictFor(rule, judged, facts), rule.delaySeconds);
  };

  function verdictFor(rule: CompiledRule, judged: Judged, facts: RuleFacts): Verdict {
    const { findings } = judged;
    // A message readers may read differently from us is refused whatever the
    // rule says: its exposure cannot be known.
    for (const finding of findings) {
      const refusal = refusalFor(finding);
      if (refusal) return { action: 'reject', rule: rule.name, violation: false, reason: refusal.reason, rejectReply: refusal.reply };
    }
    return combineWithContent(headerVerdictFor(rule, judged, facts), contentVerdict(judged.content, rule.content));
  }

  function headerVerdictFor(rule: CompiledRule, { findings, exposure }: Judged, facts: RuleFacts): Verdict {
    // Past the address bound the counts are only lower bounds: nothing short of
    // a reject is safe, whatever the rule says.
    if (findings.some((f) => f.kind === 'address-budget')) {
      return {
        action: 'reject',
        rule: rule.name,
        violation: true,
        reason: `more than ${policy.maxAddresses} addresses in visible headers`,
        rejectReply: replies.tooManyAddresses(policy.maxAddresses),
      };
    }

    const exposed = exposure.exposedExternal.length;
    const overAddresses = exposed > rule.maxVisibleExternal;
    const overDomains = rule.maxVisibleExternalDomains !== null && exposure.exposedExternalDomainCount > rule.maxVisibleExternalDomains;
    if (!overAddresses && !overDomains) {
      return { action: 'pass', rule: rule.name, violation: false, reason: `${exposed} exposed external address(es), within limits` };
    }

    const reason = overAddresses
      ? `${exposed} exposed external addresses > maxVisibleExternal ${rule.maxVisibleExternal}`
      : `${exposure.exposedExternalDomainCount} exposed external domains > maxVisibleExternalDomains ${rule.maxVisibleExternalDomains}`;
    const rejectReply = overAddresses
      ? replies.exposure(exposed, exposure.exposingHeaders)
      : replies.exposure(exposure.exposedExternalDomainCount, exposure.exposingHeaders, 'external recipient domains');

    let action = rule.action;
    const copies = facts.context.rcptTo.length;
    if (action === 'split' && copies > policy.maxSplitCopies) {
      action = strongerAction(action, 'reject');
      return {
        action,
        rule: rule.name,
        violation: true,
        reason: `${reason}; split would need ${copies} copies > maxSplitCopies ${policy.maxSplitCopies}`,
        rejectReply: replies.tooManySplitCopies(copies, policy.maxSplitCopies),
      };
    }
    return { action, rule: rule.name, violation: true, reason, ...(action === 'reject' ? { rejectReply } : {}) };
  }
}

/** Only mail that would leave waits; a hold or a reject is already stopped. */
function withDelay(verdict: Verdict, delaySeconds: number): Verdict {
  if (delaySeconds <= 0) return verdict;
  switch (verdict.action) {
    case 'pass':
    case 'monitor':
    case 'bcc':
    case 'split':
      return { ...verdict, delaySeconds };
    default:
      return verdict;
  }
}
