// MQTT.js traces through `debug`; the agent logs through its own logger, so tracing is off.
function debug() {
  const log = () => {};
  log.enabled = false;
  log.extend = debug;
  return log;
}
debug.enable = () => {};
debug.disable = () => '';
debug.enabled = () => false;
module.exports = debug;
module.exports.default = debug;
