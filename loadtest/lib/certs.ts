/**
 * Certificates for the pairs outside the mesh (the naive Node pair and nginx): a P-256 CA and two
 * P-256 leaf certificates with SPIFFE URI SANs, made with the openssl CLI in a temporary directory.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface PairCerts {
  ca: string;
  clientCert: string;
  clientKey: string;
  serverCert: string;
  serverKey: string;
  /** The DNS name in the server certificate. */
  serverName: string;
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

export function makePairCerts(dir: string): PairCerts {
  const f = (n: string): string => join(dir, n);
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '2', '-subj', '/O=cluster.local/CN=loadtest-ca']);
  const leaf = (name: string, uri: string, dns: string): void => {
    writeFileSync(f(`${name}.ext`), `subjectAltName=URI:${uri},DNS:${dns}\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n`);
    openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', '/O=cluster.local']);
    openssl(['x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '2', '-extfile', f(`${name}.ext`), '-out', f(`${name}.pem`)]);
  };
  leaf('client', 'spiffe://cluster.local/ns/bar/sa/sleep', 'sleep.bar.svc');
  leaf('server', 'spiffe://cluster.local/ns/foo/sa/httpbin', 'httpbin.foo.svc');
  return { ca: f('ca.pem'), clientCert: f('client.pem'), clientKey: f('client.key'), serverCert: f('server.pem'), serverKey: f('server.key'), serverName: 'httpbin.foo.svc' };
}
