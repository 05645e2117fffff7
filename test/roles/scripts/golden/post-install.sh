#!/bin/bash
set -euo pipefail
install -d -m 0700 /root/.ssh
printf '%s\n' 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx0ZXN0a2V5MDEyMzQ1Njc4OWFiY2RlZmdoaWprbG1u ops@example.org' >> /root/.ssh/authorized_keys
printf '%s\n' 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHNlY29uZGtleTAxMjM0NTY3ODlhYmNkZWZnaGlqa2xt o'\''brien@example.org' >> /root/.ssh/authorized_keys
chmod 0600 /root/.ssh/authorized_keys
printf '%s\n' 'web1' > /etc/hostname
install -d -m 0755 /etc/ctpf
printf '%s\n' '{"rack":"r1","role":"web"}' > /etc/ctpf/tags.json
umask 077
printf '%s\n' 'http://10.0.0.1:8080/v1/phone-home' > /etc/ctpf/phone-home-url
printf '%s\n' 'q2Jx7uR8mN4vK1pL0sT3wY6zA9bC5dE2fG7hI4jK8lM' > /etc/ctpf/phone-home-token
ssh-keygen -A
key=$(cut -d' ' -f1,2 /etc/ssh/ssh_host_ed25519_key.pub)
addrs=""
for a in $(hostname -I); do addrs="${addrs:+$addrs,}\"$a\""; done
printf 'Authorization: Bearer %s\n' "$(cat /etc/ctpf/phone-home-token)" > /run/ctpf-phone-home.hdr
printf '{"sshHostKey":"%s","addresses":[%s]}' "$key" "$addrs" |
  curl -fsS --retry 10 --retry-delay 5 -H @/run/ctpf-phone-home.hdr -H 'Content-Type: application/json' --data-binary @- "$(cat /etc/ctpf/phone-home-url)"
rm -f /run/ctpf-phone-home.hdr /etc/ctpf/phone-home-token
