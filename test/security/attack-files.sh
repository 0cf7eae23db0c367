#!/bin/bash
# A hostile job (test/security/hostile-jobs-suite.ts): it tries, as an attacker with an ordinary
# project on a shared agent would, to reach what docs/SECURITY.md says no job may reach. Each
# attempt prints exactly one line, `ATTACK <name>: blocked` or `ATTACK <name>: SUCCEEDED
# <evidence>`; the test fails on any SUCCEEDED and on any attempt that did not report.
#
# Given as variables of the attacker's pipeline: SERVER_HOME, AGENT_HOME (the real paths on the
# host), TOKENS_B64 (the registration and admin tokens, base64, one a line: never in clear in this
# job's own environment), SERVER_PORT, AGENT_PID (the agent's pid on the host), DONE (a file to
# write when finished: the victim waits for it).
set -u

report() {
  if [ -n "$2" ]; then
    echo "ATTACK $1: SUCCEEDED $(printf '%s' "$2" | head -c 300 | tr -c '[:print:]' '.')"
  else
    echo "ATTACK $1: blocked"
  fi
}
# The first bytes of whatever of the files could be read (empty when none could).
first_bytes() { cat "$@" 2>/dev/null | head -c 64; }

# 1. Tokens and keys wherever they live: the server's home, the agent's home.
for f in admin.token agent.token secrets.key gantry.db; do
  report "server-home $f" "$(first_bytes "$SERVER_HOME/$f")"
done
report "server-home blobs (caches, artifacts), mirrors, log objects" "$(find "$SERVER_HOME/blobs" "$SERVER_HOME/mirrors" "$SERVER_HOME/log-objects" -type f 2>/dev/null | head -n 3)"
report "agent identity (agent.json)" "$(first_bytes "$AGENT_HOME/agent.json")"
report "agent builds (other slots' workspaces, spools, scripts)" "$(find "$AGENT_HOME/builds" -path "$CI_PROJECT_DIR" -prune -o -type f -print 2>/dev/null | head -n 3)"
own_objects=$(head -n 1 .git/objects/info/alternates 2>/dev/null)
report "agent mirrors and snapshots (other projects' sources)" "$(find "$AGENT_HOME/mirrors" "$AGENT_HOME/snapshots" -path "${own_objects:-/nonexistent}" -prune -o -type f -print 2>/dev/null | head -n 3)"
report "agent sandbox files (accounts, other slots' /tmp)" "$(find "$AGENT_HOME/sandbox" -type f 2>/dev/null | head -n 3)"

# 2. The tokens in any environment or command line this job can see, and in its own environment.
hits=""
while IFS= read -r tok; do
  [ -n "$tok" ] || continue
  for f in /proc/[0-9]*/environ /proc/[0-9]*/cmdline; do
    # The token goes to grep on a pipe, never on a command line of ours.
    if grep -qaF -f <(printf '%s\n' "$tok") "$f" 2>/dev/null; then hits="$hits $f"; fi
  done
  if env | grep -qaF -f <(printf '%s\n' "$tok"); then hits="$hits own-environment"; fi
done < <(printf '%s' "$TOKENS_B64" | base64 -d)
report "tokens in /proc/*/environ, /proc/*/cmdline or its own environment" "$hits"
report "GANTRY_ variables in its environment" "$(env | grep '^GANTRY_' | cut -c 1-40)"

# 3. Other processes: the victim's (it runs `sleep 31.4159`), the agent's, anyone's.
others=""
me=$(id -u)
launcher=""
for d in /proc/[0-9]*; do
  # pid 1 is bubblewrap, the sandbox's own init (root, in the job's namespace); its child running
  # /.gantry/node is Gantry's launcher, which starts this job's steps (attacked in 7. below).
  [ "$d" = /proc/1 ] && continue
  if [ "$(awk '/^PPid:/ {print $2}' "$d/status" 2>/dev/null)" = 1 ] && [ "$(tr '\0' ' ' <"$d/cmdline" 2>/dev/null)" = "/.gantry/node /.gantry/launcher.mjs " ]; then launcher=${d#/proc/}; continue; fi
  u=$(awk '/^Uid:/ {print $2}' "$d/status" 2>/dev/null) || continue
  [ -z "$u" ] || [ "$u" = "$me" ] || others="$others ${d#/proc/}(uid $u)"
done
report "see processes of other users" "$others"
seen=""
for f in /proc/[0-9]*/cmdline; do
  if grep -qaF -f <(printf '%s\n' 31.4159 bin/gantry) "$f" 2>/dev/null; then seen="$seen $f: $(tr '\0' ' ' <"$f" | head -c 80)"; fi
done
report "see the victim's or the agent's processes" "$seen"
report "read the agent's /proc by its host pid" "$(tr '\0' '\n' <"/proc/$AGENT_PID/environ" 2>/dev/null | head -c 64)$(tr '\0' ' ' <"/proc/$AGENT_PID/cmdline" 2>/dev/null | head -c 64)"

# 4. The victim's workspace and its cache, by path under the agent's builds, by glob, by search.
read_victim=""
write_victim=""
for ws in "$AGENT_HOME/builds/0/victim" "$AGENT_HOME/builds/1/victim" "$AGENT_HOME"/builds/*/victim "$CI_PROJECT_DIR/../victim" "$CI_PROJECT_DIR/../../0/victim" "$CI_PROJECT_DIR/../../1/victim"; do
  got=$(first_bytes "$ws/secret.txt" "$ws/vcache/secret")
  [ -n "$got" ] && read_victim="$read_victim $ws: $got"
  if (echo planted >"$ws/planted") 2>/dev/null; then write_victim="$write_victim $ws/planted"; fi
  if (mkdir -p "$ws/vcache" && echo planted >"$ws/vcache/planted") 2>/dev/null; then write_victim="$write_victim $ws/vcache/planted"; fi
done
report "read the victim's workspace and cache by path and glob" "$read_victim"
report "write the victim's workspace and cache" "$write_victim"
found=$(find / \( -path /proc -o -path /sys -o -path /dev -o -path /usr -o -path "$CI_PROJECT_DIR" \) -prune -o \( -name secret.txt -o -name vcache -o -name victim \) -print 2>/dev/null | head -n 3)
report "find the victim's workspace anywhere" "$found"

# 5. Out of the workspace by symlinks and `..`.
ln -sfn "$AGENT_HOME" escape-home
report "symlink in the workspace to the agent's home" "$(first_bytes escape-home/agent.json)"
ln -sfn / escape-root
report "symlink in the workspace to /" "$(first_bytes "escape-root$AGENT_HOME/agent.json" "escape-root$SERVER_HOME/admin.token")"
report "../ from the workspace" "$(first_bytes "$CI_PROJECT_DIR/../../../agent.json" "$CI_PROJECT_DIR/../../../../home/admin.token")"
report "through /proc/1/root" "$(first_bytes "/proc/1/root$AGENT_HOME/agent.json" "/proc/1/root$SERVER_HOME/admin.token")"

# 6. The network under `none`: the server's port on the host's loopback.
if (exec 3<>"/dev/tcp/127.0.0.1/$SERVER_PORT") 2>/dev/null; then
  report "reach the server on 127.0.0.1:$SERVER_PORT under network none" "connected"
else
  report "reach the server on 127.0.0.1:$SERVER_PORT under network none" ""
fi

# 7. Privileges: the job's own, and Gantry's launcher beside it in the sandbox (root, with the
# capabilities to become a slot's user).
caps=$(grep -E '^(CapInh|CapPrm|CapEff|CapAmb):' /proc/self/status | grep -v ':[[:space:]]*0*$')
bounding=$(awk '/^CapBnd:/ {print $2}' /proc/self/status)
# setgid, setuid and dac_read_search (0xc4) are all the bounding set may hold; none is permitted.
[ $(( 0x$bounding & ~0xc4 )) -eq 0 ] || caps="$caps CapBnd:$bounding"
grep -q '^NoNewPrivs:[[:space:]]*1$' /proc/self/status || caps="$caps no_new_privs unset"
[ "$(id -u)" != 0 ] || caps="$caps uid 0"
report "hold a capability, or run without no_new_privs" "$caps"
gantry_dir=$(ls -A /.gantry 2>/dev/null; cat /.gantry/ctl/* 2>/dev/null | head -c 64)
report "read Gantry's launcher directory (/.gantry)" "$gantry_dir"
reached=""
if [ -n "$launcher" ]; then
  kill -0 "$launcher" 2>/dev/null && reached="$reached signal"
  [ -n "$(tr '\0' '\n' <"/proc/$launcher/environ" 2>/dev/null | head -c 64)" ] && reached="$reached environ"
  (echo '{"op":"spawn","id":1,"file":"/bin/sh","args":["-c","id"],"cwd":"/","env":{},"uid":1,"gid":1,"output":"/tmp/x"}' >"/proc/$launcher/fd/0") 2>/dev/null && reached="$reached its-stdin"
  ls "/proc/$launcher/fd/" >/dev/null 2>&1 && reached="$reached its-fds"
  [ -n "$(ls "/proc/$launcher/root/" 2>/dev/null)" ] && reached="$reached its-root"
else
  reached="no launcher found to attack"
fi
report "reach Gantry's launcher (signal it, read its environment, its descriptors, write its control pipe)" "$reached"

echo done >"$DONE"
