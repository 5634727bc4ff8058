#!/bin/sh
# keyquorum container entrypoint: docker/entrypoint.sh coordinator|signer
#   1. init the node when its data volume (/data) is empty (once);
#   2. publish its identity public key to the shared /keys volume and wait for the
#      keys it must pin (the coordinator: every signer's; a signer: the
#      coordinator's and every peer's). On separate machines, operators exchange
#      these public keys out of band instead;
#   3. write its config (docker/configure.mjs) and exec the daemon.
# Every command runs the CLI's bundle (dist/, built in the image by `npm run build`)
# with source maps, so a stack trace names the .ts line.
# Environment: KEYQUORUM_NODE_ID (coordinator, signer-1, ...), KEYQUORUM_SIGNERS
# (signer-1,signer-2,signer-3), KEYQUORUM_PASSPHRASE_FILE (a docker secret),
# KEYQUORUM_ADMIN_PUBLIC_KEY (hex of the admin client key), KEYQUORUM_COORDINATOR_URL
# (signers), KEYQUORUM_LISTEN (coordinator API / signer health, host:port).
set -eu
role="${1:-}"
node_id="${KEYQUORUM_NODE_ID:?set KEYQUORUM_NODE_ID}"
pass="${KEYQUORUM_PASSPHRASE_FILE:?set KEYQUORUM_PASSPHRASE_FILE (a docker secret)}"
data=/data
keys=/keys
node="node --enable-source-maps"
cd /app

case "$role" in
  coordinator)
    cli="$node dist/keyquorum-coordinator.mjs"
    if [ ! -e "$data/identity.sealed" ]; then
      echo "keyquorum: initialising coordinator in $data"
      $cli init --data "$data" --passphrase-file "$pass" > "$keys/$node_id.pub.tmp"
    else
      $cli pubkey --data "$data" --passphrase-file "$pass" > "$keys/$node_id.pub.tmp"
    fi
    ;;
  signer)
    cli="$node dist/keyquorum-signer.mjs"
    if [ ! -e "$data/keystore.db" ]; then
      echo "keyquorum: initialising $node_id in $data"
      $cli init --data "$data" --id "$node_id" --passphrase-file "$pass" >/dev/null
    fi
    $cli pubkey --data "$data" > "$keys/$node_id.pub.tmp"
    ;;
  *)
    echo "usage: entrypoint.sh coordinator|signer" >&2
    exit 2
    ;;
esac
mv "$keys/$node_id.pub.tmp" "$keys/$node_id.pub"

config=/tmp/keyquorum.json
node docker/configure.mjs "$role" "$config"
exec $cli start --config "$config"
