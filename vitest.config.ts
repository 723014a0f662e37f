import { defineConfig } from 'vitest/config';

// Four projects; `npm test` (vitest run) runs all of them.
//   unit         test/unit (mirrors src/): in-process, no sockets or servers; it
//                runs src/ directly, so it needs no build: the quick loop,
//                npm run test:unit.
//   integration  test/integration: real sockets, a real redis-server, promtool,
//                the built CLI (dist/); npm run test:integration builds first.
//   browser      test/browser: the reviewer console in a real headless Chromium
//                (Debian's chromium via playwright-core); skipped without it
//                unless MAIL_GUARD_REQUIRE_CHROMIUM=1 (CI). npm run test:browser.
//   slow         any *.slow.test.ts: tests that take tens of seconds by their
//                nature (thousands of messages, long synthetic series); npm run
//                test:slow. Kept out of the other two so neither loop waits on them.
const SLOW = 'test/**/*.slow.test.ts';

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
    projects: [
      {
        extends: true,
        // Unit tests share no global state (no servers, env or module mocks; fake
        // timers are restored after each test), so their files need not each
        // import the module graph afresh: without isolation the loop takes half the CPU.
        test: { name: 'unit', include: ['test/unit/**/*.test.ts'], exclude: [SLOW], isolate: false },
      },
      { extends: true, test: { name: 'integration', include: ['test/integration/**/*.test.ts'], exclude: [SLOW] } },
      { extends: true, test: { name: 'browser', include: ['test/browser/**/*.test.ts'], exclude: [SLOW], testTimeout: 60_000 } },
      { extends: true, test: { name: 'slow', include: [SLOW] } },
    ],
  },
});
