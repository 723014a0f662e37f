import type { PolicyAction } from '../config/schema.js';

// When independent checks each ask for an action, the strictest wins: a message
// that one check wants rejected is never relayed because another check is lenient.
const STRENGTH: Record<PolicyAction, number> = {
  pass: 0,
  monitor: 1,
  bcc: 2,
  split: 2,
  quarantine: 3,
  reject: 4,
};

export function strongerAction(a: PolicyAction, b: PolicyAction): PolicyAction {
  return STRENGTH[b] > STRENGTH[a] ? b : a;
}
