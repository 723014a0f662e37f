// The way every in-process bench child (analysis, analysis-message,
// content-scan) reports to bench/run.mjs: one JSON line on stdout, `ok: false`
// with a reason when it throws, and exit 3 when it runs past its hard limit, so
// a stuck measurement never holds up the whole bench.

/** Runs `main` and writes its result (or why it failed) as one JSON line, then exits. */
export function reportFromChild(main, limitSeconds) {
  const hardStop = setTimeout(() => {
    process.stdout.write(JSON.stringify({ ok: false, reason: `did not finish within ${limitSeconds} s` }) + '\n');
    process.exit(3);
  }, limitSeconds * 1000);
  hardStop.unref();
  main().then(
    (result) => {
      process.stdout.write(JSON.stringify(result) + '\n');
      process.exit(0);
    },
    (error) => {
      process.stdout.write(JSON.stringify({ ok: false, reason: String(error?.stack ?? error).slice(0, 1000) }) + '\n');
      process.exit(0);
    },
  );
}
