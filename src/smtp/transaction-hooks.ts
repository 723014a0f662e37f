// Two places where smtp-server (3.21.x) does not tell us enough about a mail
// transaction, patched on one connection instance at a time (never on the
// prototype: other servers in the process, such as a test's upstream, keep the
// library's own behaviour).
//
// 1. There is no onReset hook. RSET, EHLO/HELO, XCLIENT, XFORWARD and STARTTLS
//    all end the transaction through SMTPConnection#_resetSession, which is where
//    we learn that the transaction's deadline is over.
//
// 2. Two complete transactions in one segment leave the third command
//    unanswered. After an answered DATA the connection calls parser.continue(),
//    which runs the saved continuation (parse what followed the dot) and only
//    then clears it:
//
//        continue() { if (typeof cb === 'function') { this._continueCallback(); this._continueCallback = false; } … }
//
//    When what followed the dot holds a whole second transaction, the
//    continuation parses MAIL, RCPT, DATA and that message synchronously, and the
//    second message's end (SMTPStream#_endDataMode) stores its own continuation
//    (the rest of the segment: QUIT) in _continueCallback. continue() then
//    overwrites it with false, so the second answer's continue() finds nothing to
//    run and QUIT waits for the socket timeout. Clearing before running fixes it.

/** The parts of smtp-server's SMTPStream this module touches. */
interface ParserInternals {
  _continueCallback: (() => void) | boolean;
  continue(): void;
}

/** The parts of smtp-server's SMTPConnection this module touches. */
export interface ConnectionWithTransaction {
  _resetSession(...args: unknown[]): void;
  _parser: ParserInternals | false;
}

const fixedParsers = new WeakSet<object>();
const watchedConnections = new WeakSet<object>();

/** Makes parser.continue() clear its continuation before running it, so one set while it runs survives. */
export function fixPipelinedContinue(parser: ParserInternals): void {
  if (fixedParsers.has(parser)) return;
  fixedParsers.add(parser);
  parser.continue = function continueAfterData(this: ParserInternals): void {
    const next = this._continueCallback;
    if (typeof next === 'function') {
      this._continueCallback = false;
      next();
    } else {
      // The stream has not ended yet: run the continuation as soon as it is stored.
      this._continueCallback = true;
    }
  };
}

/**
 * Calls `onReset` whenever the connection resets its transaction (RSET, EHLO,
 * HELO, XCLIENT, XFORWARD, STARTTLS, and after each answered DATA), and keeps the
 * connection's current parser fixed (STARTTLS replaces it). Call on every MAIL
 * FROM: installing twice is a no-op.
 */
export function watchTransaction(connection: ConnectionWithTransaction, onReset: () => void): void {
  if (connection._parser) fixPipelinedContinue(connection._parser);
  if (watchedConnections.has(connection)) return;
  watchedConnections.add(connection);
  const reset = connection._resetSession;
  connection._resetSession = function resetSession(this: ConnectionWithTransaction, ...args: unknown[]): void {
    onReset();
    reset.apply(this, args);
  };
}
