# Installs what the project needs and the machine lacks: Debian packages (only the missing ones)
# and the npm packages (when node_modules is absent or older than the lock file).
# Sourced by scripts/test and scripts/demo; root is expected on the target machines.

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

ha_need_npm() {
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ] \
     || [ ! -f src/io/tun-tap/build/Release/tun_tap.node ] \
     || [ -n "$(find src/io/tun-tap -maxdepth 1 -newer src/io/tun-tap/build/Release/tun_tap.node \( -name '*.cc' -o -name '*.gyp' \) 2>/dev/null)" ]; then
    echo "installing npm packages and building the TUN addon" >&2
    # npm install, not npm ci: with this machine's npm settings the lock file leaves out other
    # platforms' optional packages (Biome's binaries), which npm ci rejects; install honours the
    # lock as it is and changes nothing.
    npm install --no-audit --no-fund --no-save --loglevel=error
  fi
}

# Debian packages used by the system tests and the lab.
HA_SYSTEM_DEBS=(iproute2 nftables iptables tcpdump tshark mptcpd mptcpize iperf3 socat curl python3 g++ make procps ethtool iputils-ping udhcpc isc-dhcp-client dnsmasq-base)
