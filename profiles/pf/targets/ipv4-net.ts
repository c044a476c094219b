import { netTarget } from './net.js';

/** `ipv4_net` (language spec 3.4.1.9, PF 2.3.1.3). */
export const ipv4Net = netTarget(4);
