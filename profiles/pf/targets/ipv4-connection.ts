import { connectionTarget } from './connection.js';

/** `ipv4_connection` (language spec 3.4.1.10, PF 2.3.1.1). */
export const ipv4Connection = connectionTarget(4);
