// upstream.tls → the options nodemailer's SMTPConnection hands to tls.connect, for
// STARTTLS (requireTLS) and implicit TLS (secure) alike.
//
// - ca: the file's certificates are ADDED to Node's bundled roots (tls.rootCertificates):
//   Node's `ca` option replaces the default roots, so they are passed along
//   explicitly; a relay with a public certificate keeps working next to a private CA.
//   (NODE_EXTRA_CA_CERTS is not part of tls.rootCertificates: with upstream.tls.ca
//   set it no longer applies to the upstream; put those CAs in the file.)
// - servername: SNI and the name the certificate is verified against (nodemailer
//   passes it to tls.connect; Node verifies options.servername before options.host).
// - fingerprint256: checked in checkServerIdentity after Node's own name check,
//   which runs only once the chain verified; so a pin adds to verification and
//   never replaces it (the schema refuses a pin with rejectUnauthorized: false).
//   Node skips checkServerIdentity on a resumed TLS session; nodemailer never
//   resumes one (no `session` option), and none is passed here.
//
// The CA file is read once, when the pool is built (and by `config check`): a
// missing or unreadable file, or one without a PEM certificate, stops start-up
// with one line naming upstream.tls.ca.

import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { checkServerIdentity, rootCertificates, type ConnectionOptions, type PeerCertificate } from 'node:tls';
import { ConfigError } from '../config/load.js';
import type { UpstreamConfig } from '../config/schema.js';
import { TLS_PIN_MISMATCH } from './upstream-error.js';

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----\r?\n[\s\S]*?\r?\n-----END CERTIFICATE-----/g;

/** The TLS options for every upstream session; throws ConfigError for an unusable upstream.tls.ca. */
export function upstreamTlsOptions(config: UpstreamConfig): ConnectionOptions {
  const { tls } = config;
  const options: ConnectionOptions = { minVersion: tls.minVersion, rejectUnauthorized: config.rejectUnauthorized };
  if (tls.ca !== undefined) options.ca = [...rootCertificates, ...readCaBundle(tls.ca)];
  if (tls.servername !== undefined) options.servername = tls.servername;
  const pin = tls.fingerprint256;
  if (pin !== undefined) {
    options.checkServerIdentity = (host: string, cert: PeerCertificate): Error | undefined => {
      const nameError = checkServerIdentity(host, cert);
      if (nameError) return nameError;
      if (cert.fingerprint256?.toUpperCase() === pin) return undefined;
      return Object.assign(
        new Error(
          `upstream certificate does not match upstream.tls.fingerprint256 (the relay presented SHA-256 ${cert.fingerprint256 ?? 'unknown'}); ` +
            "if the relay's certificate was renewed, pin the new one",
        ),
        { code: TLS_PIN_MISMATCH },
      );
    };
  }
  return options;
}

/** Every certificate in a PEM file, each one parsed; one-line ConfigError otherwise. */
export function readCaBundle(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`upstream.tls.ca: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  const certificates = text.match(PEM_CERTIFICATE) ?? [];
  if (certificates.length === 0) {
    throw new ConfigError(`upstream.tls.ca: ${path} holds no PEM certificate (expected -----BEGIN CERTIFICATE----- blocks)`);
  }
  certificates.forEach((pem, i) => {
    try {
      new X509Certificate(pem);
    } catch (err) {
      throw new ConfigError(`upstream.tls.ca: ${path}: certificate ${i + 1} does not parse (${(err as NodeJS.ErrnoException).code ?? 'invalid'})`);
    }
  });
  return certificates;
}
