// Where smtp-server (3.21.x) does not tell us enough about a mail transaction,
// patched on one connection instance at a time (never on the
// prototype: other servers in the process, such as a test's upstream, keep the
// library's own behaviour).
//
// 1. There is no onReset hook. RSET, EHLO/HELO, XCLIENT, XFORWARD and STARTTLS
//    all end the transaction through SMTPConnection#_resetSession, which is where
//    we learn that the transaction's deadline is over.

/** The parts of smtp-server's SMTPConnection this module touches. */
export interface ConnectionWithTransaction {
  _resetSession(...args: unknown[]): void;
}

const watchedConnections = new WeakSet<object>();

/**
 * Calls `onReset` whenever the connection resets its transaction (RSET, EHLO,
 * HELO, XCLIENT, XFORWARD, STARTTLS, and after each answered DATA). Call on
 * every MAIL FROM: installing twice is a no-op.
 */
export function watchTransaction(connection: ConnectionWithTransaction, onReset: () => void): void {
  if (watchedConnections.has(connection)) return;
  watchedConnections.add(connection);
  const reset = connection._resetSession;
  connection._resetSession = function resetSession(this: ConnectionWithTransaction, ...args: unknown[]): void {
    onReset();
    reset.apply(this, args);
  };
}
