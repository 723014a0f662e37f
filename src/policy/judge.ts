import { createAnalyser, type AnalysisOptions } from '../analysis/analyse.js';
import type { MailGuardConfig } from '../config/schema.js';
import { createDecide } from './decide.js';

/** The pure stages (analyse, decide) built from a config, the same for the proxy and `mail-guard check`. */
export function createJudge(config: MailGuardConfig) {
  const options: AnalysisOptions = {
    internalDomains: config.internalDomains,
    freemailDomains: config.policy.freemailDomains,
    maxAddresses: config.policy.maxAddresses,
    maxHeaderBytes: config.smtp.maxHeaderBytes,
    extraHeaders: config.policy.extraHeaders,
  };
  return { analyse: createAnalyser(options), decide: createDecide(config.policy) };
}
