#!/usr/bin/env bash
# Installs every system package the tests and benchmarks use, so a fresh Debian 12 machine
# needs nothing installed by hand. Only missing packages are fetched. Needs root (or sudo).
set -euo pipefail

packages=(
  iproute2 iptables procps psmisc      # network namespaces, NAT, process tools
  openssh-server openssh-client        # real sshd hosts
  busybox udhcpc isc-dhcp-client       # DHCP clients, initramfs userland
  tftp-hpa bind9-dnsutils curl         # real TFTP / DNS / HTTP clients
  dnsmasq tftpd-hpa kea-admin dnsperf  # peers we measure and interoperate with
  qemu-system-x86 qemu-utils ovmf ipxe # machines that network-boot
  xorriso mtools syslinux syslinux-common isolinux dosfstools grub-pc-bin grub-efi-amd64-bin grub-common
  radvd iperf3 bubblewrap                # RA for iPXE, overlay throughput, build sandbox
  make gcc libc6-dev util-linux python3 python3-yaml  # builder tests, the TUN addon (node-gyp), cloud-init YAML check
  chromium                             # the dashboard test drives it headless (playwright-core)
  systemd                              # systemd-analyze checks the agent's unit
  nebula                               # the overlay benchmark measures against Nebula 1.6
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-test-deps: all ${#packages[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-test-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# services installed here must not start on their own and take the ports tests use
if [ ! -e /usr/sbin/policy-rc.d ]; then $SUDO sh -c 'printf "#!/bin/sh\nexit 101\n" > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d'; trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT; fi
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-test-deps: done"
