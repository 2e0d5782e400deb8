/**
 * Parsing `WWW-Authenticate` headers (RFC 9110 section 11.6.1): one header may hold several
 * challenges, each a scheme followed by `name=value` parameters (values quoted or not, quoted
 * ones with backslash escapes and commas inside) or one token68. Pure: no I/O.
 * @module
 */

/** One authentication challenge. */
export interface AuthChallenge {
  /** Scheme in lower case (`basic`, `bearer`). */
  scheme: string;
  /** Parameters with lower-case names (`realm`, `service`, `scope`, `error`). */
  params: Record<string, string>;
  /** The token68 form (`Negotiate abc==`), when the challenge has one instead of parameters. */
  token68?: string;
}

const TOKEN_CHAR = /[!#$%&'*+.^_`|~0-9A-Za-z-]/;
const TOKEN68_CHAR = /[A-Za-z0-9._~+/-]/;

/**
 * Parses a `WWW-Authenticate` header value (or several joined with commas) into challenges,
 * in order. Malformed trailing input is skipped rather than thrown: a registry's odd header
 * should not hide the challenges that parsed.
 */
export function parseWwwAuthenticate(header: string | string[] | undefined): AuthChallenge[] {
  if (header === undefined) return [];
  const text = Array.isArray(header) ? header.join(', ') : header;
  const challenges: AuthChallenge[] = [];
  let i = 0;
  const skipSpaces = () => {
    while (i < text.length && (text[i] === ' ' || text[i] === '\t')) i++;
  };
  const readToken = () => {
    const start = i;
    while (i < text.length && TOKEN_CHAR.test(text[i]!)) i++;
    return text.slice(start, i);
  };
  // Unquoted values should be tokens, but some servers send URLs bare: read up to a comma or space.
  const readBare = () => {
    const start = i;
    while (i < text.length && text[i] !== ',' && text[i] !== ' ' && text[i] !== '\t') i++;
    return text.slice(start, i);
  };
  const readQuoted = () => {
    // At the opening quote.
    i++;
    let out = '';
    while (i < text.length && text[i] !== '"') {
      if (text[i] === '\\' && i + 1 < text.length) i++;
      out += text[i];
      i++;
    }
    i++; // closing quote (or end of input)
    return out;
  };

  let current: AuthChallenge | undefined;
  while (i < text.length) {
    skipSpaces();
    if (text[i] === ',') {
      i++;
      continue;
    }
    const start = i;
    const token = readToken();
    if (token === '') {
      // Not a token character: skip it and carry on.
      i++;
      continue;
    }
    skipSpaces();
    if (current !== undefined && text[i] === '=' && text[i + 1] !== '=') {
      // A parameter of the current challenge.
      i++;
      skipSpaces();
      const value = text[i] === '"' ? readQuoted() : readBare();
      current.params[token.toLowerCase()] = value;
      continue;
    }
    // A new challenge: the token is its scheme.
    i = start + token.length;
    current = { scheme: token.toLowerCase(), params: {} };
    challenges.push(current);
    skipSpaces();
    // token68: characters then optional '=' padding, followed by end or a comma.
    const save = i;
    while (i < text.length && TOKEN68_CHAR.test(text[i]!)) i++;
    const body = text.slice(save, i);
    let pad = 0;
    while (text[i + pad] === '=') pad++;
    let after = i + pad;
    while (after < text.length && (text[after] === ' ' || text[after] === '\t')) after++;
    const endsHere = after >= text.length || text[after] === ',';
    if (body !== '' && endsHere && (pad > 0 || !TOKEN_CHAR.test(text[i] ?? ''))) {
      // `Scheme abc==` or `Scheme abc` then end/comma; but a bare `Scheme name` followed by a
      // comma is ambiguous only for a following challenge's scheme, which cannot start here.
      current.token68 = body + '='.repeat(pad);
      i = after;
      continue;
    }
    i = save;
  }
  return challenges;
}

/** The scopes a Bearer challenge names (`scope` may hold several, space-separated). */
export function challengeScopes(challenge: AuthChallenge): string[] {
  return (challenge.params['scope'] ?? '').split(' ').filter((s) => s !== '');
}
