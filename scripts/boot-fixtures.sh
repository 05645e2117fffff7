#!/usr/bin/env bash
# Builds the network-boot fixtures the QEMU tests boot, from Debian packages only:
#
#   $CTPF_BOOT_CACHE/vmlinuz     a Debian kernel, extracted with dpkg-deb (never installed)
#   $CTPF_BOOT_CACHE/initrd.img  a busybox initramfs (cpio newc + gzip)
#
# The initramfs's /init mounts proc/sys/dev, prints `CTPF-BOOT-OK` and the kernel command line
# on the console, and powers off. Kernel command line switches it understands:
#
#   ctpf.net=dhcp       load the NIC driver (e1000 or virtio-net), `udhcpc` on eth0, print
#                       `CTPF-NET-UP ip=… router=… serverid=…`
#   ctpf.url=URL        implies ctpf.net=dhcp; `wget` URL and run it with sh, print
#                       `CTPF-SCRIPT-EXIT rc=N`
#   ctpf.hold=1         do not power off (sleep forever), for tests that poke the machine
#
# `/bin/ctpf-sshd` (for scripts run by ctpf.url) makes an ed25519 host key, starts dropbear on
# port 22 (keys only, from /root/.ssh/authorized_keys) and prints the public host key line.
#
# Idempotent: files that are present and valid are kept. Needs `apt-get download` (no root),
# gzip, sha256sum and dpkg-deb; the cpio used is the one in busybox-static itself.
#
# Env: CTPF_BOOT_CACHE (default <repo>/.cache/boot), CTPF_BOOT_KERNEL_PKG (default: the
# package linux-image-amd64 depends on; the generic flavour: 8 MiB vmlinuz with e1000 and
# virtio-net modules — the cloud flavour has no e1000 driver and a 14 MiB vmlinuz).
set -euo pipefail

# --- Debian packages this script needs on the host (merge into scripts/install-test-deps.sh) ---
#   dpkg apt coreutils gzip   (essential / always present on Debian)
# --- Debian packages it downloads with `apt-get download` and unpacks (never installed) ---
#   linux-image-<abi>-amd64   the kernel and its NIC modules
#   busybox-static            the initramfs userland (busybox-static conflicts with the
#                             installed `busybox`, so it is unpacked, not installed)
#   dropbear-bin libtomcrypt1 libtommath1   an SSH server for the booted machine (with the
#                             host's libc, libz, libcrypt, libgmp, found with ldd)
# -------------------------------------------------------------------------------------------

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${CTPF_BOOT_CACHE:-$repo/.cache/boot}"
NIC_MODULES=(e1000 virtio_net virtio_pci)

log() { printf 'boot-fixtures: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

mkdir -p "$cache"
work="$(mktemp -d "${TMPDIR:-/tmp}/ctpf-boot-fixtures.XXXXXX")"
trap 'rm -rf "$work"' EXIT
# apt's download sandbox user must be able to write here
chmod 0755 "$work"
if [ "$(id -u)" -eq 0 ] && id _apt >/dev/null 2>&1; then chown _apt "$work"; fi

# a fresh machine may have no package lists yet: fetch them once (as root) before giving up
if ! apt-cache show linux-image-amd64 >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
  log "no package lists: apt-get update"
  apt-get update -qq || true
fi

download() { # download PACKAGE → prints the .deb path
  (cd "$work" && apt-get download -q "$1" >/dev/null 2>"$work/apt.err") || { cat "$work/apt.err" >&2; die "apt-get download $1 failed"; }
  ls "$work"/"${1}"_*.deb
}

is_bzimage() { [ -s "$1" ] && [ "$(dd if="$1" bs=1 skip=514 count=4 2>/dev/null)" = "HdrS" ]; }

# ----------------------------------------------------------------------------- kernel
kernel_ok() {
  is_bzimage "$cache/vmlinuz" && [ -s "$cache/kernel.version" ] &&
    [ -d "$cache/modules/$(cat "$cache/kernel.version")" ] && [ -f "$cache/modules.order" ]
}

build_kernel() {
  local pkg="${CTPF_BOOT_KERNEL_PKG:-}"
  if [ -z "$pkg" ]; then
    pkg="$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')"
    [ -n "$pkg" ] || die "cannot resolve linux-image-amd64 (apt-get update?)"
  fi
  log "downloading $pkg"
  local deb; deb="$(download "$pkg")"
  dpkg-deb -x "$deb" "$work/kernel"
  local vmlinuz; vmlinuz="$(ls "$work"/kernel/boot/vmlinuz-* | head -1)"
  is_bzimage "$vmlinuz" || die "$vmlinuz is not a bzImage"
  local kver="${vmlinuz##*/vmlinuz-}"
  local mroot="$work/kernel/lib/modules/$kver"

  # Keep only the NIC driver modules and their dependencies, in load order (no kmod here:
  # dependencies come from each module's .modinfo `depends=` field).
  rm -rf "$cache/modules" && mkdir -p "$cache/modules/$kver"
  : > "$work/order"
  add_module() {
    local name="$1" file dep
    grep -qx "$name" "$work/order" && return 0
    file="$(find "$mroot/kernel" -name "$name.ko" -print -quit)"
    [ -n "$file" ] || { file="$(find "$mroot/kernel" -name "${name//_/-}.ko" -print -quit)"; }
    [ -n "$file" ] || die "module $name not in $pkg"
    for dep in $(tr '\0' '\n' < "$file" | sed -n 's/^depends=//p' | tr ',' ' '); do add_module "$dep"; done
    cp "$file" "$cache/modules/$kver/$name.ko"
    echo "$name" >> "$work/order"
  }
  for m in "${NIC_MODULES[@]}"; do add_module "$m"; done
  cp "$work/order" "$cache/modules.order"
  cp "$vmlinuz" "$cache/vmlinuz.tmp" && mv "$cache/vmlinuz.tmp" "$cache/vmlinuz"
  echo "$kver" > "$cache/kernel.version"
  echo "$pkg $(dpkg-deb -f "$deb" Version)" > "$cache/kernel.package"
  rm -rf "$work/kernel" "$deb"
  rm -f "$cache/initrd.img" # modules changed: rebuild the initramfs
}

# ----------------------------------------------------------------------------- busybox
# busybox-static is a non-PIE static executable: ELF e_type 2 (EXEC); Debian's dynamic busybox is 3
busybox_ok() { [ -x "$cache/busybox" ] && [ "$(od -An -tu2 -j16 -N2 "$cache/busybox" | tr -d ' ')" = 2 ] && "$cache/busybox" true; }

build_busybox() {
  log "downloading busybox-static"
  local deb; deb="$(download busybox-static)"
  dpkg-deb -x "$deb" "$work/bb"
  cp "$work/bb/bin/busybox" "$cache/busybox.tmp" && mv "$cache/busybox.tmp" "$cache/busybox"
  rm -f "$cache/initrd.img"
}

# ----------------------------------------------------------------------------- dropbear
dropbear_ok() { [ -x "$cache/dropbear/usr/sbin/dropbear" ] && [ -x "$cache/dropbear/usr/bin/dropbearkey" ] && [ -s "$cache/dropbear/libs.list" ]; }

build_dropbear() {
  log "downloading dropbear-bin libtomcrypt1 libtommath1"
  rm -rf "$cache/dropbear" "$work/db" && mkdir -p "$work/db"
  local p deb
  for p in dropbear-bin libtomcrypt1 libtommath1; do deb="$(download "$p")"; dpkg-deb -x "$deb" "$work/db"; done
  mkdir -p "$cache/dropbear/usr/sbin" "$cache/dropbear/usr/bin" "$cache/dropbear/lib"
  cp "$work/db/usr/sbin/dropbear" "$cache/dropbear/usr/sbin/"
  cp "$work/db/usr/bin/dropbearkey" "$cache/dropbear/usr/bin/"
  # every shared library the two need, resolved the way the loader will (the unpacked
  # libtom* first, the host's libc & co. otherwise), kept under their resolved paths
  : > "$cache/dropbear/libs.list"
  local lib
  for lib in $(LD_LIBRARY_PATH="$work/db/usr/lib/x86_64-linux-gnu" ldd "$work/db/usr/sbin/dropbear" "$work/db/usr/bin/dropbearkey" | awk '/=> \// { print $3 } /^\t\/lib64/ { print $1 }' | sort -u); do
    [ -f "$lib" ] || die "dropbear needs $lib, which is missing"
    cp -L "$lib" "$cache/dropbear/lib/"
    echo "$(basename "$lib")" >> "$cache/dropbear/libs.list"
  done
  rm -f "$cache/initrd.img"
}

# ----------------------------------------------------------------------------- initramfs
write_init() {
  cat > "$1" <<'INIT'
#!/bin/sh
# ctpf test initramfs (scripts/boot-fixtures.sh)
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
# the archive holds no device nodes (built without root): take the console from devtmpfs
exec 0</dev/console 1>/dev/console 2>&1
mkdir -p /tmp /run
echo
echo "CTPF-BOOT-OK"
echo "CTPF-CMDLINE: $(cat /proc/cmdline)"

net=''; url=''; hold=''
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    ctpf.net=*) net="${arg#ctpf.net=}" ;;
    ctpf.url=*) url="${arg#ctpf.url=}"; net=dhcp ;;
    ctpf.hold=*) hold="${arg#ctpf.hold=}" ;;
  esac
done

if [ "$net" = dhcp ]; then
  for m in $(cat /etc/modules.order); do insmod "/lib/modules/$m.ko" 2>/dev/null; done
  i=0
  while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
  ip link set lo up
  ip link set eth0 up
  if udhcpc -i eth0 -n -q -t 10 -T 1 -s /etc/udhcpc.script -x hostname:ctpf-test; then
    . /run/net.env
    echo "CTPF-NET-UP ip=$ip router=$router serverid=$serverid mac=$(cat /sys/class/net/eth0/address)"
  else
    echo "CTPF-NET-FAILED"
  fi
fi

if [ -n "$url" ]; then
  if wget -q -O /tmp/ctpf.sh "$url"; then
    sh /tmp/ctpf.sh
    echo "CTPF-SCRIPT-EXIT rc=$?"
  else
    echo "CTPF-SCRIPT-FETCH-FAILED url=$url"
  fi
fi

if [ "$hold" = 1 ]; then
  echo "CTPF-HOLD"
  while :; do sleep 3600; done
fi
echo "CTPF-POWEROFF"
sync
poweroff -f
INIT
  chmod 0755 "$1"
}

write_sshd_helper() {
  cat > "$1" <<'SSHD'
#!/bin/sh
# ctpf-sshd: an ed25519 host key, dropbear on :22 (public keys only), the public key line on stdout
mkdir -p /etc/dropbear /root/.ssh /dev/pts
chmod 700 /root /root/.ssh
grep -q ' /dev/pts ' /proc/mounts || mount -t devpts devpts /dev/pts
[ -f /etc/dropbear/dropbear_ed25519_host_key ] || dropbearkey -t ed25519 -f /etc/dropbear/dropbear_ed25519_host_key >/dev/null 2>&1
dropbear -s -g -p 22 -r /etc/dropbear/dropbear_ed25519_host_key -P /run/dropbear.pid
dropbearkey -y -f /etc/dropbear/dropbear_ed25519_host_key | grep '^ssh-ed25519 ' | cut -d' ' -f1,2
SSHD
  chmod 0755 "$1"
}

write_udhcpc_script() {
  cat > "$1" <<'UDHCPC'
#!/bin/sh
# udhcpc event script: configure eth0 and record the lease for /init
case "$1" in
  deconfig) ip addr flush dev "$interface"; ip link set "$interface" up ;;
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    for r in $router; do ip route add default via "$r" dev "$interface"; break; done
    : > /etc/resolv.conf
    for d in $dns; do echo "nameserver $d" >> /etc/resolv.conf; done
    printf 'ip=%s\nrouter=%s\nserverid=%s\n' "$ip" "${router%% *}" "$serverid" > /run/net.env
    ;;
esac
exit 0
UDHCPC
  chmod 0755 "$1"
}

initrd_stamp() {
  local kver; kver="$(cat "$cache/kernel.version")"
  # this script (it holds /init), the kernel and busybox: any change rebuilds the initramfs
  printf '%s %s %s %s\n' "$(sha256sum < "${BASH_SOURCE[0]}" | cut -c1-16)" "$kver" "$(sha256sum < "$cache/busybox" | cut -c1-16)" "$(cat "$cache/dropbear/usr/sbin/dropbear" "$cache/dropbear/libs.list" | sha256sum | cut -c1-16)"
}

initrd_ok() {
  [ -s "$cache/initrd.img" ] && gzip -t "$cache/initrd.img" 2>/dev/null &&
    [ -f "$cache/initrd.stamp" ] && [ "$(cat "$cache/initrd.stamp")" = "$(initrd_stamp)" ]
}

build_initrd() {
  local root="$work/initramfs" kver
  kver="$(cat "$cache/kernel.version")"
  mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,tmp,run,lib/modules}
  cp "$cache/busybox" "$root/bin/busybox"
  for applet in $("$root/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
  done
  write_init "$root/init"
  write_udhcpc_script "$root/etc/udhcpc.script"
  write_sshd_helper "$root/bin/ctpf-sshd"
  mkdir -p "$root/usr/sbin" "$root/usr/bin" "$root/lib/x86_64-linux-gnu" "$root/lib64" "$root/root" "$root/etc/dropbear"
  cp "$cache/dropbear/usr/sbin/dropbear" "$root/usr/sbin/"
  cp "$cache/dropbear/usr/bin/dropbearkey" "$root/usr/bin/"
  local lib
  for lib in $(cat "$cache/dropbear/libs.list"); do
    case "$lib" in ld-linux*) cp "$cache/dropbear/lib/$lib" "$root/lib64/" ;; *) cp "$cache/dropbear/lib/$lib" "$root/lib/x86_64-linux-gnu/" ;; esac
  done
  printf 'root:x:0:0:root:/root:/bin/sh\n' > "$root/etc/passwd"
  printf 'root:x:0:\n' > "$root/etc/group"
  printf '/bin/sh\n' > "$root/etc/shells"
  cp "$cache/modules.order" "$root/etc/modules.order"
  cp "$cache/modules/$kver/"*.ko "$root/lib/modules/"
  (cd "$root" && find . | LC_ALL=C sort | "$cache/busybox" cpio -o -H newc -R 0:0 2>/dev/null) | gzip -9n > "$cache/initrd.img.tmp"
  mv "$cache/initrd.img.tmp" "$cache/initrd.img"
  initrd_stamp > "$cache/initrd.stamp"
}

# ----------------------------------------------------------------------------- main
if kernel_ok; then log "kernel present: $(cat "$cache/kernel.package")"; else build_kernel; fi
if busybox_ok; then log "busybox present"; else build_busybox; fi
if dropbear_ok; then log "dropbear present"; else build_dropbear; fi
if initrd_ok; then log "initramfs present"; else log "building initramfs"; build_initrd; fi

kernel_ok || die "kernel fixture invalid after build"
initrd_ok || die "initramfs fixture invalid after build"
printf 'boot-fixtures: built in %s\n' "$cache"
printf '  vmlinuz     %8s bytes  %s (%s)\n' "$(stat -c %s "$cache/vmlinuz")" "$(cat "$cache/kernel.package")" "$(cat "$cache/kernel.version")"
printf '  initrd.img  %8s bytes  busybox-static, modules: %s\n' "$(stat -c %s "$cache/initrd.img")" "$(tr '\n' ' ' < "$cache/modules.order")"
echo
