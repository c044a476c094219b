// Stands in for dependencies the agent never uses (MQTT over WebSocket, SOCKS proxies):
// the bundle leaves them out, and a use that slips through fails loudly.
function absent() {
  throw new Error('this transport is not included in openc2-agent: use mqtt:// or mqtts://');
}
module.exports = new Proxy(absent, { get: (_target, key) => (key === '__esModule' ? false : absent) });
