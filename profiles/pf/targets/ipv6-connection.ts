import { connectionTarget } from './connection.js';

/** `ipv6_connection` (language spec 3.4.1.12, PF 2.3.1.2). */
export const ipv6Connection = connectionTarget(6);
