import type { PeerCertificate, SecureContextOptions } from 'node:tls';

/**
 * TLS settings every OpenC2 endpoint of the agent uses, server and client side
 * (HTTPS transfer spec 3.2.3): TLS 1.2 or later, never SSL; for TLS 1.2 only the
 * ECDHE + AEAD suites, because every other TLS 1.2 suite is on the RFC 7540
 * Appendix A block list the spec forbids. Node has no 0-RTT, which 3.2.3 also forbids.
 */
export const TLS_POLICY = {
  minVersion: 'TLSv1.2',
  ciphers: [
    'TLS_AES_128_GCM_SHA256',
    'TLS_AES_256_GCM_SHA384',
    'TLS_CHACHA20_POLY1305_SHA256',
    'ECDHE-ECDSA-AES128-GCM-SHA256',
    'ECDHE-RSA-AES128-GCM-SHA256',
    'ECDHE-ECDSA-AES256-GCM-SHA384',
    'ECDHE-RSA-AES256-GCM-SHA384',
    'ECDHE-ECDSA-CHACHA20-POLY1305',
    'ECDHE-RSA-CHACHA20-POLY1305',
  ].join(':'),
  honorCipherOrder: true,
} as const satisfies SecureContextOptions;

/** The certificate's subject common name, the identity the allow-lists name (RFC 6546 section 4). */
export function commonName(cert: PeerCertificate | undefined): string | undefined {
  const cn = cert?.subject?.CN as string | string[] | undefined;
  return Array.isArray(cn) ? cn[0] : cn;
}
