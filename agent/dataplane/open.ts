import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { parseHostPort, type AgentConfig } from '../config/config.js';
import type { Logger } from '../log/logger.js';
import { checkBpfRights } from './binding.js';
import type { Dataplane, ManagementAccess } from './dataplane.js';
import { openKernelDataplane } from './kernel.js';
import { SimDataplane } from './sim-dataplane.js';

/** The agent cannot enforce: no rights to load BPF, or the native module is missing. */
export class DataplaneUnavailable extends Error {
  override name = 'DataplaneUnavailable';
}

/** Host prefix (/32 or /128) of every address a URL's host resolves to; none when it does not resolve. */
async function hostPrefixes(url: string | undefined, logger: Logger): Promise<string[]> {
  if (url === undefined) return [];
  const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
  try {
    const addresses = isIP(host) ? [{ address: host, family: isIP(host) }] : await lookup(host, { all: true });
    return addresses.map((a) => `${a.address}/${a.family === 4 ? 32 : 128}`);
  } catch (err) {
    logger.warn('anti-lockout: cannot resolve a control-path host; it is not exempt from rules', { host, err });
    return [];
  }
}

/**
 * The agent's own control path, allowed above every rule (DESIGN.md section 4, anti-lockout):
 * configured management prefixes, the broker and orchestrator hosts, and the HTTP listener port.
 */
export async function managementAccess(config: AgentConfig, logger: Logger): Promise<ManagementAccess> {
  if (!config.management.antiLockout) return { prefixes: [], ports: [] };
  const prefixes = [...config.management.prefixes, ...(await hostPrefixes(config.mqtt.url, logger)), ...(await hostPrefixes(config.alerts.url, logger))];
  const ports = config.http.enabled ? [parseHostPort(config.http.listen)!.port].filter((p) => p !== 0) : [];
  return { prefixes: [...new Set(prefixes)], ports };
}

/**
 * Opens the configured dataplane. `kernel` refuses to start without the rights to
 * load BPF (DESIGN.md section 6) instead of silently enforcing nothing. The kernel
 * dataplane takes over the pins an earlier run left, so enforcement never lapses;
 * the consumer then reconciles them with its state file (`replace`).
 */
export async function openDataplane(config: AgentConfig, logger: Logger): Promise<Dataplane> {
  if (config.dataplane === 'sim') {
    logger.warn('dataplane sim: NOTHING IS ENFORCED; rules are kept in memory only');
    return new SimDataplane();
  }
  const rights = checkBpfRights();
  if (!rights.ok) {
    throw new DataplaneUnavailable(
      `cannot load BPF programs: ${rights.reason}. Run as root (or with CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON), or start with --dataplane sim to run without enforcement`,
    );
  }
  const management = await managementAccess(config, logger);
  const dataplane = await openKernelDataplane({ instance: config.instance, interfaces: config.interfaces, management });
  const status = dataplane.status();
  if (status.interfaces.length === 0) logger.warn('kernel dataplane attached to no interface: set interfaces (OPENC2_INTERFACES) to enforce rules');
  for (const iface of status.interfaces) logger.info('enforcing on interface', { interface: iface.name, xdp: iface.xdpMode, egress: iface.egress });
  logger.info('anti-lockout', { prefixes: management.prefixes, ports: management.ports });
  return dataplane;
}
