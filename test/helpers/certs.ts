import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** PEM files of one certificate made by a test. */
export interface IssuedCert {
  readonly cert: string;
  readonly key: string;
  /** Paths on disk, for configs that take files. */
  readonly certFile: string;
  readonly keyFile: string;
}

export interface TestPki {
  readonly dir: string;
  readonly ca: IssuedCert;
  /** Issues a leaf signed by this CA; `server` adds serverAuth and the loopback SANs. */
  issue(commonName: string, kind: 'server' | 'client'): IssuedCert;
  remove(): void;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A throw-away certificate authority made with the real openssl (EC P-256, 1 day). */
export function createPki(name = 'openc2-test-ca'): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'openc2-pki-'));
  const load = (base: string): IssuedCert => ({
    cert: readFileSync(join(dir, `${base}.crt`), 'utf8'),
    key: readFileSync(join(dir, `${base}.key`), 'utf8'),
    certFile: join(dir, `${base}.crt`),
    keyFile: join(dir, `${base}.key`),
  });
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', `/CN=${name}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  const ca = load('ca');
  let serial = 0;
  return {
    dir,
    ca,
    issue(commonName, kind) {
      const base = `${kind}-${++serial}`;
      const ext = kind === 'server'
        ? 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n'
        : 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n';
      writeFileSync(join(dir, `${base}.ext`), ext);
      openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', `/CN=${commonName}`], dir);
      openssl(['x509', '-req', '-in', `${base}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-set_serial', String(1000 + serial), '-days', '1', '-out', `${base}.crt`, '-extfile', `${base}.ext`], dir);
      return load(base);
    },
    remove() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
