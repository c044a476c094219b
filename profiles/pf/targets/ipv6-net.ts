import { netTarget } from './net.js';

/** `ipv6_net` (language spec 3.4.1.11, PF 2.3.1.4). */
export const ipv6Net = netTarget(6);
