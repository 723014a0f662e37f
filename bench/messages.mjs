// The messages and envelopes of the scenarios, shared by the smtp-source
// argument builder and the Node load generator so both send the same shape.

export const SENDER = 'sender@example.co.jp';
export const RECIPIENT = 'u@ext.example';
export const HELO = 'bench.example.co.jp';

/**
 * smtp-source `-r N -t u@ext.example` sends RCPT TO u@, 2u@ … Nu@ (a number
 * prepended to the local part); the split scenario's headers name exactly those.
 */
export function numberedRecipients(count, base = RECIPIENT) {
  return Array.from({ length: count }, (_, i) => (i === 0 ? base : `${i + 1}${base}`));
}

/**
 * smtp-source writes its own From/To/Date/Message-Id (To = the -t address) and
 * then "Subject: <-S text>". The -S text may carry CRLF, which adds a header:
 * a Cc naming the other recipients, so the header block shows all of them
 * (To: u@, Cc: 2u@ … Nu@) and every message keeps a unique Message-Id.
 */
export function splitSubject(count) {
  const others = numberedRecipients(count)
    .slice(1)
    .map((a) => `<${a}>`);
  return others.length ? `bench split\r\nCc: ${others.join(',\r\n ')}` : 'bench split';
}

/** Body of `length` bytes: CRLF lines of 78 'X' (like smtp-source -l), no leading dots. */
export function body(length) {
  const line = Buffer.from('X'.repeat(78) + '\r\n', 'latin1');
  const out = Buffer.allocUnsafe(Math.max(length, 2));
  let offset = 0;
  while (offset + line.length <= out.length - 2) offset += line.copy(out, offset);
  out.fill(0x58, offset, out.length - 2); // 'X'
  out[out.length - 2] = 0x0d;
  out[out.length - 1] = 0x0a;
  return out;
}

/** Header block (with the empty line) for message number `seq`, smtp-source style. */
export function header(seq, { to = RECIPIENT, subject = null } = {}) {
  const date = new Date().toUTCString().replace('GMT', '+0000');
  let text = `From: <${SENDER}>\r\nTo: <${to}>\r\nDate: ${date}\r\nMessage-Id: <${process.pid}.${seq}@bench.example.co.jp>\r\n`;
  if (subject !== null) text += `Subject: ${subject}\r\n`;
  return Buffer.from(text + '\r\n', 'latin1');
}
