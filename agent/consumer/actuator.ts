/**
 * Whether a command's actuator specifiers (PF 2.1.4, SLPF 2.1.4) select this device.
 * Specifiers "further refine which Actuator(s) shall execute the Action", so every one
 * present must match; none present (`"pf": {}`) means every actuator of the profile
 * (PF Appendix E.1.2).
 */

/** How this device is named to producers. */
export interface ActuatorIdentity {
  /** `asset_id`, and also accepted as `hostname` and as a member of `asset_tuple`. */
  readonly deviceId: string;
  readonly hostname: string;
  /** Groups for `named_group` ("perimeter", "network", ...). */
  readonly namedGroups: readonly string[];
}

interface Specifiers {
  readonly hostname?: string;
  readonly named_group?: string;
  readonly asset_id?: string;
  readonly asset_tuple?: readonly string[];
}

/** Undefined when the command is ours, else which specifier names someone else (for the log). */
export function notForUs(specifiers: Readonly<Record<string, unknown>> | undefined, me: ActuatorIdentity): string | undefined {
  if (!specifiers) return undefined;
  const s = specifiers as Specifiers;
  const host = s.hostname?.toLowerCase();
  if (host !== undefined && host !== me.hostname.toLowerCase() && host !== me.deviceId.toLowerCase()) return `hostname ${s.hostname}`;
  if (s.named_group !== undefined && !me.namedGroups.includes(s.named_group)) return `named_group ${s.named_group}`;
  if (s.asset_id !== undefined && s.asset_id !== me.deviceId) return `asset_id ${s.asset_id}`;
  if (s.asset_tuple !== undefined && !s.asset_tuple.includes(me.deviceId)) return `asset_tuple ${s.asset_tuple.join(',')}`;
  return undefined;
}
