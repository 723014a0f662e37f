/**
 * `promise`, or a failure naming `what` once `ms` have passed: an upper bound on a
 * wait for an event, so a hang fails at once with a reason instead of at the test
 * timeout. Never a way to wait for time itself.
 */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}
