#!/bin/sh
# /usr/bin/openc2-agent: the agent's CLI (version, check-config, dataplane detach).
# The service runs through /etc/init.d/openc2; this is for the operator's shell.
exec /usr/bin/node /usr/lib/openc2/openc2-agent.mjs "$@"
