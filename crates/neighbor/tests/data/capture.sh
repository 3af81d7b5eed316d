#!/usr/bin/env bash
# Captures real ARP requests and Neighbor Solicitations, and the Linux kernel's answers to them,
# into the .hex files beside this script (read by tests/captures.rs).
#
# Two network namespaces joined by a veth: the client (veth0, 02:00:00:00:00:01, 192.0.2.1,
# 2001:db8::1) asks; the server (veth1, 02:00:00:00:00:0a, 192.0.2.10, 2001:db8::10) owns the
# addresses and its kernel answers. A VLAN 100 runs over the same veth (198.51.100.1 and .10).
# tshark captures on the server's veth1, so tagged frames keep their 802.1Q tag. Needs root,
# iproute2, tshark, ndisc6, ping, and iputils-arping: Debian's `arping` package is another
# program, so give iputils' binary as ARPING if it is not the one installed, e.g.
#   apt-get download iputils-arping && dpkg-deb -x iputils-arping_*.deb /tmp/iputils
#   ARPING=/tmp/iputils/usr/bin/arping crates/neighbor/tests/data/capture.sh
# The namespaces are removed whatever happens.
set -euo pipefail
cd "$(dirname "$0")"
arping=${ARPING:-arping}
"$arping" -V 2>&1 | grep -q iputils || {
    echo "ARPING must be iputils' arping (got: $("$arping" -V 2>&1 | head -1))" >&2
    exit 1
}

client=ironlb-nb-client-$$
server=ironlb-nb-server-$$
work=$(mktemp -d)
capture_pid=
cleanup() {
    if [ -n "$capture_pid" ]; then kill "$capture_pid" 2>/dev/null || true; fi
    ip netns del "$client" 2>/dev/null || true
    ip netns del "$server" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

in_client() { ip netns exec "$client" "$@"; }
in_server() { ip netns exec "$server" "$@"; }

ip netns add "$client"
ip netns add "$server"
ip link add veth0 netns "$client" type veth peer name veth1 netns "$server"
in_client ip link set veth0 address 02:00:00:00:00:01
in_server ip link set veth1 address 02:00:00:00:00:0a
for ns in "$client" "$server"; do ip -n "$ns" link set lo up; done
in_client ip link set veth0 up
in_server ip link set veth1 up
in_client ip addr add 192.0.2.1/24 dev veth0
in_server ip addr add 192.0.2.10/24 dev veth1
# 802.1Q needs the kernel's 8021q support, which some kernels (containers, microVMs) lack.
vlan=yes
if in_client ip link add link veth0 name veth0.100 type vlan id 100 2>/dev/null \
    && in_server ip link add link veth1 name veth1.100 type vlan id 100; then
    in_client ip link set veth0.100 up
    in_server ip link set veth1.100 up
    in_client ip addr add 198.51.100.1/24 dev veth0.100
    in_server ip addr add 198.51.100.10/24 dev veth1.100
else
    vlan=no
    echo "no 802.1Q support in this kernel: the VLAN exchange is skipped" >&2
fi
in_client ip addr add 2001:db8::1/64 dev veth0 nodad
in_server ip addr add 2001:db8::10/64 dev veth1 nodad
# Let the link-local addresses finish Duplicate Address Detection.
for _ in $(seq 50); do
    if ! ip -n "$client" -6 addr show tentative | grep -q inet6 \
        && ! ip -n "$server" -6 addr show tentative | grep -q inet6; then break; fi
    sleep 0.1
done

# exchange NAME OWNS 'capture filter' 'what asks' command...: captures the command's request
# and the server kernel's answer into NAME.hex.
exchange() {
    local name=$1 owns=$2 filter=$3 what=$4
    shift 4
    in_client ip neigh flush all
    in_server ip neigh flush all
    in_server tshark -q -i veth1 -F pcap -w "$work/$name.pcap" -f "$filter" 2>"$work/$name.log" &
    capture_pid=$!
    for _ in $(seq 100); do grep -q "Capturing on" "$work/$name.log" && break; sleep 0.1; done
    sleep 0.5
    in_client "$@" >/dev/null 2>&1 || true
    sleep 1
    kill -TERM "$capture_pid"
    wait "$capture_pid" || true
    capture_pid=
    python3 - "$work/$name.pcap" "$name.hex" "$owns" "$what" "$filter" <<'PYTHON'
import struct, sys, platform, subprocess
pcap, out, owns, what, capture_filter = sys.argv[1:]
data = open(pcap, "rb").read()
assert struct.unpack("<I", data[:4])[0] == 0xA1B2C3D4, "classic pcap expected"
offset, frames = 24, []
while offset < len(data):
    _, _, captured, _ = struct.unpack("<IIII", data[offset:offset + 16])
    frames.append(data[offset + 16:offset + 16 + captured])
    offset += 16 + captured
client, server = bytes.fromhex("020000000001"), bytes.fromhex("02000000000a")
request = next(frame for frame in frames if frame[6:12] == client)
reply = next(frame for frame in frames if frame[6:12] == server)
tshark = subprocess.run(["tshark", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
with open(out, "w") as file:
    file.write(f"# made by capture.sh: {what} in the client namespace; the reply is the answer of the Linux kernel ({platform.release()}) in the server namespace, which owns the address on veth1 (02:00:00:00:00:0a)\n")
    file.write(f"# captured with {tshark} on veth1: tshark -i veth1 -F pcap -f '{capture_filter}'\n")
    file.write(f"# owns: {owns}\n")
    file.write(f"request: {request.hex()}\n")
    file.write(f"reply: {reply.hex()}\n")
print(f"{out}: request {len(request)} octets, reply {len(reply)} octets")
PYTHON
}

version=$("$arping" -V 2>&1 | head -1)
exchange iputils-arping-request 192.0.2.10 arp "$version: arping -c 1 -I veth0 192.0.2.10" \
    "$arping" -c 1 -I veth0 192.0.2.10
if [ "$vlan" = yes ]; then
    exchange iputils-arping-request-vlan 198.51.100.10 'vlan and arp' \
        "$version: arping -c 1 -I veth0.100 198.51.100.10 (802.1Q VLAN 100 over the veth)" \
        "$arping" -c 1 -I veth0.100 198.51.100.10
fi
exchange linux-arp-request 192.0.2.10 arp "the Linux kernel's ARP (ping -c 1 192.0.2.10)" \
    ping -c 1 -W 1 192.0.2.10
version=$(ndisc6 -V 2>&1 | head -1)
exchange ndisc6-solicitation 2001:db8::10 'icmp6 and (ip6[40] == 135 or ip6[40] == 136)' \
    "$version: ndisc6 -1 -r 1 2001:db8::10 veth0" \
    ndisc6 -1 -r 1 2001:db8::10 veth0
exchange linux-solicitation 2001:db8::10 'icmp6 and (ip6[40] == 135 or ip6[40] == 136)' \
    "the Linux kernel's Neighbor Discovery (ping -6 -c 1 2001:db8::10)" \
    ping -6 -c 1 -W 1 2001:db8::10
exchange linux-duplicate-address-detection 2001:db8::10 \
    'icmp6 and (ip6[40] == 135 or ip6[40] == 136)' \
    "the Linux kernel's Duplicate Address Detection (ip addr add 2001:db8::10/64 dev veth0)" \
    sh -c 'ip addr add 2001:db8::10/64 dev veth0 && sleep 2'
