#!/bin/sh
{{! The demo profile's post-install script (e2e:provision uses it too), rendered by the scripts role for each machine. }}
{{! It runs in the busybox initramfs of scripts/boot-fixtures.sh (ctpf.url=…), which has dropbear. }}
echo "{{ group.metadata.marker | default("DEMO-POST-INSTALL") }} mac={{ host.mac }} profile={{ profile.name }} group={{ group.name }}"

# the keys this machine's dc allows: the dc's general key (ctpf dc key) and the per-dc/tag keys
mkdir -p /root/.ssh
chmod 700 /root/.ssh
: > /root/.ssh/authorized_keys
{{#each ssh.authorizedKeys as key}}
printf '%s\n' {{ key | shellQuote }} >> /root/.ssh/authorized_keys
{{/each}}
chmod 600 /root/.ssh/authorized_keys
echo "DEMO-AUTHORIZED-KEYS $(wc -l < /root/.ssh/authorized_keys)"

# an SSH server (dropbear, keys only); its host key is what the registry pins
if ! command -v ctpf-sshd >/dev/null; then
  echo "DEMO-NO-SSHD: this initramfs has no ctpf-sshd (rebuild it: bash scripts/boot-fixtures.sh)"
  exit 1
fi
hostkey=$(ctpf-sshd)
echo "DEMO-SSHD $hostkey"

addrs=''
for a in $(ip -4 -o addr show dev eth0 | awk '{ split($4, p, "/"); print p[1] }'); do
  addrs="${addrs:+$addrs,}\"$a\""
done
printf '{"addresses":[%s],"sshHostKey":"%s"}' "$addrs" "$hostkey" > /tmp/phone-home.json

# the one-time token is in this script's body only; busybox wget takes headers as arguments,
# inside this throwaway machine
token={{ phoneHome.token | shellQuote }}
if wget -q -O /tmp/phone-home.out --header "Authorization: Bearer $token" --header 'Content-Type: application/json' \
  --post-file /tmp/phone-home.json {{ phoneHome.url | shellQuote }}; then
  echo "DEMO-PHONE-HOME-OK $(cat /tmp/phone-home.out)"
else
  echo "DEMO-PHONE-HOME-FAILED"
  exit 1
fi
