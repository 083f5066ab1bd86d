import ipaddr from "ipaddr.js";

/**
 * Whether a URL or host the system will send requests to is on the public internet (SSRF guard).
 * The WHATWG URL parser already turns every IPv4 spelling (2130706433, 0x7f000001, 0177.0.0.1, 127.1,
 * percent-encoded or full-width digits) into a dotted quad and compresses IPv6, so the checks below see
 * one form; ipaddr.js classifies the address. DNS names that resolve to internal addresses cannot be
 * caught here (Workers cannot resolve names): deliveries re-check the URL and never follow redirects.
 */

export const ADDRESS_RULES = ["loopback", "private", "link-local", "unspecified", "metadata", "localhost", "internal-name", "reserved", "multicast", "scheme", "invalid"] as const;
export type AddressRule = (typeof ADDRESS_RULES)[number];

export type AddressVerdict = { ok: true } | { ok: false; rule: AddressRule; detail: string };

const OK: AddressVerdict = { ok: true };
const refuse = (rule: AddressRule, detail: string): AddressVerdict => ({ ok: false, rule, detail });

/** Cloud instance-metadata endpoints (AWS, AWS IPv6, ECS task metadata, Alibaba, Oracle) and their names. */
const METADATA_ADDRESSES = ["169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200", "192.0.0.192"].map((a) => ipaddr.parse(a).toNormalizedString());
const METADATA_NAMES = new Set(["metadata.google.internal", "metadata", "instance-data", "instance-data.ec2.internal", "metadata.azure.internal"]);
/** Suffixes that only resolve inside a private network (RFC 6761/6762/8375 and cloud-internal zones). */
const INTERNAL_SUFFIXES = [".internal", ".local", ".lan", ".intranet", ".corp", ".home.arpa", ".localdomain"];

const V4_RULES: Partial<Record<string, AddressRule>> = {
  loopback: "loopback",
  private: "private",
  carrierGradeNat: "private",
  linkLocal: "link-local",
  unspecified: "unspecified",
  multicast: "multicast",
  broadcast: "multicast",
};
const V6_RULES: Partial<Record<string, AddressRule>> = {
  loopback: "loopback",
  uniqueLocal: "private",
  deprecatedSiteLocal: "private",
  linkLocal: "link-local",
  unspecified: "unspecified",
  multicast: "multicast",
};

function checkIp(ip: ipaddr.IPv4 | ipaddr.IPv6, spelled: string): AddressVerdict {
  if (METADATA_ADDRESSES.includes(ip.toNormalizedString())) return refuse("metadata", `${spelled} is a cloud metadata address.`);
  if (ip.kind() === "ipv4") {
    const range = ip.range();
    if (range === "unicast") return OK;
    return refuse(V4_RULES[range] ?? "reserved", `${spelled} is in the ${range} IPv4 range.`);
  }
  const v6 = ip as ipaddr.IPv6;
  const embedded = embeddedIpv4(v6);
  if (embedded) {
    const inner = checkIp(embedded, `${spelled} (IPv4 ${embedded.toString()} inside IPv6)`);
    // A transition address is allowed only for NAT64's well-known prefix towards a public IPv4 address.
    if (!inner.ok || v6.range() === "rfc6052") return inner;
    return refuse("reserved", `${spelled} wraps IPv4 ${embedded.toString()} in an IPv6 transition form; use the IPv4 address.`);
  }
  const range = v6.range();
  if (range === "unicast") return OK;
  return refuse(V6_RULES[range] ?? "reserved", `${spelled} is in the ${range} IPv6 range.`);
}

/** The IPv4 address inside IPv4-mapped (::ffff:a.b.c.d), SIIT (::ffff:0:a.b.c.d), compatible (::a.b.c.d), NAT64 (64:ff9b::/96) or 6to4 forms. */
function embeddedIpv4(ip: ipaddr.IPv6): ipaddr.IPv4 | undefined {
  const p = ip.parts;
  const low = (hi: number, lo: number) => new ipaddr.IPv4([hi >> 8, hi & 0xff, lo >> 8, lo & 0xff]);
  const zeros = (from: number, to: number) => p.slice(from, to).every((x) => x === 0);
  if (zeros(0, 5) && p[5] === 0xffff) return low(p[6]!, p[7]!);
  if (zeros(0, 4) && p[4] === 0xffff && p[5] === 0) return low(p[6]!, p[7]!);
  if (zeros(0, 6) && (p[6] !== 0 || p[7]! > 1)) return low(p[6]!, p[7]!);
  if (p[0] === 0x64 && p[1] === 0xff9b && zeros(2, 6)) return low(p[6]!, p[7]!);
  if (p[0] === 0x2002) return low(p[1]!, p[2]!);
  return undefined;
}

/** A host as URL.hostname gives it: a dotted quad, a bracketed IPv6 address, or a name. */
export function checkHostname(hostname: string): AddressVerdict {
  const host = hostname.toLowerCase();
  if (host.startsWith("[") && host.endsWith("]")) {
    const inner = host.slice(1, -1);
    return ipaddr.IPv6.isValid(inner) ? checkIp(ipaddr.IPv6.parse(inner), host) : refuse("invalid", `${host} is not an IPv6 address.`);
  }
  if (ipaddr.IPv4.isValidFourPartDecimal(host)) return checkIp(ipaddr.IPv4.parse(host), host);
  const name = host.replace(/\.+$/, "");
  if (name === "") return refuse("invalid", "The host is empty.");
  if (name === "localhost" || name.endsWith(".localhost") || name === "localhost.localdomain") return refuse("localhost", `${hostname} names this machine.`);
  if (METADATA_NAMES.has(name)) return refuse("metadata", `${hostname} is a cloud metadata host.`);
  if (!name.includes(".")) return refuse("internal-name", `${hostname} is a single-label name, which resolves only inside a private network.`);
  if (INTERNAL_SUFFIXES.some((s) => name.endsWith(s))) return refuse("internal-name", `${hostname} is in a private-network zone.`);
  return OK;
}

/** An http(s) URL whose host is public. */
export function checkPublicUrl(raw: string): AddressVerdict {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return refuse("invalid", "The URL does not parse.");
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return refuse("scheme", `Only http and https URLs are allowed, not ${url.protocol}`);
  return checkHostname(url.hostname);
}

/**
 * An agent's permissions.network entry: `host`, `host:port` or `*.suffix`. The host goes through the URL
 * parser first, so 2130706433 or 127.1 are judged as the address a fetch would reach.
 */
export function checkHostPattern(pattern: string): AddressVerdict {
  const wildcard = pattern.startsWith("*.");
  const rest = wildcard ? pattern.slice(2) : pattern;
  let hostname: string;
  try {
    hostname = new URL(`http://${rest}/`).hostname;
  } catch {
    return refuse("invalid", `${pattern} is not a host.`);
  }
  if (wildcard) {
    // "*.0.1" would match the host 127.0.0.1: a wildcard must end in a name, never in numbers.
    if (ipaddr.IPv4.isValidFourPartDecimal(hostname) || /^(0x[0-9a-f]*|\d+)$/i.test(hostname.split(".").at(-1) ?? "")) {
      return refuse("invalid", `${pattern}: a wildcard must cover a domain name, not addresses.`);
    }
    return checkHostname(`x.${hostname}`);
  }
  return checkHostname(hostname);
}
