// promtool's unit tests of the alert rules (config/prometheus/alerts.test.yml):
// hours of synthetic series evaluated minute by minute, about half a minute of
// CPU, so this runs in the slow project (npm run test:slow; npm test runs it too).
// promtool itself: test/helpers/promtool.ts.

import { describe, it } from 'vitest';
import { ALERT_TESTS } from '../helpers/monitoring-files.js';
import { expectPromtoolSuccess, skipPromtool } from '../helpers/promtool.js';

describe.skipIf(skipPromtool)('promtool', () => {
  it(`promtool test rules ${ALERT_TESTS}: every alert fires on its synthetic series and stays quiet on a normal one`, async () => {
    await expectPromtoolSuccess(['test', 'rules', ALERT_TESTS]);
  }, 300_000);
});
