// mqtt-packet and bl use readable-stream, a copy of Node's stream module for browsers.
// On Node the built-in module is the same API; the bundle carries it instead of the copy.
module.exports = require('node:stream');
