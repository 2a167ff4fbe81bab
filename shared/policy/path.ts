// Request paths are normalised once, before any authorization rule sees them, so that no spelling of a
// path reaches the app while a rule written for its plain form looks the other way.
//
// Choices (each one is about what the app behind the proxy will do with the same bytes):
// - Query and fragment never take part in matching (a fragment should never be sent at all; `/admin#x`
//   is `/admin` to every server: CVE-2021-39156).
// - Percent-encoded unreserved characters (ALPHA DIGIT - . _ ~) are decoded, so `/%61dmin` is `/admin`
//   and `/%2e%2e/` is a dot segment; other escapes are kept, with upper-case hex (RFC 3986 6.2.2.1).
// - `%2F`/`%5C` (encoded slash/backslash) and a raw backslash are refused: apps disagree on whether they
//   separate segments (CVE-2021-31920), so no rule can be written that is right for all of them. So is
//   `%00`, which C-based servers may read as the end of the path.
// - `//` runs are merged; `.` and `..` segments are resolved; a path that climbs above `/` is refused.
// - Matrix parameters (`;x=1`) are REMOVED from every segment for matching (istio/istio#27409). Istio
//   keeps them by default; but Tomcat, Spring and Jetty strip them before routing, so `/admin;x=1` *is*
//   `/admin` to those apps and a DENY on `/admin` must see it that way. Apps that keep them treat
//   `/admin;x=1` as a different resource, and a rule on `/admin` matching it costs nothing.
//   `..;` is `..` (as in Tomcat), so `/public/..;/admin` is `/admin`.
// - Paths stay case-sensitive: `/ADMIN` does not match a rule on `/admin`, as in Istio/Envoy. An app
//   that routes case-insensitively (ASP.NET, some Spring setups) must be protected with a rule for each
//   spelling or, better, by an ALLOW list, which fails closed where a DENY list fails open.
// - A trailing slash is kept: `/admin/` is not `/admin` (write `/admin` and `/admin/*` in a DENY).

export type NormalizedPath = { readonly ok: true; readonly path: string } | { readonly ok: false; readonly reason: string };

const UNRESERVED = /[A-Za-z0-9\-._~]/;
const HEX2 = /^[0-9A-Fa-f]{2}$/;
// Absolute-form request-target (RFC 9112 3.2.2), as sent to a forward proxy.
const ABSOLUTE_FORM = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/;

function refuse(reason: string): NormalizedPath {
  return { ok: false, reason };
}

/** Percent-decoding of unreserved characters; undefined reason means the text is fine. */
function decodeUnreserved(raw: string): { text: string } | { reason: string } {
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i] ?? '';
    if (c !== '%') {
      out += c;
      continue;
    }
    const hex = raw.slice(i + 1, i + 3);
    if (!HEX2.test(hex)) return { reason: `invalid percent-encoding at offset ${i}` };
    const upper = hex.toUpperCase();
    if (upper === '2F') return { reason: 'encoded slash (%2F) in the path' };
    if (upper === '5C') return { reason: 'encoded backslash (%5C) in the path' };
    if (upper === '00') return { reason: 'encoded NUL (%00) in the path' };
    const ch = String.fromCharCode(parseInt(hex, 16));
    out += UNRESERVED.test(ch) ? ch : `%${upper}`;
    i += 2;
  }
  return { text: out };
}

/**
 * The path as authorization rules see it, from the request-target as received. `*` (OPTIONS *) is
 * returned as is; an absolute-form target (`http://host/p`) is reduced to its path.
 */
export function normalizePath(raw: string): NormalizedPath {
  if (raw === '*') return { ok: true, path: '*' };
  let target = raw;
  const abs = ABSOLUTE_FORM.exec(target);
  if (abs) {
    target = target.slice(abs[0].length);
    if (target === '' || target.startsWith('?') || target.startsWith('#')) target = `/${target}`;
  }
  const cut = target.search(/[?#]/);
  const path = cut === -1 ? target : target.slice(0, cut);
  if (!path.startsWith('/')) return refuse('the path does not start with /');
  for (let i = 0; i < path.length; i++) {
    const code = path.charCodeAt(i);
    if (code <= 0x20 || code === 0x7f) return refuse('control character or space in the path');
    if (code === 0x5c) return refuse('backslash in the path');
  }
  const decoded = decodeUnreserved(path);
  if ('reason' in decoded) return refuse(decoded.reason);

  const rawSegments = decoded.text.split('/').slice(1);
  const out: string[] = [];
  let trailingSlash = false;
  for (const rawSeg of rawSegments) {
    const semi = rawSeg.indexOf(';');
    const seg = semi === -1 ? rawSeg : rawSeg.slice(0, semi);
    trailingSlash = false;
    if (seg === '' || seg === '.') {
      trailingSlash = true;
      continue;
    }
    if (seg === '..') {
      if (out.length === 0) return refuse('the path climbs above / with ..');
      out.pop();
      trailingSlash = true;
      continue;
    }
    out.push(seg);
  }
  if (out.length === 0) return { ok: true, path: '/' };
  return { ok: true, path: `/${out.join('/')}${trailingSlash ? '/' : ''}` };
}
