// MQTT.js runs its keepalive on worker-timers in browsers; on Node the global timers are the real thing.
module.exports = { setTimeout, clearTimeout, setInterval, clearInterval };
