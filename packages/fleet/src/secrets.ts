// A bundle is readable by every instance and every store reader: it must not carry credentials.
// Hand-written: a short list of the usual shapes; a full scanner (gitleaks) is a separate tool.

const SHAPES: [string, RegExp][] = [
  // password = x, secret: x, api_key = "x" (a template expression or an env reference is not a value)
  ['a password or secret assignment', /\b(pass(word|wd)?|pwd|secret|api[_-]?key|access[_-]?key|auth[_-]?token|token)\b["']?\s*[=:]\s*(?!["']?\s*(\{\{|\$))["']?[^\s"'{$][^\s"']{2,}/i],
  ['an HAProxy userlist password', /^\s*user\s+\S+\s+(insecure-)?password\s+(?!\{\{)\S/],
  ['an HAProxy stats auth', /\bstats\s+auth\s+(?!\{\{)[^\s:]+:(?!\{\{)\S+/],
  ['a private key', /-----BEGIN [A-Z ]*PRIVATE KEY-----/],
  ['an AWS access key id', /\bAKIA[0-9A-Z]{16}\b/],
  ['a GitHub token', /\bgh[pousr]_[A-Za-z0-9]{36,}\b/],
  ['a Slack token', /\bxox[abprs]-[A-Za-z0-9-]{10,}/],
  ['a Vault token', /\bhvs\.[A-Za-z0-9_-]{20,}/],
  ['a JSON web token', /\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/],
  ['a URL with a password', /\b[a-z][a-z0-9+.-]*:\/\/[^\s/:@]+:[^\s/@{]+@/i],
];

export interface SecretFinding {
  file: string;
  line: number;
  what: string;
}

/** Every line of the files that looks like it holds a credential. */
export function findSecrets(files: Record<string, string>): SecretFinding[] {
  const found: SecretFinding[] = [];
  for (const [file, content] of Object.entries(files)) {
    content.split('\n').forEach((text, i) => {
      const hit = SHAPES.find(([, re]) => re.test(text));
      if (hit) found.push({ file, line: i + 1, what: hit[0] });
    });
  }
  return found;
}
