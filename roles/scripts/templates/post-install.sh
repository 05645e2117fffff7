#!/bin/bash
{{! Post-install script: run on the installed system (e.g. by the preseed's late_command). }}
{{! Every value from the host or group goes through shellQuote. }}
set -euo pipefail
install -d -m 0700 /root/.ssh
{{#each ssh.authorizedKeys as key}}
printf '%s\n' {{ key | shellQuote }} >> /root/.ssh/authorized_keys
{{/each}}
chmod 0600 /root/.ssh/authorized_keys
printf '%s\n' {{ host.hostname | shellQuote }} > /etc/hostname
install -d -m 0755 /etc/ctpf
printf '%s\n' {{ host.tags | json | shellQuote }} > /etc/ctpf/tags.json
umask 077
printf '%s\n' {{ phoneHome.url | shellQuote }} > /etc/ctpf/phone-home-url
printf '%s\n' {{ phoneHome.token | shellQuote }} > /etc/ctpf/phone-home-token
ssh-keygen -A
key=$(cut -d' ' -f1,2 /etc/ssh/ssh_host_ed25519_key.pub)
addrs=""
for a in $(hostname -I); do addrs="${addrs:+$addrs,}\"$a\""; done
printf 'Authorization: Bearer %s\n' "$(cat /etc/ctpf/phone-home-token)" > /run/ctpf-phone-home.hdr
printf '{"sshHostKey":"%s","addresses":[%s]}' "$key" "$addrs" |
  curl -fsS --retry 10 --retry-delay 5 -H @/run/ctpf-phone-home.hdr -H 'Content-Type: application/json' --data-binary @- "$(cat /etc/ctpf/phone-home-url)"
rm -f /run/ctpf-phone-home.hdr /etc/ctpf/phone-home-token
