import { lookup } from 'node:dns/promises';

/**
 * The default `resolver`: every address of `host` (A and AAAA), as the
 * system resolves it (`getaddrinfo`: /etc/hosts, search domains, DNS) — a
 * Kubernetes headless Service or Consul's DNS answer one address per instance.
 */
export async function dnsResolver(host: string): Promise<string[]> {
  const answers = await lookup(host, { all: true, verbatim: true });
  return answers.map(a => a.address);
}
