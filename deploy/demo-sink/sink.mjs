// The far end of the compose demo (deploy/compose.yaml): where relayed mail and
// Alertmanager's notifications land, so `docker compose up` shows the whole path
// without a real relay or a chat service. It runs with the mail-guard image's own
// node and its smtp-server dependency (mounted at /app/demo-sink, so
// /app/node_modules resolves).
//
// SMTP (SINK_SMTP_PORT, default 2525): accepts every message, no TLS, no AUTH,
// and logs one JSON line per message: the sink's own id (also in its 250 reply,
// which mail-guard logs as upstreamReply), size, recipient count. Never an
// address, a subject or a Message-ID: a demo log gets pasted into issues and chats.
// HTTP (SINK_HTTP_PORT, default 8025): POST /alerts takes Alertmanager's
// webhook and logs one line per alert (name, status, instance).
//
// Port 0 means any free port; the "listening" line says which (the tests use it).

import { createServer } from 'node:http';
import { SMTPServer } from 'smtp-server';

const host = process.env.SINK_HOST ?? '0.0.0.0';
const smtpPort = Number(process.env.SINK_SMTP_PORT ?? 2525);
const httpPort = Number(process.env.SINK_HTTP_PORT ?? 8025);

const log = (fields) => process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), ...fields })}\n`);

let received = 0;

const smtp = new SMTPServer({
  name: 'demo-sink',
  banner: 'demo sink: accepts everything, delivers nothing',
  disabledCommands: ['STARTTLS', 'AUTH'],
  authOptional: true,
  logger: false,
  size: 64 * 1024 * 1024,
  onData(stream, session, callback) {
    let bytes = 0;
    stream.on('data', (chunk) => (bytes += chunk.length));
    stream.on('end', () => {
      const id = `sink-${++received}`;
      log({ event: 'message', id, bytes, recipients: session.envelope.rcptTo.length, client: session.remoteAddress });
      callback(null, `accepted by the demo sink as ${id}`);
    });
  },
});
smtp.on('error', (err) => log({ event: 'smtp_error', error: err.message }));

const http = createServer((req, res) => {
  if (req.method !== 'POST' || req.url !== '/alerts') {
    res.writeHead(404).end();
    return;
  }
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (chunk) => (body += chunk));
  req.on('end', () => {
    try {
      const { alerts = [] } = JSON.parse(body);
      for (const a of alerts) log({ event: 'alert', alertname: a.labels?.alertname, status: a.status, instance: a.labels?.instance ?? null });
      res.writeHead(200).end();
    } catch {
      res.writeHead(400).end();
    }
  });
});

smtp.listen(smtpPort, host, () => {
  http.listen(httpPort, host, () => log({ event: 'listening', smtp: smtp.server.address().port, http: http.address().port }));
});

const stop = () => {
  smtp.close(() => http.close(() => process.exit(0)));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
