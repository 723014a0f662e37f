import { createAnalyser, type AnalysisOptions } from '../analysis/analyse.js';
import { createContentScanner, type ContentScan } from '../analysis/content/content-scan.js';
import { contentLimits } from '../config/content-schema.js';
import type { MailGuardConfig, PolicyConfig } from '../config/schema.js';
import { contentThresholdFor, createDecide } from './decide.js';

/**
 * The smallest content threshold over the policy and its rules: a message that
 * cannot hold more addresses than this breaks no rule's threshold. null when
 * no threshold is set anywhere (content is not scanned at all).
 */
export function contentSkipAtOrBelow(policy: PolicyConfig): number | null {
  const thresholds = [null, ...policy.rules].map((rule) => contentThresholdFor(policy, rule)?.maxAddresses).filter((n) => n !== undefined);
  return thresholds.length === 0 ? null : Math.min(...thresholds);
}

/**
 * The pure stages (analyse, decide, and the content scan when any threshold
 * asks for it) built from a config, the same for the proxy and `mail-guard
 * check`. `now` is the scan's clock (limits.maxScanMs): the caller's, since
 * policy reads none; it is required once content is configured.
 */
export function createJudge(config: MailGuardConfig, now?: () => number) {
  const options: AnalysisOptions = {
    internalDomains: config.internalDomains,
    freemailDomains: config.policy.freemailDomains,
    maxAddresses: config.policy.maxAddresses,
    maxHeaderBytes: config.smtp.maxHeaderBytes,
    extraHeaders: config.policy.extraHeaders,
  };
  const skipAtOrBelow = contentSkipAtOrBelow(config.policy);
  let scanContent: ContentScan | null = null;
  if (skipAtOrBelow !== null) {
    if (!now) throw new TypeError('createJudge: a content threshold is configured, so the content scan needs a clock (now)');
    scanContent = createContentScanner({
      internalDomains: config.internalDomains,
      skipAtOrBelow,
      // Only rules set a threshold: the scan still stops at the default bounds.
      limits: config.policy.content?.limits ?? contentLimits.parse({}),
      now,
    });
  }
  return { analyse: createAnalyser(options), decide: createDecide(config.policy), scanContent };
}
