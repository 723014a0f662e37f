import type { PolicyRule } from '../config/schema.js';
import { makeDomainClassifier } from '../analysis/domain.js';
import { makeCidrMatcher } from '../net/cidr.js';
import type { TransactionContext } from './verdict.js';

export interface RuleFacts {
  readonly context: TransactionContext;
  /** Domain of the first header From address, normalised; null when absent. */
  readonly headerFromDomain: string | null;
}

const asList = <T>(value: T | readonly T[] | undefined): readonly T[] =>
  value === undefined ? [] : Array.isArray(value) ? (value as readonly T[]) : [value as T];

/** `news@example.co.jp`, `*@example.co.jp`, `bounce-*@lists.example.co.jp`; case-insensitive. */
function makeSenderMatcher(patterns: readonly string[]): (sender: string) => boolean {
  const regexes = patterns.map(
    (p) =>
      new RegExp(
        `^${p
          .toLowerCase()
          .replace(/[.+?^${}()|[\]\\]/g, '\\$&')
          .replace(/\*/g, '.*')}$`,
      ),
  );
  return (sender) => regexes.some((re) => re.test(sender.toLowerCase()));
}

/**
 * Compiles a rule's conditions once. Every condition the rule names must hold;
 * a rule that names none matches every message.
 */
export function compileRuleMatcher(rule: PolicyRule): (facts: RuleFacts) => boolean {
  const checks: Array<(facts: RuleFacts) => boolean> = [];
  const senders = asList(rule.from);
  if (senders.length) {
    const matches = makeSenderMatcher(senders);
    checks.push((f) => matches(f.context.mailFrom));
  }
  const fromDomains = asList(rule.fromDomain);
  if (fromDomains.length) {
    const isListed = makeDomainClassifier(fromDomains);
    checks.push((f) => f.headerFromDomain !== null && isListed(f.headerFromDomain));
  }
  const clients = asList(rule.client);
  if (clients.length) {
    const inRange = makeCidrMatcher(clients);
    checks.push((f) => inRange(f.context.clientAddress));
  }
  const users = asList(rule.authUser);
  if (users.length) {
    checks.push((f) => f.context.authUser !== undefined && users.includes(f.context.authUser));
  }
  return (facts) => checks.every((check) => check(facts));
}
