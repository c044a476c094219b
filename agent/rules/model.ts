/**
 * The one rule type: the contract between the OpenC2 side (profiles/, consumer/)
 * and the enforcement side (dataplane/, native/). DESIGN.md section 4.
 */

export type RuleAction = 'allow' | 'deny';
/** How a denied packet leaves: silently, with a TCP RST / ICMP unreachable, or a SYN answered by an ACK (PF 2.1.3 `drop_process`). */
export type DropProcess = 'none' | 'reject' | 'false_ack';
/** Which hook enforces the rule: XDP ingress, TC egress or both. Never the address side. */
export type Direction = 'ingress' | 'egress' | 'both';
export type Family = 4 | 6;
/** Who created the rule; decides defaults and error wording (DESIGN.md section 5). */
export type RuleSource = 'pf' | 'slpf';

/** An address prefix; `address` holds 4 or 16 bytes in network order with host bits zero. */
export interface Prefix {
  readonly family: Family;
  readonly address: Uint8Array;
  readonly length: number;
}

/** Inclusive port range; a single port has low === high. */
export interface PortRange {
  readonly low: number;
  readonly high: number;
}

/**
 * What a packet must carry for the rule to apply. Absent fields are wildcards.
 * `either` is the `ipv4_net`/`ipv6_net` target: the packet's source OR destination
 * lies in the prefix (PF 2.3.1.3). `src`/`dst` come from connection targets.
 */
export interface RuleMatch {
  readonly family: Family;
  readonly either?: Prefix;
  readonly src?: Prefix;
  readonly dst?: Prefix;
  /** IP protocol number (6 tcp, 17 udp, 1 icmp, 58 icmpv6, 132 sctp, ...). */
  readonly protocol?: number;
  readonly srcPorts?: PortRange;
  readonly dstPorts?: PortRange;
}

export interface Rule {
  /** Rule number as reported to the producer (`pf:rule_number`); unique per agent. */
  readonly number: number;
  readonly action: RuleAction;
  readonly drop: DropProcess;
  readonly direction: Direction;
  readonly match: RuleMatch;
  /** Lower value is evaluated first; equal priorities keep list order. */
  readonly priority: number;
  readonly logged: boolean;
  readonly stateful: boolean;
  readonly persistent: boolean;
  /** Epoch milliseconds; absent start means now, absent stop means never. */
  readonly start?: number;
  readonly stop?: number;
  readonly source: RuleSource;
  readonly description?: string;
}

/** Default priority of a rule whose command did not set `pf:priority`. */
export const DEFAULT_PRIORITY = 1000;

/** What a packet looks like to the matcher: the fields a rule can test. */
export interface PacketHeader {
  readonly family: Family;
  readonly src: Uint8Array;
  readonly dst: Uint8Array;
  readonly protocol: number;
  /** Absent for protocols without ports and for non-first IPv4 fragments. */
  readonly srcPort?: number;
  readonly dstPort?: number;
}

export type Hook = 'ingress' | 'egress';

/** The dataplane's decision for one packet, and the rule that made it (none: default pass). */
export interface Verdict {
  readonly action: RuleAction;
  readonly rule?: number;
}
