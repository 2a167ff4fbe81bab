// Kubernetes name rules (apimachinery validation), which Istio YAML already follows.

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

/** Namespaces: a DNS-1123 label (lower case, digits, `-`; at most 63 characters). */
export function isDns1123Label(s: string): boolean {
  return s.length <= 63 && DNS1123_LABEL.test(s);
}

/** Object names: a DNS-1123 subdomain (dot-separated labels, at most 253 characters). */
export function isDns1123Subdomain(s: string): boolean {
  return s.length <= 253 && s.split('.').every(isDns1123Label);
}

/** A label or annotation key: `[prefix/]name`; the reason it is not, or undefined. */
export function qualifiedNameProblem(key: string): string | undefined {
  const slash = key.indexOf('/');
  const prefix = slash === -1 ? undefined : key.slice(0, slash);
  const name = slash === -1 ? key : key.slice(slash + 1);
  if (prefix !== undefined && !isDns1123Subdomain(prefix)) return `key prefix ${JSON.stringify(prefix)} is not a DNS-1123 subdomain`;
  if (name.length === 0 || name.length > 63 || !LABEL_NAME.test(name)) {
    return `key ${JSON.stringify(key)} is not a label key (alphanumerics, - _ . inside, at most 63 characters, optional DNS prefix/)`;
  }
  return undefined;
}

/** A label value (may be empty); the reason it is not, or undefined. */
export function labelValueProblem(value: string): string | undefined {
  if (value === '') return undefined;
  if (value.length > 63 || !LABEL_NAME.test(value)) {
    return `${JSON.stringify(value)} is not a label value (alphanumerics, - _ . inside, at most 63 characters; no wildcards)`;
  }
  return undefined;
}
