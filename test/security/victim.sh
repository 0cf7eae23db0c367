#!/bin/bash
# The victim's job (test/security/hostile-jobs-suite.ts): leaves a secret in its workspace and its
# cache, holds a masked project variable, and, when WAIT_FOR is set, keeps running while the
# attacker's job runs beside it on the same agent; then checks that nothing of its own was read
# into or changed, and that its network (full) reaches the server: the positive control of the
# attacker's network `none`.
set -eu
if [ -e vcache/secret ] && [ "$(cat vcache/secret)" != "$VICTIM_CACHE_SECRET" ]; then echo "VICTIM: the restored cache is not mine: $(head -c 64 vcache/secret)"; exit 1; fi
if [ -e vcache/planted ]; then echo "VICTIM: a file was planted in my cache"; exit 1; fi
echo "VICTIM: cache $([ -e vcache/secret ] && echo restored || echo empty)"
mkdir -p vcache
printf '%s' "$VICTIM_CACHE_SECRET" >vcache/secret
# Readable by everyone, as a careless build leaves its files: only the sandbox keeps others out.
printf '%s' "$VICTIM_WS_SECRET" >secret.txt
chmod 755 . vcache && chmod 644 secret.txt vcache/secret
echo "VICTIM: my token is $VICTIM_TOKEN"
if (exec 3<>"/dev/tcp/127.0.0.1/$SERVER_PORT") 2>/dev/null; then echo "CONTROL network full: reached the server"; else echo "CONTROL network full: could not reach 127.0.0.1:$SERVER_PORT"; exit 1; fi
if [ -n "${WAIT_FOR:-}" ]; then
  # A process of the victim's with a command line an attacker would recognize in /proc.
  sleep 31.4159 &
  marker=$!
  echo ready >"$READY"
  for _ in $(seq 1 250); do [ -s "$WAIT_FOR" ] && break; sleep 0.1; done
  kill "$marker"
  [ -s "$WAIT_FOR" ] || { echo "VICTIM: the attacker never finished"; exit 1; }
fi
[ "$(cat secret.txt)" = "$VICTIM_WS_SECRET" ] || { echo "VICTIM: my secret.txt was changed"; exit 1; }
[ "$(cat vcache/secret)" = "$VICTIM_CACHE_SECRET" ] || { echo "VICTIM: my cache was changed"; exit 1; }
listing=$(LC_ALL=C ls -A . vcache | tr '\n' ' ')
[ "$listing" = ".: .gantry.yml .git private.txt secret.txt vcache victim.sh  vcache: secret " ] || { echo "VICTIM: my workspace changed: $listing"; exit 1; }
echo "VICTIM: untouched"
