import type { AgentConfig } from '../config/config.js';
import type { Logger } from '../log/logger.js';
import { checkBpfRights } from './binding.js';
import type { Dataplane } from './dataplane.js';
import { SimDataplane } from './sim-dataplane.js';

/** The agent cannot enforce: no rights to load BPF, or the native module is missing. */
export class DataplaneUnavailable extends Error {
  override name = 'DataplaneUnavailable';
}

/**
 * Opens the configured dataplane. `kernel` refuses to start without the rights to
 * load BPF (DESIGN.md section 6) instead of silently enforcing nothing.
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
  return new SimDataplane();
}
