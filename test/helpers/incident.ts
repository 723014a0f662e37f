// The seed incident, as several tests replay it: a newsletter from
// news@example.co.jp to n members, one message per member, each with every
// member's address in To (the bug), folded over many lines.

const DOMAINS = ['gmail.com', 'yahoo.co.jp', 'docomo.ne.jp', 'members-mail.org', 'example.net'];

export const INCIDENT_SENDER = 'news@example.co.jp';

/** n external member addresses spread over free-mail and other domains (832 in the incident). */
export function incidentMembers(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `member${i}@${DOMAINS[i % DOMAINS.length]}`);
}

/** One member's copy of the newsletter with every member in To. */
export function incidentNewsletter(
  members: readonly string[],
  member: string,
  options: { readonly subject?: string; readonly headers?: readonly string[]; readonly messageId?: string | null } = {},
): string {
  const messageId = options.messageId === undefined ? '<nov-2026@example.co.jp>' : options.messageId;
  return [
    `From: Newsletter <${INCIDENT_SENDER}>`,
    `To: ${members.join(',\r\n ')}`,
    `Subject: ${options.subject ?? 'November newsletter'}`,
    ...(messageId === null ? [] : [`Message-ID: ${messageId}`]),
    ...(options.headers ?? []),
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    '',
    `Dear member, this copy is for ${member}.`,
    '',
  ].join('\r\n');
}
