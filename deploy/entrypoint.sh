#!/bin/sh
# One deconflict node: the shared audit key copied into this node's volume (the witness and the plan
# index snapshot are written beside it), then `deconflict serve` on the shared PostgreSQL database.
# A node that loses the lead exits with status 3: the container's restart policy starts it again as
# a standby. Any other arguments run that deconflict command instead (e.g. `admin add-party ...`).
set -eu
if [ ! -f /data/audit.key ]; then
  if [ ! -f /run/secrets/audit_key ]; then
    echo "error: no audit key: give the same Ed25519 key to every node as the secret audit_key" >&2
    exit 2
  fi
  cp /run/secrets/audit_key /data/audit.key
  chmod 600 /data/audit.key
fi
if [ "$#" -gt 0 ]; then
  exec deconflict "$@"
fi
exec deconflict serve --db "${DECONFLICT_DATABASE_URL:?set DECONFLICT_DATABASE_URL}" --host 0.0.0.0 --port 8000 \
  --key /data/audit.key --standard "${DECONFLICT_STANDARD:-en-route}" \
  --advertise "${DECONFLICT_ADVERTISE:-http://localhost:8080}"
